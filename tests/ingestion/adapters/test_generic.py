"""The generic mapped adapter: mapping validation, templates, and the contract suite driving the
real django-helpdesk and the real Request Tracker through the shipped mappings."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.helpdesk import HelpdeskServer
from ingestion.adapters import HelpdeskAdapter, build_adapter
from ingestion.adapters.generic import MISSING, GenericAdapter, lookup, render
from ingestion.adapters.mappings import MappingInvalid, load_mapping, shipped_mapping
from ingestion.errors import TicketingRejected
from ingestion.settings import IngestionSettings
from ingestion.ticketing import TicketingAdapter
from tests.ingestion.adapters.contract import AdapterContract, new_ticket
from tests.ingestion.adapters.test_rt import RTSemantics, force_same_updated_at
from tests.support.loopback import free_port
from tests.support.rt_server import RTServer

HELPDESK_MAPPING = shipped_mapping("django-helpdesk")
RT_MAPPING = shipped_mapping("request-tracker")


def helpdesk_generic(server: HelpdeskServer) -> GenericAdapter:
    return GenericAdapter(
        load_mapping(HELPDESK_MAPPING),
        server.url,
        secret=server.token,
        variables={"queue": server.queue_id},
    )


@pytest.mark.helpdesk
class TestGenericOnHelpdesk(AdapterContract):
    @pytest.fixture
    def adapter(self, helpdesk: HelpdeskServer) -> Iterator[GenericAdapter]:
        adapter = helpdesk_generic(helpdesk)
        yield adapter
        adapter.close()

    @pytest.fixture
    def unreachable_adapter(self) -> Iterator[GenericAdapter]:
        mapping = load_mapping(HELPDESK_MAPPING)
        adapter = GenericAdapter(mapping, f"http://127.0.0.1:{free_port()}", timeout=2)
        yield adapter
        adapter.close()

    @pytest.fixture(autouse=True)
    def _server(self, helpdesk: HelpdeskServer) -> None:
        self.server = helpdesk

    def force_same_updated_at(self, adapter: TicketingAdapter, ticket_ids: list[str]) -> None:
        # updated_at is the newest follow-up date, which only the helpdesk's database can set.
        stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        with sqlite3.connect(self.server.data_dir / "helpdesk.sqlite3", timeout=30) as conn:
            marks = ",".join("?" * len(ticket_ids))
            conn.execute(
                f"UPDATE helpdesk_followup SET date = ? WHERE ticket_id IN ({marks})",
                [stamp, *map(int, ticket_ids)],
            )
        conn.close()


# The whole suite a second time against RT costs about a minute; the default run keeps the
# generic-on-RT end-to-end test (test_rt_sync.py) and the helpdesk and custom-system suites.
@pytest.mark.rt
@pytest.mark.slow
class TestGenericOnRT(RTSemantics, AdapterContract):
    # The mapping cannot read the status history, so a reopened ticket reads as open.
    reopened_reads_as = "open"

    @pytest.fixture
    def adapter(self, rt: RTServer) -> Iterator[GenericAdapter]:
        adapter = GenericAdapter(load_mapping(RT_MAPPING), rt.url, secret=rt.token)
        yield adapter
        adapter.close()

    @pytest.fixture
    def unreachable_adapter(self) -> Iterator[GenericAdapter]:
        mapping = load_mapping(RT_MAPPING)
        adapter = GenericAdapter(mapping, f"http://127.0.0.1:{free_port()}", timeout=2)
        yield adapter
        adapter.close()

    @pytest.fixture(autouse=True)
    def _server(self, rt: RTServer) -> None:
        self.server = rt

    def force_same_updated_at(self, adapter: TicketingAdapter, ticket_ids: list[str]) -> None:
        force_same_updated_at(self.server, ticket_ids)


@pytest.mark.rt
def test_a_status_rt_refuses_is_rejected_through_the_mapping(rt: RTServer, tmp_path: Path) -> None:
    text = RT_MAPPING.read_text().replace("    closed: rejected\n", "    closed: bogus\n")
    adapter = GenericAdapter(load_mapping(write(tmp_path, text)), rt.url, secret=rt.token)
    created = adapter.create_ticket(new_ticket())
    with pytest.raises(TicketingRejected, match="kept 'new' instead of 'bogus'"):
        adapter.set_status(created.id, "closed")
    adapter.close()


@pytest.mark.helpdesk
def test_the_opening_follow_up_stays_internal(helpdesk: HelpdeskServer) -> None:
    adapter = helpdesk_generic(helpdesk)
    created = adapter.create_ticket(new_ticket())
    (opening,) = created.comments
    assert (opening.visibility, opening.author_role) == ("internal", "bot")
    adapter.close()


@pytest.mark.helpdesk
def test_the_generic_and_dedicated_adapters_share_tickets(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    generic = helpdesk_generic(helpdesk)
    by_generic = generic.create_ticket(new_ticket())
    found = helpdesk_adapter.find_by_conversation(by_generic.external_conversation_id or "")
    assert found is not None
    assert found.id == by_generic.id
    by_dedicated = helpdesk_adapter.create_ticket(new_ticket())
    seen = generic.find_by_conversation(by_dedicated.external_conversation_id or "")
    assert seen is not None
    assert (seen.id, seen.status) == (by_dedicated.id, "open")
    generic.close()


@pytest.mark.helpdesk
def test_build_adapter_loads_the_mapping(helpdesk: HelpdeskServer) -> None:
    settings = IngestionSettings(
        ticketing="generic",
        generic_mapping=HELPDESK_MAPPING,
        generic_url=helpdesk.url,
        generic_token=helpdesk.token,  # type: ignore[arg-type]
        generic_variables={"queue": str(helpdesk.queue_id)},
    )
    adapter = build_adapter(settings)
    assert isinstance(adapter, GenericAdapter)
    created = adapter.create_ticket(new_ticket())
    assert adapter.get_ticket(created.id).title == created.title
    adapter.close()


# -- mapping files -------------------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_mappings_are_valid() -> None:
    assert load_mapping(HELPDESK_MAPPING).source == "helpdesk"
    assert load_mapping(RT_MAPPING).source == "rt"
    with pytest.raises(MappingInvalid, match="no shipped mapping"):
        shipped_mapping("zendesk")


def test_an_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    text = HELPDESK_MAPPING.read_text().replace("  next: next\n", "  nxt: next\n")
    path = write(tmp_path, text)
    with pytest.raises(MappingInvalid) as caught:
        load_mapping(path)
    assert str(path) in str(caught.value)
    assert "list.nxt: Extra inputs are not permitted" in str(caught.value)


def test_an_unknown_canonical_status_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HELPDESK_MAPPING.read_text().replace('"5": duplicate', '"5": dupe'))
    with pytest.raises(MappingInvalid, match=r"statuses\.5: Input should be 'open'"):
        load_mapping(path)


def test_a_conversation_pattern_needs_one_group(tmp_path: Path) -> None:
    text = HELPDESK_MAPPING.read_text().replace(
        'pattern: "^caseloop-conversation: (\\\\S+)$"', 'pattern: "caseloop"'
    )
    with pytest.raises(MappingInvalid, match=r"ticket\.conversation\.pattern: .*exactly one group"):
        load_mapping(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a list", r"\(top level\): a mapping of keys is required"),
        ("name: x\nsource: Bad Source\n", "source: String should match pattern"),
        ("name: x\n", "ticket: Field required"),
    ],
)
def test_broken_files_say_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(MappingInvalid, match=problem):
        load_mapping(write(tmp_path, text))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingInvalid, match=r"nowhere\.yaml: cannot read"):
        load_mapping(tmp_path / "nowhere.yaml")


# -- templates and paths -------------------------------------------------------------------------
def test_exact_placeholders_keep_types_and_missing_values_drop_keys() -> None:
    template = {
        "ticket": "{id:int}",
        "public": True,
        "email": "{customer_email}",
        "text": "#{id}: {body}",
        "tags": ["{tenant}", "{customer_email}"],
    }
    values = {"id": "42", "body": "a {brace} stays", "customer_email": None, "tenant": "acme"}
    assert render(template, values) == {
        "ticket": 42,
        "public": True,
        "text": "#42: a {brace} stays",
        "tags": ["acme"],
    }


def test_an_unknown_placeholder_is_rejected() -> None:
    with pytest.raises(TicketingRejected, match="nope"):
        render("x {nope}", {})


def test_lookup_walks_objects_and_lists() -> None:
    data = {"items": [{"Creator": {"id": "root"}, "name": "a"}, {"name": "b", "values": [7]}]}
    assert lookup(data, "items.0.Creator.id") == "root"
    assert lookup(data, "items.name=b.values.0") == 7
    assert lookup(data, "items.name=c.values") is MISSING
    assert lookup(data, "items.1.Creator.id") is MISSING
    assert lookup(data, "items.x") is MISSING
