"""Durations, clock times, days and instants as a person reads them. Pure."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def fmt_minutes(minutes: int) -> str:
    """`45 min`, `2 h`, `1 h 30 min`."""
    hours, mins = divmod(minutes, 60)
    if hours and mins:
        return f"{hours} h {mins} min"
    return f"{hours} h" if hours else f"{mins} min"


def fmt_time(value: time) -> str:
    return value.strftime("%H:%M")


def fmt_days(days: frozenset[int]) -> str:
    """`every day`, `Mon–Fri` for a run of three or more, else `Mon, Wed, Fri`."""
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
