"""Weekly summaries: claimed and rendered for a whole pass at once.

A summary is claimed like a nudge (one log row per person and week, written before the DM
goes out), but a handful of statements serve any number of people: one SELECT of the due
rows (plain columns, locked with SKIP LOCKED on PostgreSQL), one executemany UPDATE of their
next summary, one INSERT of the claims, in one short transaction. Rendering reads everyone's
stats in three queries afterwards, outside that transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select

from bot.core.content import Library
from bot.core.schedule import next_summary, summary_time
from bot.core.stats import Stats
from bot.data.activity import read_stats_many
from bot.data.database import ENGINE_WORK_SECONDS, Database
from bot.data.models import LogKind, Person
from bot.data.people import Who, dnd_windows_of, to_preferences
from bot.engine.claims import (
    CLAIM_BATCH,
    SUMMARY_GRACE,
    Claimed,
    _due,
    _insert_claims,
    _pass_session,
    abandon,
    claim_row,
)
from bot.render.kit import Message
from bot.render.nudge import build_weekly_summary

# What deciding a due summary reads of each person: the slot, the preferences, DND and
# presence (busy, away), no more.
SUMMARY_COLUMNS = (
    Person.team_id,
    Person.user_id,
    Person.next_summary_at,
    Person.opted_in,
    Person.tz,
    Person.work_start,
    Person.work_end,
    Person.work_days,
    Person.interval_minutes,
    Person.quiet_start,
    Person.quiet_end,
    Person.snoozed_until,
    Person.stopped_reason,
    Person.weekly_summary,
    Person.next_nudge_at,
    Person.dnd_start,
    Person.dnd_end,
    Person.meetings,
    Person.busy_until,
    Person.busy_kind,
    Person.away_until,
)

_people = cast(Table, Person.__table__)

# One executemany for the whole batch (Core: none of the ORM's per-row work).
_NEXT_SUMMARY = (
    _people.update()
    .where(_people.c.team_id == bindparam("b_team"), _people.c.user_id == bindparam("b_user"))
    .values(next_summary_at=bindparam("b_at"))
)


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


def claim_summaries(
    db: Database, *, now: datetime, worker: str, batch: int = CLAIM_BATCH
) -> list[Claimed]:
    """Weekly summaries due at `now`, claimed like nudges: one log row per person and week.
    The summaries themselves are rendered after, outside this transaction
    (`summary_messages`)."""
    with _pass_session(db, heavy=True) as session:
        due = session.execute(
            _due(db, select(*SUMMARY_COLUMNS), Person.next_summary_at, now=now, batch=batch)
        ).all()
        # Everything after (team, user) decides, and people due together mostly share it.
        decided: dict[tuple[Any, ...], tuple[datetime | None, bool]] = {}
        updates: list[dict[str, object]] = []
        claims: list[dict[str, object]] = []
        for row in due:
            key: tuple[Any, ...] = tuple(row[2:])
            if key not in decided:
                decided[key] = _decide(row, now)
            following, send = decided[key]
            updates.append({"b_team": row.team_id, "b_user": row.user_id, "b_at": following})
            if send:
                claims.append(
                    claim_row(
                        team_id=row.team_id,
                        user_id=row.user_id,
                        kind=LogKind.SUMMARY,
                        slot=row.next_summary_at,
                        send_at=row.next_summary_at,
                        now=now,
                        worker=worker,
                    )
                )
        if updates:
            session.execute(_NEXT_SUMMARY, updates)
        inserted = _insert_claims(session, claims)
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
