"""The schedule's shortcuts and the spread offset inside a slot: the next slot as the last one
plus the interval always agrees with laying out whole days, and a claim's shortcut
(`steady_catch_up`) with `catch_up` wherever it answers. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.preferences import Preferences, days_to_mask
from bot.core.presence import UNTIL_CLEARED
from bot.core.schedule import (
    DndWindow,
    Nudge,
    SteadyMemo,
    _next_nudge_general,
    busy_windows,
    catch_up,
    dnd_windows,
    next_nudge,
    slots_after,
    spread_offset,
    steady_catch_up,
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


def claims_shortcut(
    prefs: Preferences, due: Nudge, *, now: datetime, dnd: Sequence[DndWindow], memo: SteadyMemo
) -> tuple[Nudge | None, Nudge] | None:
    """The shortcut as a claim asks it, from the person's preferences."""
    pattern = (
        prefs.tz,
        prefs.work_start,
        prefs.work_end,
        days_to_mask(prefs.work_days),
        prefs.interval_minutes,
    )
    return steady_catch_up(
        due, pattern, prefs.quiet, prefs.snoozed_until, dnd, prefs.nudge_offset, now=now, memo=memo
    )


# One memo for every example, as one claim's people share it: an entry that depended on
# something its key leaves out would answer a later example wrongly.
SHARED_MEMO: SteadyMemo = {}


@settings(max_examples=2000, deadline=None)
@given(
    prefs=preferences(),
    base=st.sampled_from(STARTS),
    hours=st.integers(0, 24 * 8),
    nth=st.integers(0, 12),
    # The stored send time: the slot, or later (a spread offset, the end of DND), in minutes.
    deferred=st.integers(0, 3 * 60) | st.just(0),
    # How long after its send time the nudge is claimed (downtime: hours).
    late_seconds=st.integers(0, 5 * 3600) | st.integers(0, 90),
    dnd=st.none() | st.tuples(st.integers(-24 * 60, 24 * 60), st.integers(1, 16 * 60)),
    snooze_minutes=st.none() | st.integers(-3 * 60, 3 * 24 * 60),
)
def test_a_claims_shortcut_answers_as_catch_up_does_or_leaves_it_to_catch_up(
    prefs: Preferences,
    base: datetime,
    hours: int,
    nth: int,
    deferred: int,
    late_seconds: int,
    dnd: tuple[int, int] | None,
    snooze_minutes: int | None,
) -> None:
    """Any due stored nudge, claimed on time or after downtime: the shortcut gives exactly
    what `catch_up` gives, or None; asked twice, from a memo every example shares."""
    slots = list(
        zip(range(nth + 1), slots_after(prefs, base + timedelta(hours=hours)), strict=False)
    )
    if not slots:
        return
    slot = slots[-1][1]
    due = Nudge(slot, slot + timedelta(minutes=deferred))
    now = due.send_at + timedelta(seconds=late_seconds)
    if snooze_minutes is not None:
        prefs = replace(prefs, snoozed_until=slot + timedelta(minutes=snooze_minutes))
    windows: Sequence[DndWindow] = ()
    if dnd is not None:
        start = now + timedelta(minutes=dnd[0])
        windows = dnd_windows(start=start, end=start + timedelta(minutes=dnd[1]), now=now)
    for _ in range(2):
        quick = claims_shortcut(prefs, due, now=now, dnd=windows, memo=SHARED_MEMO)
        if quick is not None:
            assert quick == catch_up(prefs, due, now=now, dnd=windows)


BERLIN_NINE_TO_FIVE = Preferences(opted_in=True, tz="Europe/Berlin")


def test_a_claims_shortcut_answers_an_ordinary_hour_and_shares_its_slot_math() -> None:
    ten = datetime(2026, 12, 2, 9, tzinfo=UTC)  # 10:00 in Berlin, a Wednesday
    due = Nudge(ten, ten)
    memo: SteadyMemo = {}
    for now in (ten, ten + timedelta(minutes=14)):
        answer = claims_shortcut(BERLIN_NINE_TO_FIVE, due, now=now, dnd=(), memo=memo)
        assert answer == (due, Nudge(ten + timedelta(hours=1), ten + timedelta(hours=1)))
    # Past the catch-up limit: not sent, and the next one still comes at 11:00.
    late = claims_shortcut(
        BERLIN_NINE_TO_FIVE, due, now=ten + timedelta(minutes=15), dnd=(), memo=memo
    )
    assert late == (None, Nudge(ten + timedelta(hours=1), ten + timedelta(hours=1)))
    assert len(memo) == 1  # one working pattern and slot, worked out once
    # The day's last slot (16:00): the next is Thursday's first, at 10:00.
    four = ten + timedelta(hours=6)
    answer = claims_shortcut(BERLIN_NINE_TO_FIVE, Nudge(four, four), now=four, dnd=(), memo=memo)
    assert answer == (Nudge(four, four), Nudge(ten + timedelta(days=1), ten + timedelta(days=1)))


def test_a_claims_shortcut_leaves_quiet_hours_dnd_snoozes_and_downtime_to_catch_up() -> None:
    ten = datetime(2026, 12, 2, 9, tzinfo=UTC)  # 10:00 in Berlin
    due = Nudge(ten, ten)
    eleven, noon = ten + timedelta(hours=1), ten + timedelta(hours=2)
    quiet = replace(BERLIN_NINE_TO_FIVE, quiet_start=time(11), quiet_end=time(12))
    dnd = dnd_windows(start=eleven, end=eleven + timedelta(minutes=30), now=ten)
    snoozed = replace(BERLIN_NINE_TO_FIVE, snoozed_until=ten + timedelta(hours=3))
    for prefs, windows, now, answer in [
        # The next slot is in quiet hours: skipped, the one after comes.
        (quiet, (), ten, (due, Nudge(noon, noon))),
        # ... or in Do Not Disturb: it waits for the end.
        (BERLIN_NINE_TO_FIVE, dnd, ten, (due, Nudge(eleven, eleven + timedelta(minutes=30)))),
        # Snoozed past the due slot: not sent, and the first slot after the snooze is next.
        (snoozed, (), ten, (None, Nudge(ten + timedelta(hours=3), ten + timedelta(hours=3)))),
        # The next slot came due too (downtime): that one is sent instead.
        (BERLIN_NINE_TO_FIVE, (), eleven, (Nudge(eleven, eleven), Nudge(noon, noon))),
    ]:
        assert claims_shortcut(prefs, due, now=now, dnd=windows, memo={}) is None
        assert catch_up(prefs, due, now=now, dnd=windows) == answer
