"""Resolution summaries: one interface, an offline extractive default and an LLM through llama-index.

Summarisers only ever see redacted text. Each has a ``name`` that goes into a case's content
hash, so switching summariser re-summarises every case once and re-runs stay write-free.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from ingestion.cases.errors import SummariserFailed
from ingestion.cases.text import content_words, sentences
from ingestion.settings import IngestionSettings

# Sentences that carry no resolution: greetings, sign-offs, courtesy.
_FILLER = re.compile(
    r"^(hi|hello|hey|dear|thanks|thank you|many thanks|best|kind regards|regards|cheers|"
    r"sincerely|have a (great|nice|good)|let us know|please let|feel free|i hope|hope this)\b",
    re.IGNORECASE,
)


# A greeting that opens a sentence, with whom it greets: removed, the rest of the sentence kept
# ("Hi, I was charged twice" → "I was charged twice").
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings|bonjour|bonsoir|salut|"
    r"hola|buenos días|buenas|hallo|guten (?:tag|morgen|abend)|moin|servus|g'day|ciao|"
    r"buongiorno|salve|hoi)\b(?:\s+(?:\[NAME\]|there|team|all|everyone|support|"
    r"[A-Z][\w'-]*))?\s*[,!.:;-]*\s*",
    re.IGNORECASE,
)
# Sentences that only introduce the writer: never the problem.
_INTRODUCTION = re.compile(
    r"^(?:my name is|this is|i am|i'm|je m'appelle|ich bin|me llamo)\s+\[NAME\]", re.IGNORECASE
)


def without_greeting(sentence: str) -> str:
    """``sentence`` without an opening greeting (empty when it was only a greeting)."""
    rest = _GREETING.sub("", sentence, count=1).strip()
    if rest == sentence.strip():
        return rest
    return rest[:1].upper() + rest[1:] if rest else ""


def _content_sentences(text: str) -> list[str]:
    """Sentences with greetings removed, filler and self-introductions dropped."""
    kept = []
    for sentence in sentences(text):
        rest = without_greeting(sentence)
        if rest and not _FILLER.match(rest) and not _INTRODUCTION.match(rest):
            kept.append(rest)
    return kept


class Summariser(Protocol):
    """Turns a redacted problem and resolution into a short resolution summary."""

    @property
    def name(self) -> str:
        """Identifies the summariser and its configuration (part of the content hash)."""
        ...

    def summarise(self, problem: str, resolution: str) -> str:
        """A summary within the configured word budget."""
        ...


@dataclass(frozen=True, slots=True)
class ExtractiveSummariser:
    """Deterministic and offline: the problem's opening and the resolution's key sentences.

    Resolution sentences are scored by how many of their content words recur in the resolution
    or appear in the problem (the agent's answer to *this* problem), filler is dropped, and the
    best sentences are kept in their original order until the word budget is spent.
    """

    words: int = 80

    @property
    def name(self) -> str:
        return f"extractive-v2-{self.words}"

    def summarise(self, problem: str, resolution: str) -> str:
        problem_part = _clip(_first_sentence(problem), max(8, self.words // 3))
        budget = self.words - len(problem_part.split())
        return (
            f"Problem: {problem_part} Resolution: {self._resolution(problem, resolution, budget)}"
        )

    def _resolution(self, problem: str, resolution: str, budget: int) -> str:
        candidates = _content_sentences(resolution)
        if not candidates:
            candidates = sentences(resolution) or [resolution.strip()]
        frequency = Counter(content_words(resolution))
        in_problem = set(content_words(problem))
        scored = sorted(
            range(len(candidates)),
            key=lambda i: (-_score(candidates[i], frequency, in_problem), i),
        )
        chosen: list[int] = []
        used = 0
        for i in scored:
            length = len(candidates[i].split())
            if chosen and used + length > budget:
                continue
            chosen.append(i)
            used += length
        text = " ".join(candidates[i] for i in sorted(chosen))
        return _clip(text, budget)


def _score(sentence: str, frequency: Counter[str], in_problem: set[str]) -> float:
    words = content_words(sentence)
    if not words:
        return 0.0
    overlap = sum(1 for w in words if w in in_problem)
    recurrence = sum(frequency[w] - 1 for w in words)
    return float((2.0 * overlap + recurrence) / len(words) ** 0.5)


def _first_sentence(text: str) -> str:
    parts = _content_sentences(text)
    return parts[0] if parts else text.strip()


def _clip(text: str, words: int) -> str:
    tokens = text.split()
    if len(tokens) <= words:
        return text.strip()
    return " ".join(tokens[:words]).rstrip(",;:") + " …"


_PROMPT = (
    "You write knowledge-base entries for a support chatbot from resolved support tickets. "
    "Write one short paragraph of at most {words} words: the customer's problem in one sentence, "
    "then the steps or answer that resolved it. Keep placeholders such as [EMAIL] or [NAME] as they "
    "are; never invent names, numbers or links. Answer with the paragraph only."
)


class LlmSummariser:
    """A summary from any OpenAI-compatible chat endpoint, through llama-index's LLM interface."""

    def __init__(self, llm: Any, *, model: str, words: int = 80) -> None:
        self._llm = llm
        self._model = model
        self._words = words

    @classmethod
    def from_settings(cls, settings: IngestionSettings) -> LlmSummariser:
        """Build an ``OpenAILike`` client from settings (needs the ``llamaindex`` extra)."""
        if not settings.learning_llm_url:
            raise SummariserFailed("learning_llm_url: required when learning_summariser is 'llm'")
        from llama_index.llms.openai_like import OpenAILike

        llm = OpenAILike(
            model=settings.learning_llm_model,
            api_base=settings.learning_llm_url,
            api_key=settings.learning_llm_api_key.get_secret_value() or "none",
            is_chat_model=True,
            temperature=0.0,
            timeout=settings.learning_llm_timeout,
            max_retries=1,
        )
        return cls(llm, model=settings.learning_llm_model, words=settings.learning_summary_words)

    @property
    def name(self) -> str:
        return f"llm-{self._model}-{self._words}"

    def summarise(self, problem: str, resolution: str) -> str:
        from llama_index.core.llms import ChatMessage

        messages = [
            ChatMessage(role="system", content=_PROMPT.format(words=self._words)),
            ChatMessage(role="user", content=f"Problem:\n{problem}\n\nResolution:\n{resolution}"),
        ]
        try:
            response = self._llm.chat(messages)
        except Exception as exc:  # openai/httpx errors of every kind: translate at the boundary
            raise SummariserFailed(f"LLM summariser call failed: {exc}") from exc
        content = (response.message.content or "").strip()
        if not content:
            raise SummariserFailed("LLM summariser returned an empty summary")
        return _clip(content, self._words)


def build_summariser(settings: IngestionSettings) -> Summariser:
    """The summariser named by ``settings.learning_summariser``."""
    if settings.learning_summariser == "extractive":
        return ExtractiveSummariser(words=settings.learning_summary_words)
    if settings.learning_summariser == "llm":
        return LlmSummariser.from_settings(settings)
    raise SummariserFailed(
        f"learning_summariser: unknown summariser {settings.learning_summariser!r} "
        "(use extractive or llm)"
    )
