"""Each person's nudge preferences as a value, and the small facts derived from them. Pure."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = frozenset(range(5))


@dataclass(frozen=True)
class Preferences:
    opted_in: bool = False
    tz: str = "UTC"
    work_start: time = time(9)
    work_end: time = time(17)
    work_days: frozenset[int] = WEEKDAYS
    interval_minutes: int = 60
    quiet_start: time | None = None
    quiet_end: time | None = None
    snoozed_until: datetime | None = None
    stopped_reason: str | None = None
    weekly_summary: bool = True
    # Not a preference but what follows from them: when the engine will nudge next.
    next_nudge_at: datetime | None = None
    # Why the whole workspace is paused (Slack refused the bot's token), if it is.
    workspace_paused: str | None = None
    # Meeting-aware nudges (`/psoas meetings on|off`), and what Slack's status and huddle
    # events last said: busy until (and why: `huddle` or `meeting`), away until. Ends may be
    # `presence.UNTIL_CLEARED`; when `meetings` is off none of it is kept or used.
    meetings: bool = True
    busy_until: datetime | None = None
    busy_kind: str | None = None
    away_until: datetime | None = None
    # Not a preference either: how long after each slot this person's nudge goes out, so a
    # big workspace's nudges are spread at Slack's pace (`schedule.spread_offset`).
    nudge_offset: timedelta = timedelta(0)

    @property  # zone_or_utc caches: cheaper than a cached_property, whose first read locks
    def zone(self) -> ZoneInfo:
        return zone_or_utc(self.tz)

    @property
    def quiet(self) -> tuple[time, time] | None:
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return self.quiet_start, self.quiet_end

    def snoozed_at(self, now: datetime) -> bool:
        return self.snoozed_until is not None and now < self.snoozed_until

    def away_at(self, instant: datetime) -> bool:
        return self.meetings and self.away_until is not None and instant < self.away_until

    def busy_at(self, instant: datetime) -> bool:
        return self.meetings and self.busy_until is not None and instant < self.busy_until


_DEFAULTS = {field.name: field.default for field in fields(Preferences)}


def quick_preferences(**values: Any) -> Preferences:
    """`Preferences(**values)` at half its cost, for a claim that makes one per due person:
    a frozen dataclass's constructor sets each of its fields through `object.__setattr__`.
    Only for names that are fields (an unknown one is refused)."""
    if not values.keys() <= _DEFAULTS.keys():
        raise TypeError(f"not preferences: {sorted(values.keys() - _DEFAULTS.keys())}")
    prefs = object.__new__(Preferences)
    state = prefs.__dict__
    state.update(_DEFAULTS)
    state.update(values)
    return prefs


@functools.lru_cache(maxsize=1024)
def zone_or_utc(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def minutes_between(start: time, end: time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


def days_to_mask(days: frozenset[int]) -> int:
    return sum(1 << d for d in days)


@functools.lru_cache(maxsize=128)  # every mask there is: a claim reads thousands of rows
def mask_to_days(mask: int) -> frozenset[int]:
    return frozenset(d for d in range(7) if mask & (1 << d))


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)
