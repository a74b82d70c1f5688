"""When nudges happen: pure functions of (preferences, Do Not Disturb window, now).

Slots are local wall-clock times, `work_start + k * interval` for k >= 1 while strictly
before `work_end`, on working days. They are turned into instants with zoneinfo, so a DST
day keeps every slot exactly once. A slot is skipped in quiet hours and while snoozed;
inside a Do Not Disturb window it moves to the window's end if that comes before the next
slot, else it is skipped.

In a workspace too big to be sent at its slot at Slack's pace, each person's nudge starts a
stable offset after the slot (`spread_offset`): the slot stays the nudge's key, only the send
time moves, and only while the moved time is before the next slot and the end of the working
day and not in quiet hours or a snooze (else it goes at the slot, as before).

Meeting-aware nudges use the same rules: while a person is busy (a huddle, a meeting status)
the busy stretch is one more window, so a slot inside it waits for its end or is skipped; a
busy stretch with no known end holds its first slot until an event says when it ended. While
away (vacation, out sick) every slot is skipped, like a snooze, and nothing is caught up.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple, overload
from zoneinfo import ZoneInfo

from bot.core.preferences import Preferences, mask_to_days, quick_preferences, zone_or_utc
from bot.core.presence import UNTIL_CLEARED

# After downtime, a missed slot is still sent if it is under this old; older ones are dropped.
CATCH_UP_LIMIT = timedelta(minutes=15)
# Look this far ahead for the next slot: the longest snooze (14 days) plus a week of off days.
HORIZON_DAYS = 22
# A person's spread offset stays under this share of their interval, so it never reaches the
# next slot (the smallest interval, 15 minutes, allows 10).
SPREAD_SHARE = 2 / 3
NO_OFFSET = timedelta(0)


def spread_offset(
    team_id: str, user_id: str, *, window_seconds: float, interval_minutes: int
) -> timedelta:
    """How long after each slot this person's nudge starts: a stable fraction (a hash of who
    they are, the same every hour and on every replica) of their workspace's spread window,
    the time its people take to be sent at Slack's pace (0 for small workspaces)."""
    window = min(window_seconds, interval_minutes * 60 * SPREAD_SHARE)
    if window < 1:
        return NO_OFFSET
    digest = hashlib.blake2b(f"{team_id}/{user_id}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    # To the microsecond: people due together are then claimed (by send time) in one order.
    return timedelta(microseconds=int(fraction * window * 1_000_000))


@dataclass(frozen=True)
class DndWindow:
    """A Slack Do Not Disturb window, as instants (start inclusive, end exclusive)."""

    start: datetime
    end: datetime

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True)
class DndStatus:
    """What Slack tells a bot of a person's Do Not Disturb: the scheduled window only.

    `dnd.info` returns the `snooze_*` fields (a manual "pause notifications") only for the
    calling user, and `dnd_updated_user` never carries them
    (https://docs.slack.dev/reference/methods/dnd.info,
    https://docs.slack.dev/reference/events/dnd_updated_user): an ad-hoc pause is invisible
    to a bot, which is why `/psoas snooze` exists.
    """

    start: datetime | None  # the next scheduled window; it repeats daily
    end: datetime | None

    @classmethod
    def from_slack(cls, payload: dict[str, object]) -> DndStatus:
        def instant(key: str) -> datetime | None:
            value = payload.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                return None
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):  # not a time Slack would send
                return None

        scheduled = payload.get("dnd_enabled") is True
        return cls(
            start=instant("next_dnd_start_ts") if scheduled else None,
            end=instant("next_dnd_end_ts") if scheduled else None,
        )


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
    shifted: list[bool] = []  # a wall time the DST gap skips, moved forward by the gap
    for minute in range(start + prefs.interval_minutes, end, prefs.interval_minutes):
        clock = time(minute // 60, minute % 60)
        instant = _to_instant(day, clock, prefs)
        # A moved slot that lands on or after a real one gives way to it, so a wall time
        # that exists keeps its slot and the day still has each slot once.
        while instants and instant <= instants[-1] and shifted[-1]:
            instants.pop()
            shifted.pop()
        if not instants or instant > instants[-1]:
            instants.append(instant)
            shifted.append(instant.astimezone(prefs.zone).time() != clock)
    return instants


def in_quiet_hours(prefs: Preferences, instant: datetime) -> bool:
    quiet = prefs.quiet
    if quiet is None:
        return False
    return _quiet_at(instant.astimezone(prefs.zone).time(), quiet)


def _quiet_at(clock: time, quiet: tuple[time, time]) -> bool:
    """Whether a local wall time (naive) is inside quiet hours."""
    start, end = quiet
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # wraps midnight


def slots_after(prefs: Preferences, after: datetime) -> Iterator[datetime]:
    """Every slot strictly after `after`, in order, up to the horizon."""
    first_day = after.astimezone(prefs.zone).date()
    for offset in range(HORIZON_DAYS):
        for slot in slots_on(prefs, first_day + timedelta(days=offset)):
            if slot > after:
                yield slot


def _blocked(prefs: Preferences, instant: datetime) -> bool:
    return in_quiet_hours(prefs, instant) or prefs.snoozed_at(instant) or prefs.away_at(instant)


# Where a busy stretch starts does not matter: only slots not yet sent are ever placed, and
# one of those inside the stretch waits for its end whenever the stretch began.
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def busy_windows(prefs: Preferences) -> list[DndWindow]:
    """A meeting or huddle as a Do Not Disturb window, so the same rules apply to both."""
    if prefs.meetings and prefs.busy_until is not None and prefs.busy_until > _LONG_AGO:
        return [DndWindow(_LONG_AGO, prefs.busy_until)]
    return []


def end_of_dnd(instant: datetime, windows: Sequence[DndWindow]) -> datetime:
    """`instant` itself when no window covers it, else when the covering windows end."""
    moved = instant
    while covering := [w for w in windows if w.covers(moved)]:
        moved = max(w.end for w in covering)
    return moved


def _work_end_after(slot: datetime, prefs: Preferences) -> datetime:
    """The end of the working day that `slot` belongs to."""
    day = slot.astimezone(prefs.zone).date()
    return _to_instant(day, prefs.work_end, prefs)


def _spread_start(
    prefs: Preferences, slot: datetime, following: datetime | None, work_end: datetime
) -> datetime:
    """When a slot's nudge starts: its spread offset after the slot while that is before the
    next slot and the end of that working day and not blocked, else the slot itself."""
    offset = prefs.nudge_offset
    if not offset:
        return slot
    start = slot + offset
    if (following is None or start < following) and start < work_end and not _blocked(prefs, start):
        return start
    return slot


@functools.lru_cache(maxsize=4096)  # people due together share a few zones, days and hours
def _steady_offset(tz: str, day: date, start: time, end: time) -> timedelta | None:
    """The zone's UTC offset over `day`'s working window, None if it changes within it."""
    zone = zone_or_utc(tz)
    offset = datetime.combine(day, start, tzinfo=zone).utcoffset()
    return offset if datetime.combine(day, end, tzinfo=zone).utcoffset() == offset else None


def _covered(instant: datetime, windows: Sequence[DndWindow]) -> bool:
    if isinstance(windows, DailyWindows):
        return windows.covers(instant)
    return any(window.covers(instant) for window in windows)


def _next_slot_fast(
    prefs: Preferences, after: datetime
) -> tuple[datetime, datetime | None, datetime] | None:
    """The next slot without laying out whole days: on a day with no clock change in its
    working window the slots are exactly the wall times start + k * interval at one offset,
    so the first after `after` is arithmetic (a pass asks from the slot just sent, a
    settings change from any instant). Returns (that slot, the one after it if the same
    day, else None, that day's work end), or None when the shortcut does not apply and the
    general path decides."""
    work_start, work_end = prefs.work_start, prefs.work_end
    start, end = work_start.hour * 60 + work_start.minute, work_end.hour * 60 + work_end.minute
    step = prefs.interval_minutes
    first = start + step
    if first >= end or not prefs.work_days:
        return None
    interval = timedelta(minutes=step)
    local = after.astimezone(prefs.zone)
    day = local.date()
    if day.weekday() in prefs.work_days:
        offset = _steady_offset(prefs.tz, day, work_start, work_end)
        if offset is None:
            return None
        if local.utcoffset() == offset:
            # `after`'s own wall clock is the window's: count from the start of the minute
            # it is in (the seconds past it never reach the next whole interval).
            minute = local.hour * 60 + local.minute
            base = after
            if local.second or local.microsecond:
                base -= timedelta(seconds=local.second, microseconds=local.microsecond)
        else:  # `after` is across a clock change outside the window: count from its midnight
            base = datetime.combine(day, time(0), tzinfo=UTC) - offset  # wall 00:00
            minute = (after - base) // timedelta(minutes=1)
            base += timedelta(minutes=minute)
        # The first slot strictly after `after`: whole intervals since work start, plus one.
        slot_minute = start + step * ((minute - start) // step + 1) if minute > start else first
        if slot_minute < end:
            slot = base + timedelta(minutes=slot_minute - minute)
            following = slot + interval if slot_minute + step < end else None
            return slot, following, base + timedelta(minutes=end - minute)
    # Past the day's last slot: the first one of the next working day.
    ahead = next(d for d in range(1, 8) if (day.weekday() + d) % 7 in prefs.work_days)
    following_day = day + timedelta(days=ahead)
    offset = _steady_offset(prefs.tz, following_day, work_start, work_end)
    if offset is None:
        return None
    midnight = datetime.combine(following_day, time(0), tzinfo=UTC) - offset
    slot = midnight + timedelta(minutes=first)
    following = slot + interval if first + step < end else None
    return slot, following, midnight + timedelta(minutes=end)


# A blocked slot (quiet hours, Do Not Disturb) is stepped past by the shortcut this many
# times at most before whole days are laid out; a snooze or an away stretch is jumped.
FAST_STEPS = 48
# The shortcut looks no further ahead than whole days would (`HORIZON_DAYS` of local dates).
FAST_REACH = timedelta(days=HORIZON_DAYS - 2)
_JUST_BEFORE = timedelta(microseconds=1)


def next_nudge(
    prefs: Preferences, *, after: datetime, dnd: Sequence[DndWindow] = ()
) -> Nudge | None:
    """The first nudge whose slot is strictly after `after`, or None if nudges are off.

    A slot inside a busy stretch with no known end is held: its `send_at` is
    `UNTIL_CLEARED` until the event that ends the stretch places it again."""
    if not prefs.opted_in or prefs.stopped_reason:
        return None
    busy = busy_windows(prefs)
    if prefs.away_at(after):
        assert prefs.away_until is not None
        if prefs.away_until >= UNTIL_CLEARED:
            return None  # until a later event clears the status
        # Every slot until the return is skipped, however far off it is.
        after = prefs.away_until - _JUST_BEFORE
    # The common case, proven equal to the general path by a property test: the slots come
    # from the shortcut, and each is placed by the same rules as there.
    since = after
    for _ in range(FAST_STEPS):
        fast = _next_slot_fast(prefs, since)
        if fast is None or fast[0] - after > FAST_REACH:
            break
        slot, following, work_end = fast
        if prefs.snoozed_at(slot):
            assert prefs.snoozed_until is not None
            since = prefs.snoozed_until - _JUST_BEFORE
            continue
        if not _blocked(prefs, slot):
            start = _spread_start(prefs, slot, following, work_end)
            if not _covered(start, dnd) and not (busy and _covered(start, busy)):
                return Nudge(slot, start)
            placed = _deferred(prefs, slot, start, following, work_end, [*dnd, *busy])
            if placed is not None:
                return placed
        since = slot
    return _next_nudge_general(prefs, after=after, windows=[*dnd, *busy])


def _deferred(
    prefs: Preferences,
    slot: datetime,
    start: datetime,
    following: datetime | None,
    work_end: datetime,
    windows: Sequence[DndWindow],
) -> Nudge | None:
    """A slot whose start some window covers: sent when the windows end if that is still
    before the next slot, within that working day and not blocked, else None (skipped)."""
    send_at = end_of_dnd(start, windows)
    if send_at >= UNTIL_CLEARED:
        return Nudge(slot, UNTIL_CLEARED)
    if send_at == start or (
        (following is None or send_at < following)
        and send_at < work_end
        and not _blocked(prefs, send_at)
    ):
        return Nudge(slot, send_at)
    return None


def _next_nudge_general(
    prefs: Preferences, *, after: datetime, windows: Sequence[DndWindow]
) -> Nudge | None:
    """`next_nudge` by laying out each day's slots (`windows`: DND and busy stretches)."""
    if not prefs.opted_in or prefs.stopped_reason:
        return None
    if prefs.away_at(after):
        assert prefs.away_until is not None
        if prefs.away_until >= UNTIL_CLEARED:
            return None  # until a later event clears the status
        # Every slot until the return is skipped, however far off it is.
        after = prefs.away_until - _JUST_BEFORE
    slots = slots_after(prefs, after)
    slot = next(slots, None)
    while slot is not None:
        following = next(slots, None)
        if not _blocked(prefs, slot):
            work_end = _work_end_after(slot, prefs)
            start = _spread_start(prefs, slot, following, work_end)
            placed = _deferred(prefs, slot, start, following, work_end, windows)
            if placed is not None:
                return placed
        slot = following
    return None


SUMMARY_LEAD = timedelta(hours=1)


def next_summary(prefs: Preferences, *, after: datetime) -> datetime | None:
    """The weekly summary: the last working day of each week, an hour before work ends
    (16:00 for 09:00-17:00), strictly after `after`. None when it is off."""
    if not (prefs.opted_in and prefs.weekly_summary and prefs.work_days) or prefs.stopped_reason:
        return None
    local_day = after.astimezone(prefs.zone).date()
    last_weekday = max(prefs.work_days)
    end = datetime.combine(local_day, prefs.work_end) - SUMMARY_LEAD
    start = datetime.combine(local_day, prefs.work_start)
    clock = max(end, start).time()
    week_start = local_day - timedelta(days=local_day.weekday())
    for week in range(3):
        day = week_start + timedelta(days=7 * week + last_weekday)
        instant = _to_instant(day, clock, prefs)
        if instant > after:
            return instant
    return None


SUMMARY_STEP = timedelta(minutes=15)


def summary_time(
    prefs: Preferences, slot: datetime, *, dnd: Sequence[DndWindow] = ()
) -> datetime | None:
    """When a weekly summary due at `slot` can go: at once, or later the same local day
    once quiet hours, a snooze or Do Not Disturb are over; None if not that day."""
    if not prefs.opted_in or prefs.stopped_reason:
        return None
    windows = [*dnd, *busy_windows(prefs)]
    day = slot.astimezone(prefs.zone).date()
    candidate = slot
    while candidate.astimezone(prefs.zone).date() == day:
        if not _blocked(prefs, candidate) and not any(w.covers(candidate) for w in windows):
            return candidate
        candidate += SUMMARY_STEP
    return None


DAY = timedelta(days=1)


class DailyWindows(Sequence[DndWindow]):
    """A daily window repeated `days` times from a first one; each window is made only when
    asked for, and `covers` answers without making any (a claim asks it of every due row)."""

    __slots__ = ("days", "first_end", "first_start")

    def __init__(self, first_start: datetime, first_end: datetime, days: int) -> None:
        self.first_start, self.first_end, self.days = first_start, first_end, days

    def __len__(self) -> int:
        return self.days

    @overload
    def __getitem__(self, index: int) -> DndWindow: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[DndWindow]: ...
    def __getitem__(self, index: int | slice) -> DndWindow | Sequence[DndWindow]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(self.days))]
        if index < 0:
            index += self.days
        if not 0 <= index < self.days:
            raise IndexError(index)
        return DndWindow(self.first_start + index * DAY, self.first_end + index * DAY)

    def covers(self, instant: datetime) -> bool:
        """Whether any of the windows covers `instant`: only the last one starting at or
        before it can (the ends grow with the starts)."""
        if not self.days or instant < self.first_start:
            return False
        latest = min((instant - self.first_start) // DAY, self.days - 1)
        return instant < self.first_end + latest * DAY


def dnd_windows(
    *, start: datetime | None, end: datetime | None, now: datetime, days: int = HORIZON_DAYS
) -> DailyWindows:
    """Slack's scheduled DND as windows: the daily schedule repeated from its next known
    occurrence (Slack reports only the next one)."""
    if start is None or end is None or end <= start:
        return DailyWindows(now, now, 0)
    # Step back to the occurrence around `now`, then lay the daily schedule forward.
    shift = max(0, (now - end) // DAY + 1) if end <= now else 0
    first_start, first_end = start + shift * DAY, end + shift * DAY
    if first_start - DAY < now < first_end - DAY:
        first_start, first_end = first_start - DAY, first_end - DAY
    return DailyWindows(first_start, first_end, days)


def still_wanted(prefs: Preferences, nudge: Nudge) -> bool:
    """A stored nudge checked again against the settings as they are now: one saved a moment
    before `off`, a snooze or new quiet hours is not sent."""
    return bool(prefs.opted_in and not prefs.stopped_reason and not _blocked(prefs, nudge.slot))


def catch_up(
    prefs: Preferences,
    due: Nudge,
    *,
    now: datetime,
    dnd: Sequence[DndWindow] = (),
) -> tuple[Nudge | None, Nudge | None]:
    """What a pass does with a due person: (the nudge to send now, the one after it).

    After downtime only the latest slot that has come due is worth sending, and only while
    it is under CATCH_UP_LIMIT old; earlier missed slots are dropped. The next one is the
    first after that latest slot, so a nudge deferred past `now` by DND is kept."""
    latest = due
    while (following := next_nudge(prefs, after=latest.slot, dnd=dnd)) and following.send_at <= now:
        latest = following
    fresh = now - latest.send_at < CATCH_UP_LIMIT and still_wanted(prefs, latest)
    return (latest if fresh else None), following


class _Steady(NamedTuple):
    """What a claim's shortcut knows of one working pattern and due slot."""

    zone: ZoneInfo
    slot_clock: time  # the due slot's local wall time
    following: datetime  # the slot after it
    following_clock: time
    after_following: datetime | None  # the slot after that one, if on the same day
    work_end: datetime  # the end of the following slot's working day


# A working pattern: zone, work start and end, working days (as a mask), interval; as a
# claim reads them. People due together share far fewer of these than whole schedules.
WorkingPattern = tuple[str, time, time, int, int]
# A working pattern and a due slot: what the next slot follows from.
SteadyKey = tuple[str, time, time, int, int, datetime]
SteadyMemo = dict[SteadyKey, _Steady | None]


def _steady(key: SteadyKey) -> _Steady | None:
    """The slot after `key`'s due slot, as `next_nudge` finds it first (`_next_slot_fast`),
    with the local clock times the shortcut checks quiet hours against; None where the
    shortcut does not apply (a clock change in the working window, a slot too far off)."""
    tz, work_start, work_end, work_days, interval, slot = key
    pattern = quick_preferences(
        tz=tz,
        work_start=work_start,
        work_end=work_end,
        work_days=mask_to_days(work_days),
        interval_minutes=interval,
    )
    fast = _next_slot_fast(pattern, slot)
    if fast is None or fast[0] - slot > FAST_REACH:
        return None
    following, after_following, work_end_at = fast
    zone = pattern.zone
    return _Steady(
        zone,
        slot.astimezone(zone).time(),
        following,
        following.astimezone(zone).time(),
        after_following,
        work_end_at,
    )


def steady_catch_up(
    due: Nudge,
    pattern: WorkingPattern,
    quiet: tuple[time, time] | None,
    snoozed_until: datetime | None,
    dnd: Sequence[DndWindow],
    offset: timedelta,
    *,
    now: datetime,
    memo: SteadyMemo,
) -> tuple[Nudge | None, Nudge] | None:
    """`catch_up` for a claim's common case, or None when the general rules must decide.

    For an opted-in person who is not stopped, read as a claim reads them (no busy or away
    state), with a spread `offset` of zero or more. The common case: no snooze runs past
    the due slot, the due slot is on a day with no clock change in its working window, and
    the next slot is not yet due, not in quiet hours, and its start (the slot, or its
    offset after it) not in Do Not Disturb. That next slot follows from the working
    pattern and the due slot alone, which the people of one claim share: it is worked out
    once per pattern and slot (`memo`, kept for one claim), and each person adds only their
    quiet hours, snooze, DND and offset. A property test holds it equal to `catch_up`
    wherever it answers."""
    slot = due.slot
    if snoozed_until is not None and snoozed_until > slot:
        return None
    key = (*pattern, slot)
    if key in memo:
        steady = memo[key]
    else:
        steady = memo[key] = _steady(key)
    if steady is None or steady.following <= now:  # more slots came due: catch up in full
        return None
    following = steady.following
    if quiet and _quiet_at(steady.following_clock, quiet):
        return None
    start = following
    if offset:  # as `_spread_start`
        moved = following + offset
        if (
            (steady.after_following is None or moved < steady.after_following)
            and moved < steady.work_end
            and not (quiet and _quiet_at(moved.astimezone(steady.zone).time(), quiet))
        ):
            start = moved
    if dnd and _covered(start, dnd):
        return None
    # `still_wanted`, and not too late to send
    fresh = now - due.send_at < CATCH_UP_LIMIT and not (
        quiet and _quiet_at(steady.slot_clock, quiet)
    )
    return (due if fresh else None), Nudge(following, start)
