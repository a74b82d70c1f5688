"""When nudges happen: pure functions of (preferences, Do Not Disturb window, now).

Slots are local wall-clock times, `work_start + k * interval` for k >= 1 while strictly
before `work_end`, on working days. They are turned into instants with zoneinfo, so a DST
day keeps every slot exactly once. A slot is skipped in quiet hours and while snoozed;
inside a Do Not Disturb window it moves to the window's end if that comes before the next
slot, else it is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.preferences import Preferences

# After downtime, a missed slot is still sent if it is under this old; older ones are dropped.
CATCH_UP_LIMIT = timedelta(minutes=15)
# Look this far ahead for the next slot: the longest snooze (14 days) plus a week of off days.
HORIZON_DAYS = 22


@dataclass(frozen=True)
class DndWindow:
    """A Slack Do Not Disturb window, as instants (start inclusive, end exclusive)."""

    start: datetime
    end: datetime

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True)
class Nudge:
    slot: datetime  # the nominal slot, the key that makes each nudge unique
    send_at: datetime  # when to send: the slot itself, or the end of a DND window


def _to_instant(day: date, clock: time, prefs: Preferences) -> datetime:
    # fold=0: in a repeated hour, the first occurrence; in a skipped hour, the wall time
    # shifted forward by the gap, which is when a person would expect it.
    local = datetime.combine(day, clock, tzinfo=prefs.zone)
    return local.astimezone(UTC)


def slots_on(prefs: Preferences, day: date) -> list[datetime]:
    """The slot instants on one local date, in order, without duplicates."""
    if day.weekday() not in prefs.work_days:
        return []
    start = prefs.work_start.hour * 60 + prefs.work_start.minute
    end = prefs.work_end.hour * 60 + prefs.work_end.minute
    instants: list[datetime] = []
    for minute in range(start + prefs.interval_minutes, end, prefs.interval_minutes):
        instant = _to_instant(day, time(minute // 60, minute % 60), prefs)
        if not instants or instant > instants[-1]:
            instants.append(instant)
    return instants


def in_quiet_hours(prefs: Preferences, instant: datetime) -> bool:
    quiet = prefs.quiet
    if quiet is None:
        return False
    local = instant.astimezone(prefs.zone).time().replace(tzinfo=None)
    start, end = quiet
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps midnight


def slots_after(prefs: Preferences, after: datetime) -> Iterator[datetime]:
    """Every slot strictly after `after`, in order, up to the horizon."""
    first_day = after.astimezone(prefs.zone).date()
    for offset in range(HORIZON_DAYS):
        for slot in slots_on(prefs, first_day + timedelta(days=offset)):
            if slot > after:
                yield slot


def _blocked(prefs: Preferences, instant: datetime) -> bool:
    return in_quiet_hours(prefs, instant) or prefs.snoozed_at(instant)


def next_nudge(
    prefs: Preferences, *, after: datetime, dnd: DndWindow | None = None
) -> Nudge | None:
    """The first nudge whose slot is strictly after `after`, or None if nudges are off."""
    if not prefs.opted_in or prefs.stopped_reason:
        return None
    slots = slots_after(prefs, after)
    slot = next(slots, None)
    while slot is not None:
        following = next(slots, None)
        if not _blocked(prefs, slot):
            if dnd is None or not dnd.covers(slot):
                return Nudge(slot, slot)
            moved = dnd.end
            if (following is None or moved < following) and not _blocked(prefs, moved):
                return Nudge(slot, moved)
        slot = following
    return None


def upcoming(prefs: Preferences, *, now: datetime, dnd: DndWindow | None = None) -> Nudge | None:
    """What `status` shows: the next nudge at or after `now`."""
    return next_nudge(prefs, after=now - timedelta(microseconds=1), dnd=dnd)


def decide_due(nudge: Nudge, now: datetime) -> bool:
    """Send a due nudge now? Only if it is not too late: at most one catch-up after downtime."""
    return nudge.send_at <= now and now - nudge.send_at < CATCH_UP_LIMIT
