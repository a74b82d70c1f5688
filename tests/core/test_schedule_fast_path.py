"""The schedule's shortcut (the next slot is the last one plus the interval) and the spread
offset inside a slot: the shortcut always agrees with laying out whole days. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.preferences import Preferences
from bot.core.presence import UNTIL_CLEARED
from bot.core.schedule import (
    DndWindow,
    Nudge,
    _next_nudge_general,
    busy_windows,
    dnd_windows,
    next_nudge,
    slots_after,
    spread_offset,
)

# Zones with and without DST, north and south, with odd offsets, and DST changes inside
# working hours (Lord Howe's is half an hour; the Azores change at 01:00 local).
ZONES = [
    "UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata",
    "Asia/Kathmandu", "Australia/Lord_Howe", "America/St_Johns", "Atlantic/Azores",
    "Pacific/Chatham", "America/Santiago", "Europe/London",
]  # fmt: skip
# Around the DST changes of 2026 (March, April, October, November) and ordinary weeks.
STARTS = [datetime(2026, m, d, tzinfo=UTC) for m, d in [(3, 7), (3, 28), (4, 4), (10, 3),
          (10, 24), (10, 31), (6, 10), (12, 1)]]  # fmt: skip


@st.composite
def preferences(draw: st.DrawFn) -> Preferences:
    start = draw(st.integers(0, 20 * 4)) * 15
    interval = draw(st.sampled_from([15, 20, 30, 45, 60, 90, 120, 240]))
    end = min(start + interval + draw(st.integers(1, 16 * 60)), 24 * 60 - 1)
    quiet = draw(st.none() | st.tuples(st.integers(0, 24 * 4 - 1), st.integers(0, 24 * 4 - 1)))
    return Preferences(
        opted_in=True,
        tz=draw(st.sampled_from(ZONES)),
        work_start=time(start // 60, start % 60),
        work_end=time(end // 60, end % 60),
        work_days=frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        interval_minutes=interval,
        quiet_start=time(quiet[0] // 4, quiet[0] % 4 * 15) if quiet else None,
        quiet_end=time(quiet[1] // 4, quiet[1] % 4 * 15) if quiet else None,
        nudge_offset=timedelta(seconds=draw(st.integers(0, interval * 40))),
    )


@settings(max_examples=1500, deadline=None)
@given(
    prefs=preferences(),
    base=st.sampled_from(STARTS),
    hours=st.integers(0, 24 * 8),
    nth=st.integers(0, 30),
    dnd=st.none() | st.tuples(st.integers(0, 24 * 60), st.integers(1, 16 * 60)),
    snooze_minutes=st.none() | st.integers(1, 3 * 24 * 60),
    # Away until some minutes from now (or open-ended: -1), busy in a huddle or meeting.
    away_minutes=st.none() | st.just(-1) | st.integers(1, 10 * 24 * 60),
    busy_minutes=st.none() | st.just(-1) | st.integers(1, 8 * 60),
    jitter=st.booleans(),
    anywhere=st.none() | st.integers(0, 8 * 24 * 3600 * 1000),
)
def test_the_shortcut_places_every_nudge_where_whole_days_do(
    prefs: Preferences,
    base: datetime,
    hours: int,
    nth: int,
    dnd: tuple[int, int] | None,
    snooze_minutes: int | None,
    away_minutes: int | None,
    busy_minutes: int | None,
    jitter: bool,
    anywhere: int | None,
) -> None:
    now = base + timedelta(hours=hours)
    if snooze_minutes is not None:
        prefs = replace(prefs, snoozed_until=now + timedelta(minutes=snooze_minutes))

    def until(minutes: int | None) -> datetime | None:
        if minutes is None:
            return None
        return UNTIL_CLEARED if minutes < 0 else now + timedelta(minutes=minutes)

    prefs = replace(prefs, away_until=until(away_minutes), busy_until=until(busy_minutes))
    # From a real slot (as a pass asks), from just after one, or from any instant of the
    # week to the millisecond (as a settings change asks).
    slots = list(zip(range(nth + 1), slots_after(prefs, now), strict=False))
    after = slots[-1][1] if slots else now
    if jitter:
        after += timedelta(seconds=1)
    if anywhere is not None:
        after = base + timedelta(milliseconds=anywhere)
    windows: list[DndWindow] = []
    if dnd is not None:
        start = now + timedelta(minutes=dnd[0])
        windows = dnd_windows(start=start, end=start + timedelta(minutes=dnd[1]), now=now)
    general = _next_nudge_general(prefs, after=after, windows=[*windows, *busy_windows(prefs)])
    assert next_nudge(prefs, after=after, dnd=windows) == general


def test_a_spread_nudge_keeps_its_slot_and_goes_its_offset_later() -> None:
    prefs = Preferences(opted_in=True, tz="Europe/Berlin", nudge_offset=timedelta(minutes=7))
    ten = datetime(2026, 12, 2, 9, tzinfo=UTC)  # 10:00 in Berlin
    assert next_nudge(prefs, after=ten) == Nudge(
        ten + timedelta(hours=1), ten + timedelta(hours=1, minutes=7)
    )


def test_a_spread_offset_that_would_reach_quiet_hours_goes_at_the_slot() -> None:
    prefs = Preferences(
        opted_in=True,
        tz="Europe/Berlin",
        quiet_start=time(12, 5),
        quiet_end=time(13),
        nudge_offset=timedelta(minutes=7),
    )
    eleven = datetime(2026, 12, 2, 10, tzinfo=UTC)  # 11:00 in Berlin; 12:00 is a slot
    noon = eleven + timedelta(hours=1)
    assert next_nudge(prefs, after=eleven) == Nudge(noon, noon)


def test_offsets_are_stable_spread_over_the_window_and_under_the_interval() -> None:
    offsets = [
        spread_offset("T1", f"U{i:05d}", window_seconds=1200, interval_minutes=60)
        for i in range(2000)
    ]
    assert offsets == [
        spread_offset("T1", f"U{i:05d}", window_seconds=1200, interval_minutes=60)
        for i in range(2000)
    ]
    assert max(offsets) < timedelta(seconds=1200)
    # Every 2-minute part of the 20-minute window gets a tenth of the people, give or take.
    shares = [sum(1 for o in offsets if o // timedelta(minutes=2) == k) for k in range(10)]
    assert min(shares) > 150 and max(shares) < 250
    # A 15-minute interval keeps every offset under 10 minutes: never at the next slot.
    short = spread_offset("T1", "U00001", window_seconds=1e6, interval_minutes=15)
    assert short < timedelta(minutes=10)
    assert spread_offset("T1", "U00001", window_seconds=0.2, interval_minutes=60) == timedelta(0)


def test_a_snooze_or_an_away_stretch_ending_on_a_slot_leaves_that_slot_its_nudge() -> None:
    """The shortcut jumps over a snooze and an away stretch: the slot they end on is the
    first one not skipped, as laying out whole days finds it."""
    nine = datetime(2026, 12, 2, 9, tzinfo=UTC)  # a Wednesday, in UTC
    two_pm = nine + timedelta(hours=5)
    snoozed = Preferences(opted_in=True, snoozed_until=two_pm)
    away = Preferences(opted_in=True, away_until=two_pm)
    for prefs in (snoozed, away):
        assert next_nudge(prefs, after=nine) == Nudge(two_pm, two_pm)
        assert _next_nudge_general(prefs, after=nine, windows=[]) == Nudge(two_pm, two_pm)


def test_quiet_hours_longer_than_the_shortcut_steps_still_find_the_next_slot() -> None:
    """Quiet from 09:30 to 16:45 with a 15-minute interval blocks 29 slots in a row, and a
    week of them blocks more than the shortcut steps: the general path takes over."""
    prefs = Preferences(
        opted_in=True,
        work_start=time(9),
        work_end=time(17),
        interval_minutes=15,
        quiet_start=time(9, 30),
        quiet_end=time(16, 45),
    )
    nine = datetime(2026, 12, 2, 9, tzinfo=UTC)
    quarter_to_five = nine + timedelta(hours=7, minutes=45)
    assert next_nudge(prefs, after=nine + timedelta(minutes=15)) == Nudge(
        quarter_to_five, quarter_to_five
    )
    never = replace(prefs, quiet_start=time(9), quiet_end=time(17))
    assert next_nudge(never, after=nine) is None
    assert _next_nudge_general(never, after=nine, windows=[]) is None
