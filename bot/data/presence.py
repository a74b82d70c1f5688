"""The periods a person was away (their status said vacation or out sick), kept so their
streak does not break over those days. Only the instants are stored, never the status.

`people.record_presence` opens and closes them as Slack's events arrive; stats read them back
as local days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.data.models import AwayPeriod

# Days further back than this never matter to a streak worth showing.
MAX_AWAY_DAYS = 3660


def _open_period(session: Session, team_id: str, user_id: str, now: datetime) -> AwayPeriod | None:
    return session.scalars(
        select(AwayPeriod)
        .where(
            AwayPeriod.team_id == team_id,
            AwayPeriod.user_id == user_id,
            AwayPeriod.ended_at > now,
        )
        .order_by(AwayPeriod.started_at.desc())
        .limit(1)
    ).first()


def keep_away(
    session: Session, team_id: str, user_id: str, *, until: datetime, now: datetime
) -> None:
    """Away from now until `until`: the period under way is extended (or cut), else one
    begins now."""
    current = _open_period(session, team_id, user_id, now)
    if current is not None:
        current.ended_at = until
    else:
        session.add(AwayPeriod(team_id=team_id, user_id=user_id, started_at=now, ended_at=until))


def end_away(session: Session, team_id: str, user_id: str, *, now: datetime) -> None:
    """Back: any period still under way ends now."""
    session.execute(
        update(AwayPeriod)
        .where(
            AwayPeriod.team_id == team_id,
            AwayPeriod.user_id == user_id,
            AwayPeriod.ended_at > now,
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


def away_days(
    session: Session, team_id: str, user_id: str, *, zone: ZoneInfo, now: datetime
) -> frozenset[date]:
    """Every local day (in `zone`) on which the person was away at some moment, up to today."""
    periods = session.execute(
        select(AwayPeriod.started_at, AwayPeriod.ended_at).where(
            AwayPeriod.team_id == team_id, AwayPeriod.user_id == user_id
        )
    ).all()
    return days_away_in(periods, zone=zone, now=now)


def days_away_in(
    periods: Iterable[tuple[datetime, datetime]], *, zone: ZoneInfo, now: datetime
) -> frozenset[date]:
    """`away_days` of periods already read (for many people read at once)."""
    days: set[date] = set()
    today = now.astimezone(zone).date()
    for started, ended in periods:
        first = started.astimezone(zone).date()
        back = min(ended, now)
        if back > started:
            back -= timedelta(microseconds=1)  # back at midnight: that day was not away
        last = min(back.astimezone(zone).date(), today)
        first = max(first, today - timedelta(days=MAX_AWAY_DAYS))
        day = first
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return frozenset(days)
