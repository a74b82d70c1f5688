"""Completions, nudge answers, stats and the data export: the database side of interactions.

Like `people`, every function is scoped by the (team, user) of Slack's signed payload.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from bot.core.changes import Change, apply_change
from bot.core.preferences import Preferences, mask_to_days, zone_or_utc
from bot.core.stats import Stats
from bot.data.database import Database, insert_ignoring_duplicates
from bot.data.models import (
    AwayPeriod,
    Base,
    Completion,
    CompletionSource,
    LogKind,
    NudgeAnswer,
    NudgeLog,
    Person,
)
from bot.data.movement import movement_stats, stats_for_person
from bot.data.people import (
    Who,
    find_person,
    person_for,
    reschedule_after_change,
    to_preferences,
    write_preferences,
)
from bot.data.presence import days_away_in


@dataclass(frozen=True)
class Recorded:
    new: bool  # False when this click had already been counted
    stats: Stats


def stats_for(session: Session, person: Person, now: datetime) -> Stats:
    """The person's movement, as every surface shows it (days away never break a streak)."""
    return stats_for_person(session, person, now)


def _add_completion(
    session: Session,
    person: Person,
    *,
    now: datetime,
    exercise: str | None,
    source: CompletionSource,
    key: str,
) -> bool:
    values = {
        "team_id": person.team_id,
        "user_id": person.user_id,
        "done_at": now,
        "local_day": now.astimezone(to_preferences(person).zone).date(),
        "exercise": exercise,
        "source": source,
        "dedupe_key": key[:120],
    }
    return insert_ignoring_duplicates(session, Completion, values)


def record_completion(
    db: Database,
    who: Who,
    *,
    now: datetime,
    exercise: str | None,
    source: CompletionSource,
    dedupe_key: str,
    timezone_of: Callable[[], str],
) -> Recorded:
    with db.session() as session:
        person = person_for(session, who, timezone_of=timezone_of)
        new = _add_completion(
            session, person, now=now, exercise=exercise, source=source, key=dedupe_key
        )
        return Recorded(new, stats_for(session, person, now))


@dataclass(frozen=True)
class Answer:
    status: Literal["answered", "already", "unknown"]
    previous: str | None = None
    stats: Stats | None = None
    prefs: Preferences | None = None  # after the change the answer made, if any


