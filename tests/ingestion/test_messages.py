"""The messages read model behind the pull endpoint: in order, after a seq or a message id."""

from __future__ import annotations

import httpx

from ingestion.applier import message_id
from ingestion.http import create_app
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.fake_ticketing import seed_replies
from tests.support.keys import bearer
from tests.support.loopback import serve


def test_pull_endpoint(store: Store) -> None:
    seed_replies(store, IngestionSettings(), {"s1": 3, "s2": 1})
    app = create_app(IngestionSettings(messages_page_limit=2), store)
    with (
        serve(app) as url,
        httpx.Client(base_url=url, headers=bearer(store, tenant="acme")) as client,
    ):
        first = client.get(f"{url}/sessions/s1/messages").json()
        assert [m["body"] for m in first["messages"]] == ["s1 reply 1", "s1 reply 2"]
        assert first["next_after"] == 2
        rest = client.get(f"{url}/sessions/s1/messages", params={"after": 2}).json()
        assert [m["seq"] for m in rest["messages"]] == [3]
        by_id = client.get(
            f"{url}/sessions/s1/messages", params={"after": first["messages"][0]["id"]}
        )
        assert [m["seq"] for m in by_id.json()["messages"]] == [2, 3]
        assert by_id.json()["messages"][0]["id"] == message_id("fake", "1", "2")
        done = client.get(f"{url}/sessions/s1/messages", params={"after": 3}).json()
        assert done == {"session_id": "s1", "messages": [], "next_after": 3}
        foreign = client.get(
            f"{url}/sessions/s2/messages", params={"after": first["messages"][0]["id"]}
        )
        assert foreign.status_code == 404
        assert foreign.json()["detail"][0]["loc"] == ["query", "after"]
        bad = client.get(f"{url}/sessions/s1/messages", params={"after": "drop table"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["query", "after"]
        assert client.get(f"{url}/sessions/s1/messages", params={"limit": 0}).status_code == 422
