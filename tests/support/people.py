"""People as the engine finds them: opted in at a given instant, with settings applied."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.changes import Change, Rejected, TurnOn
from bot.data.database import Database
from bot.data.people import Who, change_preferences


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def opt_in(db: Database, who: Who, tz: str, now: datetime, *changes: Change) -> None:
    """`/psoas on` at `now` in time zone `tz`, then each change; each must be accepted."""
    for change in (TurnOn(), *changes):
        result = change_preferences(db, who, change, now=now, timezone_of=lambda: tz)
        assert not isinstance(result, Rejected), result
