"""Many people at once, for the claim's fairness and spread tests: inserted in bulk, each
scheduled the way `/psoas on` would have left them (their workspace's spread included)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select

from bot.core.preferences import Preferences, days_to_mask
from bot.core.schedule import next_nudge, spread_offset
from bot.data.database import Database
from bot.data.models import Person, Workspace

PREFS = Preferences(opted_in=True)  # UTC, 09:00-17:00, Monday to Friday, every hour


def add_crowd(db: Database, team_id: str, people: int, *, after: datetime, window: int = 0) -> None:
    """A workspace of `people` opted-in people, each next nudged after `after`, spread over
    `window` seconds inside each slot (as `refresh_spreads` would have set it)."""
    with db.session() as session:
        session.add(Workspace(team_id=team_id, active=True, nudge_spread_seconds=window))
    rows: list[dict[str, Any]] = []
    for index in range(people):
        user_id = f"U{index:06d}"
        offset = spread_offset(
            team_id, user_id, window_seconds=window, interval_minutes=PREFS.interval_minutes
        )
        nudge = next_nudge(Preferences(opted_in=True, nudge_offset=offset), after=after)
        assert nudge is not None
        rows.append(
            {
                "team_id": team_id,
                "user_id": user_id,
                "opted_in": True,
                "tz": PREFS.tz,
                "work_start": PREFS.work_start,
                "work_end": PREFS.work_end,
                "work_days": days_to_mask(PREFS.work_days),
                "interval_minutes": PREFS.interval_minutes,
                "next_slot_at": nudge.slot,
                "next_nudge_at": nudge.send_at,
            }
        )
    with db.engine.begin() as connection:
        connection.execute(cast(Table, Person.__table__).insert(), rows)


def spread_of(db: Database, team_id: str) -> int:
    with db.session() as session:
        return int(
            session.scalar(
                select(Workspace.nudge_spread_seconds).where(Workspace.team_id == team_id)
            )
            or 0
        )
