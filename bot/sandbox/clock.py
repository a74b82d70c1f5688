"""The sandbox's simulated clock: it runs at the speed of real time from a working morning,
and jumps forward when the page asks (to the next slot, an hour on, the next morning).

The bot reads it as its own notion of now (`build_app(clock=...)`) and every nudge pass runs
at it, so a person can skip to the next slot instead of waiting an hour for it; and since
it runs between jumps, a button pressed a few seconds after a nudge is pressed a few
seconds after it, as in Slack.
"""

from __future__ import annotations

import threading
import time as time_module
from collections.abc import Callable
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
    """Real time, shifted: `start` plus the real seconds since, plus every jump. It only
    moves forward. Thread-safe: the bot's request threads read it while the page moves it."""

    def __init__(
        self, start: datetime, *, monotonic: Callable[[], float] = time_module.monotonic
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start")
        self._monotonic = monotonic
        self._base = start.astimezone(UTC)
        self._since = monotonic()
        self._lock = threading.Lock()

    def _now(self) -> datetime:
        return self._base + timedelta(seconds=self._monotonic() - self._since)

    def __call__(self) -> datetime:
        with self._lock:
            return self._now()

    def move_to(self, instant: datetime) -> datetime:
        """Jump to `instant` if that is later; returns the time now."""
        with self._lock:
            if instant > self._now():
                self._base, self._since = instant.astimezone(UTC), self._monotonic()
            return self._now()
