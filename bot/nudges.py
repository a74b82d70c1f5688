"""The nudge engine: claim who is due in SQL, send, record the outcome. One pass = one tick.

Exactly once, whatever the number of processes:
- a person is due when their indexed `next_nudge_at` has come; a pass reads only those rows
  (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so passes running at once split the work);
- before sending, it writes a nudge log row unique per (workspace, person, slot); a pass that
  loses that race sends nothing;
- the row is completed after Slack answers. A row left `claimed` by a crash is sent once
  more if still within its grace, then never again.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot import activity, store
from bot.blocks import Message, build_nudge, build_weekly_summary
from bot.content import Library
from bot.database import Database
from bot.models import NudgeLog, Person, Workspace
from bot.schedule import CATCH_UP_LIMIT, Nudge, catch_up, next_summary
from bot.sender import Outcome, Outgoing, Sender

log = logging.getLogger(__name__)

# A claim older than this with no outcome belongs to a process that died.
CLAIM_LEASE = timedelta(minutes=2)
CLAIM_BATCH = 5000
MAX_ATTEMPTS = 2  # the first send, and one resend after a crash


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


@dataclass(frozen=True)
class Claimed:
    log_id: int
    team_id: str
    user_id: str
    slot: datetime
    # Set for a weekly summary, whose text depends on the stats when it was claimed.
    summary: Message | None = None


@dataclass
class TickReport:
    due: int = 0
    claimed: int = 0
    summaries: int = 0
    resent: int = 0
    missed: int = 0
    abandoned: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> None:
        key = outcome.kind if outcome.kind == "sent" else f"{outcome.kind}:{outcome.error}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    @property
    def sent(self) -> int:
        return self.outcomes.get("sent", 0)


def _insert_claim(session: Session, values: dict[str, object]) -> int | None:
    """Insert the log row unless this slot already has one; its id, or None if it had."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(NudgeLog).values(**values).on_conflict_do_nothing().returning(NudgeLog.id)
    return session.execute(statement).scalar_one_or_none()


def claim_due(
    db: Database, *, now: datetime, worker: str, batch: int = CLAIM_BATCH
) -> tuple[list[Claimed], int, int]:
    """Claim everyone due at `now`: (claims, number due, number missed as too late)."""
    claimed: list[Claimed] = []
    missed = 0
    with db.session() as session:
        query = (
            select(Person)
            .join(Workspace, Workspace.team_id == Person.team_id)
            .where(Person.next_nudge_at <= now, Workspace.active.is_(True))
            .order_by(Person.next_nudge_at)
            .limit(batch)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Person)
        due = session.scalars(query).all()
        for person in due:
            assert person.next_slot_at is not None and person.next_nudge_at is not None
            nudge = catch_up(
                store.to_preferences(person),
                Nudge(person.next_slot_at, person.next_nudge_at),
                now=now,
                dnd=store.dnd_of(person, now),
            )
            # The next one is strictly after now: a downtime yields at most one catch-up.
            store.reschedule(person, after=now, now=now)
            if nudge is None:
                missed += 1
                continue
            slot, send_at = nudge.slot, nudge.send_at
            log_id = _insert_claim(
                session,
                {
                    "team_id": person.team_id,
                    "user_id": person.user_id,
                    "slot_at": slot,
                    "send_at": send_at,
                    "status": "claimed",
                    "attempts": 1,
                    "claimed_at": now,
                    "claimed_by": worker,
                },
            )
            if log_id is not None:
                claimed.append(Claimed(log_id, person.team_id, person.user_id, slot))
    return claimed, len(due), missed


SUMMARY_GRACE = timedelta(hours=1)


def _summary(session: Session, person: Person, now: datetime, library: Library) -> Message:
    stats = activity.stats_for(session, person, now)
    return build_weekly_summary(stats, library)


