"""Weekly summaries: claimed and rendered for a whole pass at once.

A summary is claimed like a nudge (one log row per person and week, written before the DM
goes out), but a handful of statements serve any number of people: one SELECT of the due
rows (plain columns, their `summary_schedule` rows locked with SKIP LOCKED on PostgreSQL), one
UPDATE of their next summary (an executemany on SQLite), one DELETE of the rows of people
who no longer get one (stopped, say), one INSERT of the claims, in one short transaction.
Rendering reads everyone's stats in three queries afterwards, outside that transaction.

The pass locks the summary's row, not the person's: a nudge claim running meanwhile still
takes them. A settings change that moves the summary, landing during the claim, waits for
it (it writes the same row) and then stores the summary its new settings give; the summary
already claimed goes out, as one claimed a moment before the change would have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, bindparam, select, text
from sqlalchemy.orm import Session

from bot.core.content import Library
from bot.core.schedule import next_summary, summary_time
from bot.core.stats import Stats
from bot.data.activity import read_stats_many
from bot.data.database import ENGINE_WORK_SECONDS, Database
from bot.data.models import LogKind, Person, SummarySchedule
from bot.data.people import DROP_SUMMARY, SCHEDULE_COLUMNS, Who, dnd_windows_of, to_preferences
from bot.engine.claims import (
    _PG_INSTANT,
    _PG_ROWS,
    CLAIM_BATCH,
    SUMMARY_GRACE,
    Claimed,
    _due,
    _insert_claims,
    _joined,
    _micros,
    _pass_session,
    abandon,
    claim_row,
    pg_claim_statement,
)
from bot.render.kit import Message
from bot.render.nudge import build_weekly_summary

# What deciding a due summary reads of each person: the slot, the preferences, DND and
# presence (busy, away), no more. The next nudge only because `to_preferences` reads it.
SUMMARY_COLUMNS = (
    Person.team_id,
    Person.user_id,
    Person.next_nudge_at,
    SummarySchedule.next_summary_at,
    *SCHEDULE_COLUMNS,
    Person.dnd_start,
    Person.dnd_end,
    Person.meetings,
    Person.busy_until,
    Person.busy_kind,
    Person.away_until,
)

_summaries = cast(Table, SummarySchedule.__table__)

# One executemany for the whole batch (Core: none of the ORM's per-row work).
_NEXT_SUMMARY = (
    _summaries.update()
    .where(_summaries.c.team_id == bindparam("b_team"), _summaries.c.user_id == bindparam("b_user"))
    .values(next_summary_at=bindparam("b_at"))
)

# On PostgreSQL, one statement each whatever the batch, the rows passed as the nudge claim
# passes them (psycopg would parse an executemany's or a multi-row INSERT's long text anew).
# Every row written was read as due: saying so joins them to the index's due rows rather
# than hashing the whole table.
_PG_NEXT_SUMMARY = text(
    f"""
    UPDATE summary_schedule AS s SET next_summary_at = {_PG_INSTANT.format("slot_us")}
    FROM {_PG_ROWS}
    WHERE s.team_id = raw.team_id AND s.user_id = raw.user_id AND s.next_summary_at <= :now
    """
)
_PG_DROP_SUMMARIES = text(
    f"""
    DELETE FROM summary_schedule AS s USING {_PG_ROWS}
    WHERE s.team_id = raw.team_id AND s.user_id = raw.user_id AND s.next_summary_at <= :now
    """
)
_PG_CLAIM = pg_claim_statement(LogKind.SUMMARY)


# (team, user, an instant): a next summary to store (None: none, the row goes), or the slot
# of a summary to claim.
Planned = tuple[str, str, datetime | None]


@dataclass
class _Plan:
    """What a summary pass writes: next summaries moved on, rows of people who no longer
    get one (deleted), and the summaries it claims."""

    moved: list[Planned] = field(default_factory=list)
    dropped: list[Planned] = field(default_factory=list)
    claims: list[Planned] = field(default_factory=list)


def _pg_rows(rows: list[Planned]) -> dict[str, str]:
    """Rows as `_PG_ROWS` reads them, the instant as both slot and send time."""
    instants = _micros([at for _, _, at in rows])
    return {
        "teams": _joined([team for team, _, _ in rows]),
        "users": _joined([user for _, user, _ in rows]),
        "slots": instants,
        "sends": instants,
    }


def _write_postgresql(
    session: Session, plan: _Plan, *, now: datetime, worker: str
) -> list[Row[Any]]:
    if plan.moved:
        session.execute(_PG_NEXT_SUMMARY, {**_pg_rows(plan.moved), "now": now})
    if plan.dropped:
        session.execute(_PG_DROP_SUMMARIES, {**_pg_rows(plan.dropped), "now": now})
    if not plan.claims:
        return []
    params = {**_pg_rows(plan.claims), "now": now, "worker": worker}
    return list(session.execute(_PG_CLAIM, params))


def _write_portably(session: Session, plan: _Plan, *, now: datetime, worker: str) -> list[Row[Any]]:
    if plan.moved:
        session.execute(
            _NEXT_SUMMARY,
            [{"b_team": team, "b_user": user, "b_at": at} for team, user, at in plan.moved],
        )
    if plan.dropped:
        session.execute(
            DROP_SUMMARY, [{"team_id": team, "user_id": user} for team, user, _ in plan.dropped]
        )
    rows = [
        claim_row(
            team_id=team,
            user_id=user,
            kind=LogKind.SUMMARY,
            slot=slot,
            send_at=slot,
            now=now,
            worker=worker,
        )
        for team, user, slot in plan.claims
        if slot is not None
    ]
    return _insert_claims(session, rows)


def _decide(row: Row[*tuple[Any, ...]], now: datetime) -> tuple[datetime | None, bool]:
    """For one due row: when the person's next summary is due, and whether this one goes now."""
    slot: datetime = row.next_summary_at
    prefs = to_preferences(row)
    following = next_summary(prefs, after=now)
    if now - slot >= SUMMARY_GRACE:
        return following, False  # missed during downtime: next week's comes as usual
    # Like a nudge, never in quiet hours, while snoozed, away or in Do Not Disturb: wait for
    # them to end, later the same day, or skip this week.
    when = summary_time(prefs, slot, dnd=dnd_windows_of(row, now))
    if when is None:
        return following, False
    if when > slot:
        return when, False
    return following, True


