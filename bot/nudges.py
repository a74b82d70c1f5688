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
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from bot import activity, store
from bot.blocks import Message, build_nudge, build_weekly_summary
from bot.content import Library
from bot.database import Database
from bot.metrics import DUE_BACKLOG, NUDGES_FAILED, NUDGES_MISSED, NUDGES_SENT, TICK_SECONDS
from bot.models import NudgeLog, Person, Workspace
from bot.schedule import CATCH_UP_LIMIT, Nudge, catch_up, next_summary, summary_time
from bot.sender import Outcome, Outgoing, Sender

log = logging.getLogger(__name__)

# A claim older than this with no outcome belongs to a process that died.
CLAIM_LEASE = timedelta(minutes=2)
CLAIM_BATCH = 5000
MAX_ATTEMPTS = 2  # the first send, and one resend after a crash


_PROCESS_ID = uuid.uuid4().hex[:8]


def worker_name() -> str:
    """Unique per process, even when a restarted container reuses its hostname and pid."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{_PROCESS_ID}"


@dataclass(frozen=True)
class Claimed:
    log_id: int
    team_id: str
    user_id: str
    slot: datetime
    # Set for a weekly summary, whose text depends on the stats when it was claimed.
    summary: Message | None = None
    # A resend after a crash: the sender first checks whether the DM went out after all.
    resend: bool = False


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


def _insert_claims(session: Session, rows: list[dict[str, object]]) -> list[Row[Any]]:
    """One INSERT for the whole batch; a slot that already has a row is skipped, not
    returned: whoever inserted it first owns that nudge."""
    if not rows:
        return []
    table = NudgeLog.__table__
    statement = store.insert_ignoring(session, table).returning(
        table.c.id, table.c.team_id, table.c.user_id, table.c.slot_at
    )
    return list(session.execute(statement, rows).all())


_people = Person.__table__
# Core rather than the ORM's bulk update: the same executemany, without its per-row work.
_RESCHEDULE = (
    _people.update()
    .where(_people.c.team_id == bindparam("b_team"), _people.c.user_id == bindparam("b_user"))
    .values(next_slot_at=bindparam("b_slot"), next_nudge_at=bindparam("b_send"))
)
# Columns travel as comma-joined text split by the server: Slack ids never hold a comma,
# instants go as epoch microseconds. Binding Python lists as arrays instead costs more in
# the driver's array quoting than the whole statement costs the database.
_PG_ROWS = """
    unnest(string_to_array(:teams, ','), string_to_array(:users, ','),
           string_to_array(:slots, ','), string_to_array(:sends, ','))
    AS raw(team_id, user_id, slot_us, send_us)
"""
_PG_INSTANT = "to_timestamp(NULLIF(raw.{0}, '')::bigint / 1000000.0)"
_PG_RESCHEDULE = text(
    f"""
    UPDATE people AS p
    SET next_slot_at = {_PG_INSTANT.format("slot_us")},
        next_nudge_at = {_PG_INSTANT.format("send_us")}
    FROM {_PG_ROWS}
    WHERE p.team_id = raw.team_id AND p.user_id = raw.user_id
    """
)
_PG_CLAIM = text(
    f"""
    INSERT INTO nudge_log
        (team_id, user_id, kind, slot_at, send_at, status, attempts, claimed_at, claimed_by)
    SELECT raw.team_id, raw.user_id, 'nudge', {_PG_INSTANT.format("slot_us")},
           {_PG_INSTANT.format("send_us")}, 'claimed', 1, :now, :worker
    FROM {_PG_ROWS}
    ON CONFLICT DO NOTHING
    RETURNING id, team_id, user_id, slot_at
    """
)


def _joined(values: list[Any]) -> str:
    return ",".join(values)


def _micros(instants: list[datetime | None]) -> str:
    """Epoch microseconds, exact (no float rounding), empty for None."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return ",".join(
        "" if i is None else str((i - epoch) // timedelta(microseconds=1)) for i in instants
    )


