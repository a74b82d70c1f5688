"""Each person's nudge preferences as a value, and how a settings command changes them. Pure."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.commands import (
    USAGE,
    WEEKDAYS,
    Change,
    ClearQuiet,
    SetDays,
    SetHours,
    SetInterval,
    SetQuiet,
    SetWeeklySummary,
    SnoozeFor,
    SnoozeOff,
    SnoozeUntilTomorrow,
    TurnOff,
    TurnOn,
)

DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


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

    @property
    def zone(self) -> ZoneInfo:
        return zone_or_utc(self.tz)

    @property
    def quiet(self) -> tuple[time, time] | None:
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return self.quiet_start, self.quiet_end

    def snoozed_at(self, now: datetime) -> bool:
        return self.snoozed_until is not None and now < self.snoozed_until


@dataclass(frozen=True)
class Rejected:
    """A change that cannot be saved, with the reason and the accepted form."""

    problem: str
    usage: str


@functools.lru_cache(maxsize=1024)
def zone_or_utc(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def minutes_between(start: time, end: time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


def _check_span(start: time, end: time, interval: int, usage_key: str) -> Rejected | None:
    span = minutes_between(start, end)
    if span <= interval:  # slots fall strictly inside working hours
        return Rejected(
            f"working hours of {fmt_minutes(span)} are shorter than the interval of "
            f"{fmt_minutes(interval)}, so no nudge would fit",
            USAGE[usage_key],
        )
    return None


def days_to_mask(days: frozenset[int]) -> int:
    return sum(1 << d for d in days)


def mask_to_days(mask: int) -> frozenset[int]:
    return frozenset(d for d in range(7) if mask & (1 << d))


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def apply_change(prefs: Preferences, change: Change, now: datetime) -> Preferences | Rejected:
    """The preferences after `change`, or why it cannot be made. `now` is timezone-aware."""
    match change:
        case TurnOn():
            return replace(prefs, opted_in=True, stopped_reason=None)
        case TurnOff():
            return replace(prefs, opted_in=False)
        case SetHours(start=start, end=end):
            rejected = _check_span(start, end, prefs.interval_minutes, "hours")
            return rejected or replace(prefs, work_start=start, work_end=end)
        case SetDays(days=days):
            if not days:
                return Rejected("choose at least one working day", USAGE["days"])
            return replace(prefs, work_days=days)
        case SetInterval(minutes=minutes):
            rejected = _check_span(prefs.work_start, prefs.work_end, minutes, "every")
            return rejected or replace(prefs, interval_minutes=minutes)
        case SetQuiet(start=start, end=end):
            return replace(prefs, quiet_start=start, quiet_end=end)
        case ClearQuiet():
            return replace(prefs, quiet_start=None, quiet_end=None)
        case SnoozeFor(minutes=minutes):
            return replace(prefs, snoozed_until=now + timedelta(minutes=minutes))
        case SnoozeUntilTomorrow(days=days):
            today = now.astimezone(prefs.zone).date()
            until = local_midnight(today + timedelta(days=days), prefs.zone)
            return replace(prefs, snoozed_until=until)
        case SnoozeOff():
            return replace(prefs, snoozed_until=None)
        case SetWeeklySummary(on=on):
            return replace(prefs, weekly_summary=on)


def fmt_minutes(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    if hours and mins:
        return f"{hours} h {mins} min"
    return f"{hours} h" if hours else f"{mins} min"


def fmt_time(value: time) -> str:
    return value.strftime("%H:%M")


def fmt_days(days: frozenset[int]) -> str:
    if days == frozenset(range(7)):
        return "every day"
    ordered = sorted(days)
    if len(ordered) >= 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_ABBREVIATIONS[ordered[0]]}–{DAY_ABBREVIATIONS[ordered[-1]]}"
    return ", ".join(DAY_ABBREVIATIONS[d] for d in ordered)


def fmt_local(instant: datetime, zone: ZoneInfo, now: datetime) -> str:
    """`today 15:00`, `tomorrow 09:00` or `Thu 27 Nov 09:00`, in the person's own time."""
    local = instant.astimezone(zone)
    today = now.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"today {clock}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow {clock}"
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b')} {clock}"
