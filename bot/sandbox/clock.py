"""The sandbox's simulated clock: it stands still until the page moves it forward.

The bot reads it as its own notion of now (`build_app(clock=...)`) and every nudge pass runs
at it, so a person can skip to the next slot instead of waiting an hour for it.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Where a new sandbox starts: a working morning, twenty minutes before the first slot.
START_TIME = time(9, 40)


def working_morning(zone: ZoneInfo, today: date) -> datetime:
    """09:40 in `zone` on `today`, or on the next Monday when `today` is a weekend day."""
    day = today
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, START_TIME, tzinfo=zone).astimezone(UTC)


def next_morning(now: datetime, zone: ZoneInfo, start: time) -> datetime:
    """`start` (the person's working start) on the local day after `now`'s."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, start, tzinfo=zone).astimezone(UTC)


class SimulatedClock:
    """A clock that only moves when told to, and only forward. Thread-safe: the bot's
    request threads read it while the page moves it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def move_to(self, instant: datetime) -> datetime:
        """Set the time to `instant` if that is later; returns the time now."""
        with self._lock:
            self._now = max(self._now, instant.astimezone(UTC))
            return self._now