def _write_claims_postgresql(
    session: Session,
    updates: list[dict[str, Any]],
    claims: list[dict[str, Any]],
    *,
    now: datetime,
    worker: str,
) -> list[Row[Any]]:
    """Two statements for any batch size, which keeps a 2,000-row claim cheap."""
    if updates:
        session.execute(
            _PG_RESCHEDULE,
            {
                "teams": _joined([u["b_team"] for u in updates]),
                "users": _joined([u["b_user"] for u in updates]),
                "slots": _micros([u["b_slot"] for u in updates]),
                "sends": _micros([u["b_send"] for u in updates]),
            },
        )
    if not claims:
        return []
    result = session.execute(
        _PG_CLAIM,
        {
            "teams": _joined([c["team_id"] for c in claims]),
            "users": _joined([c["user_id"] for c in claims]),
            "slots": _micros([c["slot_at"] for c in claims]),
            "sends": _micros([c["send_at"] for c in claims]),
            "now": now,
            "worker": worker,
        },
    )
    return list(result.all())  # psycopg gives timestamptz back timezone-aware


# What a claim reads of each due person: their preferences, DND and stored next nudge.
DUE_COLUMNS = (
    Person.team_id, Person.user_id, Person.opted_in, Person.tz, Person.work_start,
    Person.work_end, Person.work_days, Person.interval_minutes, Person.quiet_start,
    Person.quiet_end, Person.snoozed_until, Person.stopped_reason, Person.weekly_summary,
    Person.next_slot_at, Person.next_nudge_at, Person.dnd_start, Person.dnd_end,
    Person.dnd_snooze_until,
)  # fmt: skip


def _schedule_due(row: Row[Any], now: datetime) -> tuple[Nudge | None, Nudge | None]:
    """For one due row: the nudge to send now (None if too late), and the one after it."""
    prefs = replace(store.to_preferences(row), next_nudge_at=None)
    dnd = store.dnd_of(row, now)
    return catch_up(prefs, Nudge(row.next_slot_at, row.next_nudge_at), now=now, dnd=dnd)


def claim_due(
    db: Database, *, now: datetime, worker: str, batch: int = CLAIM_BATCH
) -> tuple[list[Claimed], int, int]:
    """Claim everyone due at `now`: (claims, number due, number missed as too late).

    A handful of statements whatever the batch size: one SELECT of the due rows (indexed),
    one executemany UPDATE of their next nudge, one INSERT of the claims.
    """
    with db.session() as session:
        query = (
            select(*DUE_COLUMNS)
            .join(Workspace, Workspace.team_id == Person.team_id)
            .where(Person.next_nudge_at <= now, Workspace.active.is_(True))
            .order_by(Person.next_nudge_at)
            .limit(batch)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Person)
        due = session.execute(query).all()
        # Everything after (team, user) decides the schedule, and the people due together
        # mostly share it (one zone, default hours): work it out once per distinct row.
        schedules: dict[tuple[Any, ...], tuple[Nudge | None, Nudge | None]] = {}
        updates: list[dict[str, object]] = []
        claims: list[dict[str, object]] = []
        for row in due:
            key = tuple(row[2:])
            if key not in schedules:
                schedules[key] = _schedule_due(row, now)
            nudge, upcoming = schedules[key]
            updates.append(
                {
                    "b_team": row.team_id,
                    "b_user": row.user_id,
                    "b_slot": upcoming.slot if upcoming else None,
                    "b_send": upcoming.send_at if upcoming else None,
                }
            )
            if nudge is not None:
                claims.append(
                    {
                        "team_id": row.team_id,
                        "user_id": row.user_id,
                        "kind": "nudge",
                        "slot_at": nudge.slot,
                        "send_at": nudge.send_at,
                        "status": "claimed",
                        "attempts": 1,
                        "claimed_at": now,
                        "claimed_by": worker,
                    }
                )
        if db.dialect == "postgresql":
            inserted = _write_claims_postgresql(session, updates, claims, now=now, worker=worker)
        else:
            if updates:
                session.execute(_RESCHEDULE, updates)  # one executemany
            inserted = _insert_claims(session, claims)
    claimed = [Claimed(r.id, r.team_id, r.user_id, r.slot_at) for r in inserted]
    return claimed, len(due), len(due) - len(claims)


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
            prefs = store.to_preferences(person)
            person.next_summary_at = next_summary(prefs, after=now)
            if now - slot >= SUMMARY_GRACE:
                continue  # missed during downtime: next week's comes as usual
            # Like a nudge, never in quiet hours, while snoozed or in Do Not Disturb: wait
            # for them to end, later the same day, or skip this week.
            when = summary_time(prefs, slot, dnd=store.dnd_of(person, now))
            if when is None:
                continue
            if when > slot:
                person.next_summary_at = when
                continue
            inserted = _insert_claims(
                session,
                [
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
                    }
                ],
            )
            if inserted:
                log_id = inserted[0].id
                message = _summary(session, person, now, library)
                claimed.append(Claimed(log_id, person.team_id, person.user_id, slot, message))
    return claimed


