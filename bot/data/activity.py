"""Completions, nudge answers, stats and the data export: the database side of interactions.

Like `people`, every function is scoped by the (team, user) of Slack's signed payload.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, String, Table, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
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
    SummarySchedule,
    nudge_log_of,
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


# People read per query: bounds the bound parameters of SQLite's IN list (two per person),
# well under its 32,766.
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
            found.update(_stats_of(session, keys, now, db.dialect))
    return {who: found.get((who.team_id, who.user_id)) for who in whos}


_people = cast(Table, Person.__table__)
_completions = cast(Table, Completion.__table__)
_away = cast(Table, AwayPeriod.__table__)


def _of(table: Table, keys: list[tuple[str, str]], dialect: str) -> ColumnElement[bool]:
    """The rows of these people. PostgreSQL would test a long list of (team, user) pairs
    against each row in turn, so there they travel as two arrays, unnested and semi-joined
    (one index lookup per person)."""
    pair = tuple_(table.c.team_id, table.c.user_id)
    if dialect != "postgresql":
        return pair.in_(keys)
    teams = bindparam("teams", [team for team, _ in keys], type_=ARRAY(String))
    users = bindparam("users", [user for _, user in keys], type_=ARRAY(String))
    wanted = func.unnest(teams, users).table_valued("team_id", "user_id").render_derived()
    return pair.in_(select(wanted.c.team_id, wanted.c.user_id))


def _stats_of(
    session: Session, keys: list[tuple[str, str]], now: datetime, dialect: str
) -> dict[tuple[str, str], Stats]:
    # Core selects of plain columns: tens of thousands of rows without the ORM's per-row work.
    people = session.execute(
        select(_people.c.team_id, _people.c.user_id, _people.c.tz, _people.c.work_days).where(
            _of(_people, keys, dialect)
        )
    ).all()
    completions: dict[tuple[str, str], list[tuple[date, str | None, str]]] = defaultdict(list)
    for team_id, user_id, day, exercise, source in session.execute(
        select(
            _completions.c.team_id,
            _completions.c.user_id,
            _completions.c.local_day,
            _completions.c.exercise,
            _completions.c.source,
        ).where(_of(_completions, keys, dialect))
    ):
        completions[team_id, user_id].append((day, exercise, source))
    away: dict[tuple[str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for team_id, user_id, started, ended in session.execute(
        select(_away.c.team_id, _away.c.user_id, _away.c.started_at, _away.c.ended_at).where(
            _of(_away, keys, dialect)
        )
    ):
        away[team_id, user_id].append((started, ended))
    stats: dict[tuple[str, str], Stats] = {}
    for team_id, user_id, tz, work_days in people:
        key = (team_id, user_id)
        zone = zone_or_utc(tz)
        stats[key] = movement_stats(
            completions[key],
            zone=zone,
            work_days=mask_to_days(work_days),
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
            .where(nudge_log_of([who.team_id], who.user_id))
            .order_by(NudgeLog.slot_at)
        ).all()
        away = session.scalars(
            select(AwayPeriod)
            .where(AwayPeriod.team_id == who.team_id, AwayPeriod.user_id == who.user_id)
            .order_by(AwayPeriod.started_at)
        ).all()
        summary = session.get(SummarySchedule, (who.team_id, who.user_id))
        # The next weekly summary is kept in a table of its own; shown with the settings.
        next_summary = (
            summary.next_summary_at.isoformat() if summary and summary.next_summary_at else None
        )
        return {
            "workspace": who.team_id,
            "user": who.user_id,
            "preferences": {**as_json(person), "next_summary_at": next_summary},
            "completions": [as_json(c) for c in completions],
            "nudges": [as_json(n) for n in nudges],
            "away": [as_json(period) for period in away],
        }
