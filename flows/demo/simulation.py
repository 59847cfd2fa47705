"""The demo's days: customers talk to the chatbot, agents work tickets, the system learns at night.

Each simulated day runs in phases, each with a progress bar: the day's customers ask (the
chatbot answers or escalates), the relay turns escalations into helpdesk tickets, agents answer
and resolve them, the replies come back to the sessions by webhook, and the night's learning
flow turns resolved tickets into case summaries. After the first night the verdict policy is
calibrated on held-out questions (see `flows.demo.night`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from flows.demo import invariants, night
from flows.demo.agents import Agents
from flows.demo.chatbot import TENANT, Chatbot
from flows.demo.errors import DemoError
from flows.demo.ledger import Ledger, Outcome
from flows.demo.sample import Conversation
from flows.demo.stack import Stack
from ingestion.keys import create_key
from ingestion.schema import Ticket, WebhookDelivery
from ingestion.status import OPEN_STATUSES

WAIT_SECONDS = 120.0
#: The simulated calendar: day 1 starts here (times only appear in transcripts).
FIRST_DAY = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


@dataclass(slots=True)
class RunRecord:
    """What a run produced: the ledger plus the facts the report needs."""

    ledger: Ledger
    calibration: night.Calibration | None = None
    learning: str = ""
    problems: list[str] = field(default_factory=list)


def session_id(conversation: Conversation) -> str:
    return f"chat-{conversation.id}"


class Simulation:
    """Runs the days against a started `Stack`."""

    def __init__(
        self, stack: Stack, index: Any, progress: Progress, *, index_path: Path, settings: Any
    ) -> None:
        self._stack = stack
        self._index = index  # the chatbot's reader; the night opens its own writers
        self._index_path = index_path
        self._retrieval_settings = settings
        self._progress = progress
        # The chatbot calls the service as a real orchestrator would: with its tenant's API key.
        key, _ = create_key(
            self._store(), tenant=TENANT, scopes=["escalate", "messages:read", "outcomes:write"]
        )
        self._client = httpx.Client(timeout=30.0, headers={"Authorization": f"Bearer {key}"})
        self._bot = Chatbot(index, stack.service_url, client=self._client)
        self._agents = Agents(stack.adapter)
        self.outcome = RunRecord(Ledger())
        self._conversations: dict[str, Conversation] = {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(
        self, days: tuple[tuple[Conversation, ...], ...], calibration: tuple[Conversation, ...]
    ) -> RunRecord:
        for number, conversations in enumerate(days, start=1):
            self.day(number, conversations)
            last = number == len(days)
            if not last:
                self.night(number, calibration if number == 1 else ())
        self.outcome.problems = invariants.problems(
            self.outcome.ledger,
            self._store(),
            {session_id(c): c.reply for c in self._conversations.values()},
        )
        return self.outcome

    def day(self, number: int, conversations: tuple[Conversation, ...]) -> None:
        """One simulated day: customers ask, tickets open, agents answer, replies come back."""
        started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
        self._customers_ask(number, conversations)
        ledger = self.outcome.ledger
        escalated = [o for o in ledger.day(number) if o.action == "escalated"]
        self._await_tickets(number, escalated)
        queue = self._agents.queue(started)
        ledger.tickets_by_day[number] = {t.id for t in queue}
        task = self._task(f"day {number}: agents answer tickets", len(queue))
        worked = self._agents.work(queue, self._conversations, lambda: self._progress.advance(task))
        for item in worked:
            ledger.outcomes[item.session_id].note_sent = item.note
        self._await_replies(number, escalated)

    def _customers_ask(self, number: int, conversations: tuple[Conversation, ...]) -> None:
        ledger = self.outcome.ledger
        known = set(ledger.case_intents.values())
        task = self._task(f"day {number}: customers ask the chatbot", len(conversations))
        for conversation in conversations:
            sid = session_id(conversation)
            self._conversations[sid] = conversation
            at = FIRST_DAY + dt.timedelta(days=number - 1, minutes=conversation.minute)
            outcome = self._bot.converse(conversation, sid, at)
            outcome.novel = conversation.intent not in known
            if outcome.served_case_id is not None:
                outcome.served_intent = ledger.case_intents.get(outcome.served_case_id)
            ledger.record(outcome)
            self._report_outcome(outcome)
            self._progress.advance(task)

    def _report_outcome(self, outcome: Outcome) -> None:
        # The simulated customer confirms a right answer; after a wrong one they just leave, so
        # the bot can only assume it helped (the inflation the online metrics keep apart).
        if outcome.action == "escalated":
            self._bot.report_outcome(outcome.session_id, "escalated", "confirmed", [])
            return
        confirmation = "confirmed" if outcome.correct else "assumed"
        served = [outcome.served_case_id] if outcome.served_case_id else []
        self._bot.report_outcome(outcome.session_id, "answered_by_bot", confirmation, served)

    def _await_tickets(self, number: int, escalated: list[Any]) -> None:
        task = self._task(f"day {number}: relay opens tickets", len(escalated))
        for outcome in escalated:
            view = self._wait(
                partial(self._delivered, str(outcome.escalation_id)),
                f"the ticket of conversation {outcome.session_id}",
            )
            outcome.ticket_id = str(view["ticket_id"])
            self._progress.advance(task)

    def _await_replies(self, number: int, escalated: list[Any]) -> None:
        task = self._task(f"day {number}: replies reach customers", len(escalated))
        for outcome in escalated:
            outcome.replies = self._wait(
                partial(self._bot.messages, outcome.session_id),
                f"the agent's reply in conversation {outcome.session_id}",
            )
            self._progress.advance(task)
        # Let the resolve webhooks land too, then read every session again from the start, so
        # a reply forwarded twice or a leaked note would show in the counts.
        self._wait(self._settled, "the inbox worker to apply every webhook")
        for outcome in escalated:
            outcome.replies = self._bot.messages(outcome.session_id)

    def _delivered(self, escalation_id: str) -> dict[str, Any] | None:
        view = self._bot.escalation_state(escalation_id)
        if view.get("state") == "dead":
            raise DemoError(f"escalation {escalation_id} is dead: {view.get('last_error')}")
        return view if view.get("state") == "delivered" and view.get("ticket_id") else None

    def _settled(self) -> bool:
        store = self._store()
        with store.transaction() as tx:
            pending = tx.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.state == "pending")
            )
            open_tickets = tx.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.status.in_(OPEN_STATUSES))
            )
        return bool(pending == 0 and open_tickets == 0)

    def night(self, number: int, calibration: tuple[Conversation, ...]) -> None:
        task = self._task(f"night {number}: learning flow", 1)
        stack = self._stack
        learned, how = night.learn_tonight(
            self._store(), stack.adapter, self._index_path, stack.settings, self._retrieval_settings
        )
        self.outcome.learning = how
        self.outcome.ledger.learned_by_day[number] = learned
        intents = {sid: c.intent for sid, c in self._conversations.items()}
        self.outcome.ledger.case_intents = night.case_intents(self._store(), intents)
        self._progress.advance(task)
        if calibration:
            task = self._task("night 1: calibrate the verdict", 1)
            self.outcome.calibration = night.calibrate_policy(
                self._index,
                self._index_path,
                self._retrieval_settings,
                calibration,
                self.outcome.ledger.case_intents,
            )
            self._progress.advance(task)

    def escalate_now(self, conversation: Conversation) -> Any:
        """Hand one more customer to the agents now (``--keep-running``); waits for the ticket."""
        sid = f"{session_id(conversation)}-live"
        outcome = self._bot.converse(conversation, sid, dt.datetime.now(dt.UTC), force=True)
        self._await_tickets(0, [outcome])
        return outcome

    def replies(self, session: str) -> list[str]:
        """The messages forwarded to a session so far."""
        return self._bot.messages(session)

    def _task(self, description: str, total: int) -> Any:
        return self._progress.add_task(description, total=total)

    def _store(self) -> Any:
        if self._stack.store is None:
            raise DemoError("the store is closed")
        return self._stack.store

    def _wait(self, probe: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            self._stack.check()
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise DemoError(f"gave up after {WAIT_SECONDS:.0f} s waiting for {what}")
            time.sleep(0.05)


def progress_bars() -> Progress:
    """The progress display used while the demo runs."""
    return Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


#: Written into every state folder the demo makes; only such folders are ever emptied.
MARKER = ".caseloop-demo"
#: What the demo writes into its state folder (a folder holding only these is one of ours).
OURS = ("caseloop.db", "helpdesk", "index", MARKER)


def _ours(name: str) -> bool:
    return any(name == known or name.startswith(f"{known}-") for known in OURS)


def fresh_dir(path: Path) -> Path:
    """Empty the demo's state folder (a demo always starts from nothing).

    A folder that is not empty is emptied only if an earlier demo made it, so a mistyped
    ``--state-dir`` never deletes anything else.
    """
    import shutil

    if path.exists():
        foreign = [p.name for p in path.iterdir() if not _ours(p.name)]
        if foreign and not (path / MARKER).exists():
            raise DemoError(
                f"--state-dir: {path} is not empty and was not made by `caseloop demo`; "
                "refusing to empty it"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("state of `caseloop demo`; emptied at the start of each run\n")
    return path
