"""Settings changes as values, and applying one to a person's preferences. Pure.

The `/psoas` grammar and the App Home controls both produce these values, so a setting
follows one set of rules whichever way it was changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Literal

from bot.core.formatting import fmt_minutes
from bot.core.preferences import Preferences, local_midnight, minutes_between

# Which setting a problem is about; the renderer shows that setting's accepted form.
Topic = Literal["hours", "days", "every", "quiet", "snooze", "summary", "meetings", "team", "home"]

MIN_INTERVAL_MINUTES = 15
MAX_INTERVAL_MINUTES = 240
MAX_SNOOZE_MINUTES = 14 * 24 * 60


@dataclass(frozen=True)
class TurnOn:
    pass


@dataclass(frozen=True)
class TurnOff:
    pass


@dataclass(frozen=True)
class SetHours:
    start: time
    end: time


@dataclass(frozen=True)
class SetDays:
    days: frozenset[int]  # 0 = Monday ... 6 = Sunday


@dataclass(frozen=True)
class SetInterval:
    minutes: int


@dataclass(frozen=True)
class SetQuiet:
    start: time
    end: time


@dataclass(frozen=True)
class ClearQuiet:
    pass


@dataclass(frozen=True)
class SnoozeFor:
    minutes: int


@dataclass(frozen=True)
class SnoozeUntilTomorrow:
    """Snooze for the rest of the local day (`today`) or through tomorrow (`tomorrow`)."""

    days: int  # 1: until the start of tomorrow; 2: until the start of the day after


@dataclass(frozen=True)
class SnoozeOff:
    pass


@dataclass(frozen=True)
class SetWeeklySummary:
    on: bool


@dataclass(frozen=True)
class SetMeetings:
    """Meeting-aware nudges: whether Slack status and huddles hold or stop nudges."""

    on: bool


CHANGE_TYPES = (
    TurnOn, TurnOff, SetHours, SetDays, SetInterval, SetQuiet, ClearQuiet,
    SnoozeFor, SnoozeUntilTomorrow, SnoozeOff, SetWeeklySummary, SetMeetings,
)  # fmt: skip
Change = (
    TurnOn | TurnOff | SetHours | SetDays | SetInterval | SetQuiet | ClearQuiet
    | SnoozeFor | SnoozeUntilTomorrow | SnoozeOff | SetWeeklySummary | SetMeetings
)  # fmt: skip


@dataclass(frozen=True)
class Rejected:
    """A change that cannot be saved: why, and which setting's accepted form to show."""

    problem: str
    topic: Topic


def _check_span(start: time, end: time, interval: int, topic: Topic) -> Rejected | None:
    span = minutes_between(start, end)
    if span <= interval:  # slots fall strictly inside working hours
        return Rejected(
            f"working hours of {fmt_minutes(span)} are shorter than the interval of "
            f"{fmt_minutes(interval)}, so no nudge would fit",
            topic,
        )
    return None


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
                return Rejected("choose at least one working day", "days")
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
        case SetMeetings(on=on):
            if on:  # what a status says counts from its next change
                return replace(prefs, meetings=True)
            # Off forgets what the last status said, and keeps nothing more of it.
            return replace(prefs, meetings=False, busy_until=None, busy_kind=None, away_until=None)