def reclaim_stale(
    db: Database, *, now: datetime, worker: str, library: Library, lease: timedelta = CLAIM_LEASE
) -> tuple[list[Claimed], int]:
    """Claims a dead process left unsent: resend once within the grace, else abandon."""
    resend: list[Claimed] = []
    abandoned = 0
    with db.session() as session:
        query = select(NudgeLog).where(
            NudgeLog.status == "claimed", NudgeLog.claimed_at < now - lease
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
                if person is None:  # forgotten meanwhile
                    row.status, row.finished_at = "abandoned", now
                    continue
                summary = _summary(session, person, now, library)
            resend.append(
                Claimed(row.id, row.team_id, row.user_id, row.slot_at, summary, resend=True)
            )
    return resend, abandoned


def renew_claims(db: Database, *, worker: str, at: datetime) -> int:
    """The heartbeat of a pass: keep every claim this process still holds from going stale."""
    with db.session() as session:
        renewed = session.execute(
            update(NudgeLog)
            .where(NudgeLog.claimed_by == worker, NudgeLog.status == "claimed")
            .values(claimed_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(renewed.rowcount or 0)  # type: ignore[attr-defined]


@contextmanager
def heartbeat(
    db: Database, *, worker: str, lease: timedelta, clock: Callable[[], datetime]
) -> Iterator[None]:
    """Renew this process's claims every third of the lease while a pass runs, so only a
    process that died (and stopped renewing) has its claims taken over."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                renew_claims(db, worker=worker, at=clock())
            except Exception:
                log.exception("renewing nudge claims failed")

    thread = threading.Thread(target=beat, name="psoas-claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def still_mine(db: Database, log_id: int, *, worker: str, at: datetime) -> bool:
    """Renew this process's claim just before sending, or learn that another took it over
    (a pass that outlived its lease): only the current holder sends."""
    with db.session() as session:
        renewed = session.execute(
            update(NudgeLog)
            .where(
                NudgeLog.id == log_id,
                NudgeLog.claimed_by == worker,
                NudgeLog.status == "claimed",
            )
            .values(claimed_at=at)
            .execution_options(synchronize_session=False)
        )
        return renewed.rowcount == 1  # type: ignore[attr-defined]


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
    return Outgoing(
        claim.log_id,
        claim.team_id,
        claim.user_id,
        message.text,
        message.blocks,
        check_delivered_first=claim.resend,
    )


def due_backlog(db: Database, *, now: datetime) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).where(Person.next_nudge_at <= now)) or 0)


def run_tick(
    db: Database,
    sender: Sender,
    library: Library,
    *,
    now: datetime,
    worker: str | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    lease: timedelta = CLAIM_LEASE,
) -> TickReport:
    """One pass: resend what a crash left, claim who is due, send, record."""
    started = time.perf_counter()
    me = worker or worker_name()
    report = TickReport()
    resend, report.abandoned = reclaim_stale(db, now=now, worker=me, library=library, lease=lease)
    summaries = claim_summaries(db, now=now, worker=me, library=library)
    claims, report.due, report.missed = claim_due(db, now=now, worker=me)
    report.resent, report.claimed, report.summaries = len(resend), len(claims), len(summaries)

    everything = [*resend, *claims, *summaries]
    kinds = {c.log_id: "summary" if c.summary else "nudge" for c in everything}

    def record(outcome: Outcome) -> None:
        record_outcome(db, outcome, now=now)
        report.count(outcome)
        if outcome.kind == "sent":
            NUDGES_SENT.labels(kinds.get(outcome.key, "nudge")).inc()
        else:
            NUDGES_FAILED.labels(outcome.error or outcome.kind).inc()
        if on_outcome is not None:
            on_outcome(outcome)

    def pass_clock() -> datetime:
        return now + timedelta(seconds=time.perf_counter() - started)

    def mine(item: Outgoing) -> bool:
        return still_mine(db, item.key, worker=me, at=pass_clock())

    with heartbeat(db, worker=me, lease=lease, clock=pass_clock):
        batch = [outgoing(c, library) for c in everything]
        sender.send_all(batch, on_outcome=record, still_mine=mine)
    NUDGES_MISSED.inc(report.missed)
    DUE_BACKLOG.set(due_backlog(db, now=now))
    TICK_SECONDS.observe(time.perf_counter() - started)
    return report