def claim_summaries(
    db: Database, *, now: datetime, worker: str, library: Library, batch: int = CLAIM_BATCH
) -> list[Claimed]:
    """Weekly summaries due at `now`, claimed like nudges: one log row per person and week."""
    claimed: list[Claimed] = []
    with db.session() as session:
        query = (
            select(Person)
            .join(Workspace, Workspace.team_id == Person.team_id)
            .where(Person.next_summary_at <= now, Workspace.active.is_(True))
            .order_by(Person.next_summary_at)
            .limit(batch)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Person)
        for person in session.scalars(query).all():
            slot = person.next_summary_at
            assert slot is not None
            person.next_summary_at = next_summary(store.to_preferences(person), after=now)
            if now - slot >= SUMMARY_GRACE:
                continue
            log_id = _insert_claim(
                session,
                {
                    "team_id": person.team_id,
                    "user_id": person.user_id,
                    "kind": "summary",
                    "slot_at": slot,
                    "send_at": slot,
                    "status": "claimed",
                    "attempts": 1,
                    "claimed_at": now,
                    "claimed_by": worker,
                },
            )
            if log_id is not None:
                message = _summary(session, person, now, library)
                claimed.append(Claimed(log_id, person.team_id, person.user_id, slot, message))
    return claimed


def reclaim_stale(
    db: Database, *, now: datetime, worker: str, library: Library
) -> tuple[list[Claimed], int]:
    """Claims a dead process left unsent: resend once within the grace, else abandon."""
    resend: list[Claimed] = []
    abandoned = 0
    with db.session() as session:
        query = select(NudgeLog).where(
            NudgeLog.status == "claimed", NudgeLog.claimed_at < now - CLAIM_LEASE
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row in session.scalars(query).all():
            grace = SUMMARY_GRACE if row.kind == "summary" else CATCH_UP_LIMIT
            if row.attempts >= MAX_ATTEMPTS or now - row.send_at >= grace:
                row.status, row.finished_at, row.error = "abandoned", now, "unsent_after_crash"
                abandoned += 1
                continue
            # Conditional update: if another process took it first, this changes no row.
            taken = session.execute(
                update(NudgeLog)
                .where(NudgeLog.id == row.id, NudgeLog.claimed_at == row.claimed_at)
                .values(attempts=row.attempts + 1, claimed_at=now, claimed_by=worker)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                continue
            summary = None
            if row.kind == "summary":
                person = store.find_person(session, team_id=row.team_id, user_id=row.user_id)
                assert person is not None  # the log row's foreign key guarantees it
                summary = _summary(session, person, now, library)
            resend.append(Claimed(row.id, row.team_id, row.user_id, row.slot_at, summary))
    return resend, abandoned


def record_outcome(db: Database, outcome: Outcome, *, now: datetime) -> None:
    """Complete the log row; stop a person, or a workspace, on errors that will not pass."""
    with db.session() as session:
        row = session.get(NudgeLog, outcome.key)
        if row is None:
            return  # the person asked to be forgotten meanwhile
        row.finished_at = now
        if outcome.kind == "sent":
            row.status, row.channel, row.message_ts = "sent", outcome.channel, outcome.ts
            return
        row.status, row.error = "failed", outcome.error
        if outcome.kind == "person":
            person = store.find_person(
                session, team_id=outcome.team_id, user_id=outcome.user_id, lock=True
            )
            if person is not None:
                person.stopped_reason = outcome.error
                person.next_slot_at = person.next_nudge_at = None
        elif outcome.kind == "workspace":
            workspace = session.get(Workspace, outcome.team_id)
            if workspace is not None:
                workspace.active, workspace.inactive_reason = False, outcome.error
        log.warning(
            "nudge not delivered",
            extra={"team_id": outcome.team_id, "user_id": outcome.user_id, "error": outcome.error},
        )


def outgoing(claim: Claimed, library: Library) -> Outgoing:
    message = claim.summary or build_nudge(library, claim.slot)[0]
    return Outgoing(claim.log_id, claim.team_id, claim.user_id, message.text, message.blocks)


def run_tick(
    db: Database,
    sender: Sender,
    library: Library,
    *,
    now: datetime,
    worker: str | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> TickReport:
    """One pass: resend what a crash left, claim who is due, send, record."""
    me = worker or worker_name()
    report = TickReport()
    resend, report.abandoned = reclaim_stale(db, now=now, worker=me, library=library)
    summaries = claim_summaries(db, now=now, worker=me, library=library)
    claims, report.due, report.missed = claim_due(db, now=now, worker=me)
    report.resent, report.claimed, report.summaries = len(resend), len(claims), len(summaries)

    def record(outcome: Outcome) -> None:
        record_outcome(db, outcome, now=now)
        report.count(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    batch = [outgoing(c, library) for c in [*resend, *claims, *summaries]]
    sender.send_all(batch, on_outcome=record)
    return report