def _due_summaries(db: Database, *, now: datetime, batch: int) -> Select[*tuple[Any, ...]]:
    """Whose weekly summary is due, with what deciding it reads of them."""
    # Joined by the schedule's foreign key to its person.
    query = select(*SUMMARY_COLUMNS).select_from(SummarySchedule).join(Person)
    due_at = SummarySchedule.next_summary_at
    return _due(db, query, due_at, now=now, batch=batch, lock_of=SummarySchedule)


def claim_summaries(
    db: Database, *, now: datetime, worker: str, batch: int = CLAIM_BATCH
) -> list[Claimed]:
    """Weekly summaries due at `now`, claimed like nudges: one log row per person and week.
    The summaries themselves are rendered after, outside this transaction
    (`summary_messages`)."""
    with _pass_session(db, heavy=True, claims=True) as session:
        due = session.execute(_due_summaries(db, now=now, batch=batch)).all()
        # Everything after (team, user, next nudge) decides, and people due together mostly
        # share it (one zone, default hours): decide once per distinct row.
        decided: dict[tuple[Any, ...], tuple[datetime | None, bool]] = {}
        plan = _Plan()
        for row in due:
            key: tuple[Any, ...] = tuple(row[3:])
            if key not in decided:
                decided[key] = _decide(row, now)
            following, send = decided[key]
            into = plan.moved if following is not None else plan.dropped
            into.append((row.team_id, row.user_id, following))
            if send:
                plan.claims.append((row.team_id, row.user_id, row.next_summary_at))
        write = _write_postgresql if db.dialect == "postgresql" else _write_portably
        inserted = write(session, plan, now=now, worker=worker)
    return [Claimed(r.id, r.team_id, r.user_id, r.slot_at, LogKind.SUMMARY) for r in inserted]


def summary_messages(
    db: Database, claims: Sequence[Claimed], library: Library, *, now: datetime
) -> dict[int, Message | None]:
    """The DM of each summary claim, by log id, from everyone's stats read at once, now.
    None for someone forgotten since the claim: their claim is abandoned."""
    whos = [Who(claim.team_id, claim.user_id) for claim in claims]
    with db.unit(ENGINE_WORK_SECONDS, fail_fast=False):
        stats = read_stats_many(db, whos, now=now, statement_seconds=ENGINE_WORK_SECONDS)
    # The same week reads the same words: each distinct week is rendered once.
    rendered: dict[Stats, Message] = {}
    messages: dict[int, Message | None] = {}
    for claim, who in zip(claims, whos, strict=True):
        week = stats[who]
        if week is None:
            abandon(db, claim.log_id, now=now, reason="forgotten")
            messages[claim.log_id] = None
            continue
        if week not in rendered:
            rendered[week] = build_weekly_summary(week, library)
        messages[claim.log_id] = rendered[week]
    return messages
