"""Text with Django template delimiters survives django-helpdesk exactly (a real helpdesk).

django-helpdesk 2.6 renders every follow-up comment as a Django template: ``{{ x }}`` is
substituted, ``{# x #}`` dropped and an unpaired ``{%`` or ``%}`` answers HTTP 500. Titles and
descriptions are stored as sent. These tests pin both facts and the adapter's escaping.
"""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from flows.helpdesk import HelpdeskServer
from ingestion.adapters.helpdesk import OPENING_NOTE, HelpdeskAdapter, template_literal
from tests.ingestion.adapters.contract import new_ticket

pytestmark = pytest.mark.helpdesk

#: One text per delimiter, each as an agent, a bot or a customer could write it, plus mixes that
#: would break a naive escaping (unpaired tags, our own escape form, lines split inside a pair).
TEXTS = [
    "customer: my invoice shows {{ customer.name }} instead of my name",
    "agent: the template says }} where it should close",
    "bot: try {% if refund %} in the rule editor",
    "customer: the page only shows %} and nothing else",
    "customer: what is {# this #}?",
    "agent: an unpaired {# comment and an unpaired #} close",
    'tricky: {{{ %}} {%% }}} #}} {{ "{" }} {% verbatim %}{{ x }}{% endverbatim %}',
    "split: {{\n}} {%\n%} {#\n#}",
    "{{ ticket.title }}",
]


def _raw(helpdesk: HelpdeskServer, path: str) -> dict:  # type: ignore[type-arg]
    headers = {"Authorization": f"Token {helpdesk.token}"}
    response = httpx.get(f"{helpdesk.api_url}{path}", headers=headers)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("text", TEXTS)
def test_a_comment_with_template_delimiters_round_trips(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter, text: str
) -> None:
    ticket = helpdesk_adapter.create_ticket(new_ticket())
    added = helpdesk_adapter.add_comment(ticket.id, text, public=False)
    assert added.body == text
    assert [c.body for c in helpdesk_adapter.get_ticket(ticket.id).comments][1:] == [text]
    assert _raw(helpdesk, f"followups/{added.id}/")["comment"] == text


def test_the_helpdesk_itself_renders_comments_as_templates(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    # Why the escaping exists: the same texts sent raw are altered or refused.
    ticket = helpdesk_adapter.create_ticket(new_ticket())
    headers = {"Authorization": f"Token {helpdesk.token}"}
    sent = {"a {{ b }} c": 201, "a {# b #} c": 201, "a {% c": 500, "a %} c": 500}
    for text, status in sent.items():
        data = {"ticket": int(ticket.id), "comment": text, "public": False}
        response = httpx.post(f"{helpdesk.api_url}followups/", json=data, headers=headers)
        assert response.status_code == status
        if status == 201:
            assert response.json()["comment"] == "a  c"


def test_title_description_transcript_and_payload_round_trip(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    transcript = "\n".join(f"customer: {text}" for text in TEXTS)
    body = f"Reason: no_evidence {{% now %}}\n\nTranscript:\n{transcript}"
    payload = {"transcript": TEXTS, "note": "{{ x }} {% y %} {# z #} }} %} #}"}
    wanted = new_ticket(title="Refund {{ amount }} {% x %} {# y #}", body=body, payload=payload)
    created = helpdesk_adapter.create_ticket(wanted)
    raw = _raw(helpdesk, f"tickets/{created.id}/")
    assert raw["title"] == created.title == wanted.title
    assert raw["description"].startswith(body + "\n\n---\n")
    block = re.search(r"```caseloop-escalation\n(.*)\n```", raw["description"])
    assert block is not None
    assert json.loads(block.group(1)) == payload
    opening = helpdesk_adapter.get_ticket(created.id).comments[0]
    assert opening.body == OPENING_NOTE
    assert helpdesk_adapter.find_by_conversation(wanted.external_conversation_id) is not None


def test_a_public_comment_with_braces_stays_public(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    ticket = helpdesk_adapter.create_ticket(new_ticket())
    added = helpdesk_adapter.add_comment(ticket.id, TEXTS[0], public=True)
    assert (added.visibility, added.body) == ("public", TEXTS[0])
    public = [
        c for c in helpdesk_adapter.get_ticket(ticket.id).comments if c.visibility == "public"
    ]
    assert [(c.id, c.body) for c in public] == [(added.id, TEXTS[0])]
    assert _raw(helpdesk, f"followups/{added.id}/")["public"] is True


def test_the_staff_ui_shows_the_literal_text(
    helpdesk_adapter: HelpdeskAdapter, staff_web: httpx.Client
) -> None:
    ticket = helpdesk_adapter.create_ticket(new_ticket())
    lines = [text for text in TEXTS if "\n" not in text and '"' not in text]
    for text in lines:
        helpdesk_adapter.add_comment(ticket.id, text, public=False)
    page = staff_web.get(f"/helpdesk/tickets/{ticket.id}/")
    assert page.status_code == 200
    for text in lines:
        assert html.escape(text, quote=False) in page.text


def test_text_without_delimiters_is_sent_unchanged() -> None:
    for text in ('{"a": {"b": 1} }', "{ single } braces", "100% sure {x}"):
        assert template_literal(text) == text
    assert template_literal("{{ x }}") == '{{ "{" }}{{ "{" }} x {{ "}" }}{{ "}" }}'
