"""A person's movement as `/psoas stats`, the Home tab and every answered stretch show it:
their completions, the days they were away (which never break a streak), and the team
stretch breaks they joined."""

from __future__ import annotations

from collections.abc import Sequence, Set
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.stats import Stats, compute_stats
from bot.data.database import Database
from bot.data.models import Completion, CompletionSource, Person
from bot.data.people import Who, find_person, to_preferences
from bot.data.presence import away_days


def stats_for_person(session: Session, person: Person, now: datetime) -> Stats:
    rows = session.execute(
        select(Completion.local_day, Completion.exercise, Completion.source).where(
            Completion.team_id == person.team_id, Completion.user_id == person.user_id
        )
    ).all()
    prefs = to_preferences(person)
    away = away_days(session, person.team_id, person.user_id, zone=prefs.zone, now=now)
    return movement_stats(rows, zone=prefs.zone, work_days=prefs.work_days, away=away, now=now)


def movement_stats(
    completions: Sequence[Sequence[Any]],
    *,
    zone: ZoneInfo,
    work_days: frozenset[int],
    away: Set[date],
    now: datetime,
) -> Stats:
    """The stats of one person's rows already read: `completions` as (local day, exercise,
    source), `away` as local days; apart so many people's rows can be read at once."""
    return compute_stats(
        [(day, exercise) for day, exercise, _ in completions],
        today=now.astimezone(zone).date(),
        work_days=work_days,
        away=away,
        team=[day for day, _, source in completions if source == CompletionSource.TEAM],
    )


def read_movement(db: Database, who: Who, *, now: datetime) -> Stats | None:
    """The person's stats, or None if we store nothing about them."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id)
        return stats_for_person(session, person, now) if person else None
