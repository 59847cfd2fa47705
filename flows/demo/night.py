"""The simulated night: the learning flow turns resolved tickets into case summaries, and after
the first night the verdict policy is calibrated on held-out questions.

Learning runs the real Prefect flow (`flows.learning.nightly_learning`, local mode: Prefect starts
its temporary server in this process). Calibration is honest about what it sees: the questions
are the sample's ``calibration`` split (360), never used as conversations, about a fifth of them
about problems no customer brings; those and the ones about problems no case solves yet (the two
that start on day 3) are the no-match questions the guard is fitted on (their right action is to
escalate). A question counts as answered right when the top case came from a conversation with
the same intent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from flows.demo.sample import Conversation
from ingestion.schema import CaseSummary, Ticket
from ingestion.store import Store

TARGET_PRECISION = 0.9
CONFIDENCE = 0.9  # `retrieval.calibrate`'s own default: the demo asks for what users get


@dataclass(frozen=True, slots=True)
class Calibration:
    """How the verdict policy of the run was obtained, in words for the report."""

    policy: dict[str, object]
    description: str


def learn_tonight(
    store: Store, adapter: Any, index_path: Path, settings: Any, retrieval_settings: Any
) -> tuple[int, str]:
    """Run the learning flow once with its own writer on the index; returns (cases, how)."""
    import retrieval
    from flows.learning import nightly_learning

    with retrieval.open_index(index_path, settings=retrieval_settings) as writer:
        report = nightly_learning(settings=settings, store=store, adapter=adapter, index=writer)
    return report.learned, "the Prefect flow `nightly_learning` (Prefect local mode)"


def case_intents(store: Store, intent_of_session: Mapping[str, str]) -> dict[str, str]:
    """The ground-truth intent of every active case summary, via its ticket's conversation."""
    with store.transaction() as tx:
        rows = tx.execute(
            select(CaseSummary.case_id, Ticket.session_id)
            .join(Ticket, Ticket.id == CaseSummary.ticket_id)
            .where(CaseSummary.state == "active")
        ).all()
    return {
        case_id: intent_of_session[session]
        for case_id, session in rows
        if session in intent_of_session
    }


def calibrate_policy(
    reader: Any,
    index_path: Path,
    retrieval_settings: Any,
    questions: Sequence[Conversation],
    intents: Mapping[str, str],
) -> Calibration:
    """Fit the verdict policy on held-out questions against the index as learned so far.

    The questions are assessed through the chatbot's own reader; the fitted policy is stored
    with the index through a short-lived writer, so the next day's ``assess`` calls use it.
    """
    import retrieval

    learned = set(intents.values())
    samples = []
    for question in questions:
        assessment = reader.assess(question.message)
        top = assessment.hits[0].case_id if assessment.hits else None
        correct = top is not None and intents.get(top) == question.intent
        samples.append(
            retrieval.CalibrationSample(
                figures=assessment.figures,
                correct=correct,
                no_match=question.intent not in learned,  # no case yet: must escalate
            )
        )
    try:
        policy = retrieval.calibrate(
            samples, target_precision=TARGET_PRECISION, confidence_level=CONFIDENCE
        )
    except retrieval.CalibrationError as exc:
        return Calibration(
            policy=dict(reader.policy.to_dict()),
            description=f"retrieval's built-in defaults (calibration refused: {exc})",
        )
    with retrieval.open_index(index_path, settings=retrieval_settings) as writer:
        writer.save_policy(policy)
    positives = sum(1 for s in samples if s.correct)
    return Calibration(
        policy=dict(policy.to_dict()),
        description=(
            f"fitted after night 1 with `retrieval.calibrate` (target precision "
            f"{TARGET_PRECISION:.0%}, kept with {CONFIDENCE:.0%} confidence) on "
            f"{len(samples)} held-out questions of the sample ({positives} whose top case has "
            f"the right intent; {policy.no_match_samples} about problems not learned yet, "
            f"{policy.no_match_escalation:.0%} of which must escalate) against the day-1 case "
            "summaries; those questions are never used as conversations"
        ),
    )