def answer_nudge(
    db: Database,
    who: Who,
    *,
    slot: datetime,
    answer: NudgeAnswer,
    exercise: str | None,
    now: datetime,
    change: Change | None = None,
) -> Answer:
    """Mark a nudge answered once, in one transaction with what the answer does: Done records
    a completion, Snooze and Skip today apply `change`. Nothing is half-saved.

    The person's row is locked first (SELECT ... FOR UPDATE; SQLite's writer lock), as a
    settings change locks it: a click and a command at the same moment take turns, and the
    next nudge is worked out from the settings the other one saved, never from a stale read."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
        if person is None:  # forgotten: `forget me` deletes the log too
            return Answer("unknown")
        row = session.scalars(
            select(NudgeLog).where(
                NudgeLog.team_id == who.team_id,
                NudgeLog.user_id == who.user_id,
                NudgeLog.kind == LogKind.NUDGE,
                NudgeLog.slot_at == slot,
            )
        ).one_or_none()
        if row is None:
            return Answer("unknown")
        taken = session.execute(
            update(NudgeLog)
            .where(NudgeLog.id == row.id, NudgeLog.answer.is_(None))
            .values(answer=answer, answered_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            session.refresh(row)
            return Answer("already", previous=row.answer)
        if answer == NudgeAnswer.DONE:
            _add_completion(
                session, person, now=now, exercise=exercise, source=CompletionSource.NUDGE,
                key=f"nudge:{row.id}",
            )  # fmt: skip
        if change is not None:
            changed = apply_change(to_preferences(person), change, now)
            if isinstance(changed, Preferences):
                write_preferences(person, changed)
                reschedule_after_change(person, now=now)
        return Answer(
            "answered", stats=stats_for(session, person, now),
            prefs=to_preferences(person),
        )  # fmt: skip


def read_stats(db: Database, who: Who, *, now: datetime) -> Stats | None:
    return read_stats_many(db, [who], now=now)[who]


# People read per query: bounds the bound parameters of one IN list (two per person), well
# under SQLite's 32,766 and PostgreSQL's 65,535.
STATS_CHUNK = 5000


def read_stats_many(
    db: Database,
    whos: Sequence[Who],
    *,
    now: datetime,
    statement_seconds: float | None = None,
) -> dict[Who, Stats | None]:
    """Each person's stats, as `read_stats` gives them one by one, in three queries for up
    to `STATS_CHUNK` people (their zone and working days, their completions, their periods
    away); None for someone we store nothing about."""
    if not whos:
        return {}
    found: dict[tuple[str, str], Stats] = {}
    with db.session(statement_seconds=statement_seconds) as session:
        for start in range(0, len(whos), STATS_CHUNK):
            keys = list(
                dict.fromkeys((w.team_id, w.user_id) for w in whos[start : start + STATS_CHUNK])
            )
            found.update(_stats_of(session, keys, now))
    return {who: found.get((who.team_id, who.user_id)) for who in whos}


def _stats_of(
    session: Session, keys: list[tuple[str, str]], now: datetime
) -> dict[tuple[str, str], Stats]:
    people = session.execute(
        select(Person.team_id, Person.user_id, Person.tz, Person.work_days).where(
            tuple_(Person.team_id, Person.user_id).in_(keys)
        )
    ).all()
    completions: dict[tuple[str, str], list[tuple[date, str | None, str]]] = defaultdict(list)
    for row in session.execute(
        select(
            Completion.team_id,
            Completion.user_id,
            Completion.local_day,
            Completion.exercise,
            Completion.source,
        ).where(tuple_(Completion.team_id, Completion.user_id).in_(keys))
    ):
        completions[row.team_id, row.user_id].append((row.local_day, row.exercise, row.source))
    away: dict[tuple[str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for period in session.execute(
        select(
            AwayPeriod.team_id, AwayPeriod.user_id, AwayPeriod.started_at, AwayPeriod.ended_at
        ).where(tuple_(AwayPeriod.team_id, AwayPeriod.user_id).in_(keys))
    ):
        away[period.team_id, period.user_id].append((period.started_at, period.ended_at))
    stats: dict[tuple[str, str], Stats] = {}
    for person in people:
        key = (person.team_id, person.user_id)
        zone = zone_or_utc(person.tz)
        stats[key] = movement_stats(
            completions[key],
            zone=zone,
            work_days=mask_to_days(person.work_days),
            away=days_away_in(away[key], zone=zone, now=now),
            now=now,
        )
    return stats


def as_json(row: Base) -> dict[str, object]:
    """A row's columns, with dates and times as ISO-8601 text."""
    values = {column.key: getattr(row, column.key) for column in row.__table__.columns}
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}


def export_data(db: Database, who: Who) -> dict[str, Any]:
    """Everything stored about one person, as plain JSON-ready data."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id)
        if person is None:
            return {"workspace": who.team_id, "user": who.user_id, "stored": None}
        completions = session.scalars(
            select(Completion)
            .where(Completion.team_id == who.team_id, Completion.user_id == who.user_id)
            .order_by(Completion.done_at)
        ).all()
        nudges = session.scalars(
            select(NudgeLog)
            .where(NudgeLog.team_id == who.team_id, NudgeLog.user_id == who.user_id)
            .order_by(NudgeLog.slot_at)
        ).all()
        return {
            "workspace": who.team_id,
            "user": who.user_id,
            "preferences": as_json(person),
            "completions": [as_json(c) for c in completions],
            "nudges": [as_json(n) for n in nudges],
        }
