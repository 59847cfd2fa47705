"""Summarisers: the offline extractive default and the LLM one against a loopback OpenAI stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ingestion.cases import ExtractiveSummariser, LlmSummariser, SummariserFailed, build_summariser
from ingestion.cases.text import sentences
from ingestion.settings import IngestionSettings
from tests.support.loopback import serve

PROBLEM = "I cannot log in. The reset e-mail never arrives at [EMAIL]."
RESOLUTION = (
    "Hi [NAME], thanks for your patience. Our mail to your domain was blocked by a spam filter. "
    "Add noreply to your safe senders, then request a new reset link from the login page. "
    "The link stays valid for 24 hours. Kind regards, Sam"
)


def test_extractive_is_deterministic_within_budget_and_drops_filler() -> None:
    summariser = ExtractiveSummariser(words=30)
    summary = summariser.summarise(PROBLEM, RESOLUTION)
    assert summary == summariser.summarise(PROBLEM, RESOLUTION)
    assert len(summary.replace("…", "").split()) <= 30 + 2  # the two labels
    assert summary.startswith("Problem: I cannot log in.")
    assert "request a new reset link" in summary  # the sentence that shares the problem's words
    assert "thanks for your patience" not in summary
    assert "Kind regards" not in summary


class OpenAIStandIn:
    """A real HTTP endpoint speaking the OpenAI chat-completions format on loopback."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = False
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)

    async def _complete(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        self.requests.append({"body": body, "auth": request.headers.get("authorization")})
        if self.fail:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=500)
        text = "Mail was blocked by a spam filter: allow noreply and request a new reset link."
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        )


@pytest.fixture
def endpoint() -> Iterator[tuple[OpenAIStandIn, str]]:
    stand_in = OpenAIStandIn()
    with serve(stand_in.app) as url:
        yield stand_in, f"{url}/v1"


def _settings(url: str) -> IngestionSettings:
    return IngestionSettings(
        learning_summariser="llm",
        learning_llm_url=url,
        learning_llm_model="support-summary-1",
        learning_llm_api_key="sk-test",  # type: ignore[arg-type]
        learning_llm_timeout=5.0,
    )


def test_llm_summariser_through_llama_index(endpoint: tuple[OpenAIStandIn, str]) -> None:
    stand_in, url = endpoint
    summariser = build_summariser(_settings(url))
    assert isinstance(summariser, LlmSummariser)
    assert summariser.name == "llm-support-summary-1-80"
    summary = summariser.summarise(PROBLEM, RESOLUTION)
    assert summary.startswith("Mail was blocked by a spam filter")
    (call,) = stand_in.requests
    assert call["auth"] == "Bearer sk-test"
    assert call["body"]["model"] == "support-summary-1"
    roles = [m["role"] for m in call["body"]["messages"]]
    assert roles == ["system", "user"]
    assert "[EMAIL]" in call["body"]["messages"][1]["content"]


def test_llm_failure_is_a_summariser_error(endpoint: tuple[OpenAIStandIn, str]) -> None:
    stand_in, url = endpoint
    stand_in.fail = True
    with pytest.raises(SummariserFailed, match="LLM summariser call failed"):
        build_summariser(_settings(url)).summarise(PROBLEM, RESOLUTION)


def test_misconfiguration_names_the_setting() -> None:
    with pytest.raises(SummariserFailed, match="learning_llm_url"):
        build_summariser(IngestionSettings(learning_summariser="llm"))
    with pytest.raises(SummariserFailed, match="learning_summariser: unknown"):
        build_summariser(IngestionSettings(learning_summariser="magic"))


# Issue 12: summaries that keep the problem.
def test_a_greeting_is_removed_from_the_opening_sentence_not_the_sentence() -> None:
    summary = ExtractiveSummariser().summarise(
        "Hi, I was charged twice for my order. My name is [NAME], email [EMAIL].",
        "We refunded the second charge.",
    )
    assert summary.startswith("Problem: I was charged twice for my order.")
    assert "My name is" not in summary


@pytest.mark.parametrize("greeting", ["Bonjour", "Hola [NAME]", "Guten Tag", "G'day", "Dear team"])
def test_greetings_in_any_language_open_no_problem(greeting: str) -> None:
    summary = ExtractiveSummariser().summarise(
        f"{greeting}, my parcel never arrived.", "We reshipped the parcel."
    )
    assert summary == "Problem: My parcel never arrived. Resolution: We reshipped the parcel."


def test_abbreviations_decimals_and_urls_do_not_end_sentences() -> None:
    text = (
        "We moved your appointment with Dr. [NAME] to Monday. The fee of 19.99 EUR is "
        "refunded, see https://shop.example/help/refunds.html. E.g. the app shows it."
    )
    assert sentences(text) == [
        "We moved your appointment with Dr. [NAME] to Monday.",
        "The fee of 19.99 EUR is refunded, see https://shop.example/help/refunds.html.",
        "E.g. the app shows it.",
    ]
    summary = ExtractiveSummariser().summarise("I need to move my appointment.", text)
    assert "Dr. Resolution" not in summary
    assert "Dr. [NAME] to Monday" in summary
