"""Schedule math: slots in local time, DST, quiet hours, snooze, Do Not Disturb. Pure."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.preferences import Preferences
from bot.core.schedule import DndStatus, DndWindow, catch_up, dnd_windows, next_nudge, slots_on

EVERY_DAY = frozenset(range(7))


def prefs(**changes) -> Preferences:
    return Preferences(opted_in=True, **changes)


def local_clocks(p: Preferences, day: date) -> list[str]:
    return [s.astimezone(p.zone).strftime("%H:%M") for s in slots_on(p, day)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_hourly_slots_strictly_inside_working_hours() -> None:
    p = prefs(tz="America/New_York")
    wednesday = date(2026, 11, 25)
    assert local_clocks(p, wednesday) == [f"{h:02d}:00" for h in range(10, 17)]
    assert slots_on(p, wednesday)[0] == utc(2026, 11, 25, 15)
    assert slots_on(p, date(2026, 11, 28)) == []  # Saturday is not a working day


def test_new_york_spring_forward_keeps_every_working_slot_at_its_wall_time() -> None:
    p = prefs(tz="America/New_York", work_days=EVERY_DAY)
    before, on_the_day = date(2026, 3, 7), date(2026, 3, 8)  # DST starts 8 March 2026
    assert local_clocks(p, before) == local_clocks(p, on_the_day)
    assert slots_on(p, before)[0] == utc(2026, 3, 7, 15)  # 10:00 EST
    assert slots_on(p, on_the_day)[0] == utc(2026, 3, 8, 14)  # 10:00 EDT


def test_new_york_skipped_hour_is_never_doubled() -> None:
    p = prefs(tz="America/New_York", work_days=EVERY_DAY, work_start=time(0), work_end=time(6))
    slots = slots_on(p, date(2026, 3, 8))  # 02:00 does not exist that night
    assert len(slots) == len(set(slots)) == 4
    assert slots == [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8), utc(2026, 3, 8, 9)]


def test_new_york_repeated_hour_is_nudged_once() -> None:
    p = prefs(
        tz="America/New_York",
        work_days=EVERY_DAY,
        work_start=time(0),
        work_end=time(4),
        interval_minutes=30,
    )
    slots = slots_on(p, date(2026, 11, 1))  # 01:00-02:00 happens twice
    assert local_clocks(p, date(2026, 11, 1)) == [
        "00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30",
    ]  # fmt: skip
    assert slots[1] == utc(2026, 11, 1, 5)  # 01:00 EDT, the first of the two
    assert slots[3] == utc(2026, 11, 1, 7)  # 02:00 EST


def test_london_weeks_either_side_of_the_clock_change() -> None:
    p = prefs(tz="Europe/London")
    assert slots_on(p, date(2026, 3, 27))[0] == utc(2026, 3, 27, 10)  # Friday, GMT
    assert slots_on(p, date(2026, 3, 30))[0] == utc(2026, 3, 30, 9)  # Monday, BST


def test_lord_howe_half_hour_shift() -> None:
    p = prefs(
        tz="Australia/Lord_Howe",
        work_days=EVERY_DAY,
        work_start=time(0),
        work_end=time(4),
        interval_minutes=30,
    )
    day = date(2026, 4, 5)  # clocks go back from 02:00 to 01:30
    slots = slots_on(p, day)
    assert len(slots) == len(set(slots)) == 7
    assert all(b - a >= timedelta(minutes=30) for a, b in itertools.pairwise(slots))
    monday = slots_on(prefs(tz="Australia/Lord_Howe"), date(2026, 4, 6))
    assert monday[0] == utc(2026, 4, 5, 23, 30)  # 10:00 at +10:30


def test_kathmandu_quarter_hour_offset() -> None:
    p = prefs(tz="Asia/Kathmandu")
    assert slots_on(p, date(2026, 11, 25))[0] == utc(2026, 11, 25, 4, 15)


def test_quiet_hours_across_midnight() -> None:
    p = prefs(
        tz="Europe/Berlin",
        work_start=time(6),
        work_end=time(23),
        quiet_start=time(22),
        quiet_end=time(7),
    )
    now = utc(2026, 11, 25, 20, 30)  # 21:30 in Berlin
    first = next_nudge(p, after=now)
    assert first.slot.astimezone(p.zone).strftime("%a %H:%M") == "Thu 07:00"


def test_quiet_hours_at_lunch() -> None:
    p = prefs(tz="UTC", quiet_start=time(12), quiet_end=time(13))
    nudge = next_nudge(p, after=utc(2026, 11, 25, 11))
    assert nudge.slot == utc(2026, 11, 25, 13)


def test_a_time_zone_change_moves_the_next_nudge() -> None:
    now = utc(2026, 11, 25, 12)
    in_new_york = next_nudge(prefs(tz="America/New_York"), after=now - timedelta(microseconds=1))
    in_tokyo = next_nudge(prefs(tz="Asia/Tokyo"), after=now - timedelta(microseconds=1))
    assert in_new_york.slot == utc(2026, 11, 25, 15)  # 10:00 today in New York
    assert in_tokyo.slot == utc(2026, 11, 26, 1)  # 10:00 Thursday in Tokyo


def test_snooze_across_days() -> None:
    p = prefs(tz="UTC", snoozed_until=utc(2026, 11, 27, 12))
    assert next_nudge(p, after=utc(2026, 11, 25, 9)).slot == utc(2026, 11, 27, 12)
    weekend = prefs(tz="UTC", snoozed_until=utc(2026, 11, 27, 17))
    assert next_nudge(weekend, after=utc(2026, 11, 25, 9)).slot == utc(2026, 11, 30, 10)


def test_off_stopped_or_no_working_day_means_no_nudge() -> None:
    now = utc(2026, 11, 25, 9)
    assert next_nudge(Preferences(), after=now) is None
    assert next_nudge(prefs(stopped_reason="account_inactive"), after=now) is None


def test_dnd_defers_to_the_end_of_the_window_when_before_the_next_slot() -> None:
    p = prefs(tz="UTC")
    dnd = [DndWindow(utc(2026, 11, 25, 9, 30), utc(2026, 11, 25, 10, 20))]
    nudge = next_nudge(p, after=utc(2026, 11, 25, 9), dnd=dnd)
    assert (nudge.slot, nudge.send_at) == (utc(2026, 11, 25, 10), utc(2026, 11, 25, 10, 20))


def test_dnd_past_the_next_slot_skips_the_covered_slots() -> None:
    p = prefs(tz="UTC")
    dnd = [DndWindow(utc(2026, 11, 25, 9, 30), utc(2026, 11, 25, 11, 30))]
    nudge = next_nudge(p, after=utc(2026, 11, 25, 9), dnd=dnd)
    # 10:00 would wait past 11:00, so it is skipped; 11:00 waits until 11:30.
    assert (nudge.slot, nudge.send_at) == (utc(2026, 11, 25, 11), utc(2026, 11, 25, 11, 30))


def test_dnd_schedule_repeats_daily_from_what_slack_reported() -> None:
    # Slack said on Monday: DND 12:00-14:00 UTC. On Wednesday that window still applies.
    status = DndStatus.from_slack(
        {
            "dnd_enabled": True,
            "next_dnd_start_ts": utc(2026, 11, 23, 12).timestamp(),
            "next_dnd_end_ts": utc(2026, 11, 23, 14).timestamp(),
            "snooze_enabled": False,
        }
    )
    now = utc(2026, 11, 25, 11, 30)
    windows = dnd_windows(start=status.start, end=status.end, now=now)
    nudge = next_nudge(prefs(tz="UTC"), after=now, dnd=windows)
    assert nudge.slot == utc(2026, 11, 25, 14)  # 12:00 and 13:00 fall inside; 14:00 is free


def test_snooze_fields_slack_sends_only_to_the_person_themselves_are_not_read() -> None:
    # dnd.info answers the caller's own snooze; a bot asking about someone else gets none,
    # and dnd_updated_user carries none. A payload that had them must not make a window.
    status = DndStatus.from_slack(
        {"dnd_enabled": False, "snooze_enabled": True, "snooze_endtime": 1_800_000_000}
    )
    assert status == DndStatus(start=None, end=None)


@pytest.mark.parametrize("stamp", [1e20, -5, "1764000000", True, float("nan")])
def test_a_dnd_time_slack_would_never_send_is_ignored(stamp: object) -> None:
    status = DndStatus.from_slack(
        {"dnd_enabled": True, "next_dnd_start_ts": stamp, "next_dnd_end_ts": stamp}
    )
    assert status == DndStatus(start=None, end=None)


ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu",
         "Pacific/Chatham", "America/St_Johns", "UTC"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    start=st.integers(0, 20 * 4),
    length=st.integers(4, 16 * 4),
    interval=st.sampled_from([15, 30, 45, 60, 90, 120, 240]),
)
def test_slots_are_ordered_unique_and_land_on_their_wall_times(
    zone: str, day: date, start: int, length: int, interval: int
) -> None:
    begin = time(start // 4, (start % 4) * 15)
    end_minutes = min(start * 15 + length * 15, 23 * 60 + 59)
    end = time(end_minutes // 60, end_minutes % 60)
    p = prefs(tz=zone, work_start=begin, work_end=end, work_days=EVERY_DAY,
              interval_minutes=interval)  # fmt: skip
    tz = ZoneInfo(zone)
    walls = [time(m // 60, m % 60) for m in range(start * 15 + interval, end_minutes, interval)]
    resolved = [datetime.combine(day, w, tzinfo=tz).astimezone(UTC) for w in walls]
    slots = slots_on(p, day)
    assert slots == sorted(set(slots))
    # Every slot is one of the wall times (one in a skipped hour moved forward by the gap,
    # unless that overtakes a real one); every wall time that exists that day has a slot.
    assert set(slots) <= set(resolved)
    if all(a < b for a, b in itertools.pairwise(resolved)):
        assert set(slots) == set(resolved)
    for w in walls:
        local = datetime.combine(day, w, tzinfo=tz)
        exists = local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local.replace(
            tzinfo=None
        )
        if exists:
            assert local.astimezone(UTC) in slots


def test_a_slot_in_the_skipped_hour_does_not_swallow_the_next_one() -> None:
    p = prefs(
        tz="America/New_York", work_days=EVERY_DAY, work_start=time(0), work_end=time(4),
        interval_minutes=45,
    )  # fmt: skip
    clocks = local_clocks(p, date(2026, 3, 8))  # 02:00-03:00 does not exist that night
    assert clocks[:2] == ["00:45", "01:30"] and clocks[-1] == "03:45"
    assert "03:00" in clocks  # a wall time that exists keeps its slot


@pytest.mark.parametrize("zone", ZONES)
def test_a_year_of_working_days_has_every_slot_once(zone: str) -> None:
    p = prefs(tz=zone)
    seen: set[datetime] = set()
    after = datetime(2026, 1, 1, tzinfo=p.zone)
    year_end = datetime(2027, 1, 1, tzinfo=p.zone)
    count = 0
    while (nudge := next_nudge(p, after=after)) and nudge.slot < year_end:
        assert nudge.slot not in seen
        assert nudge.slot.astimezone(p.zone).minute == 0
        seen.add(nudge.slot)
        after = nudge.slot
        count += 1
    working_days = sum(
        1 for d in range(365) if (date(2026, 1, 1) + timedelta(days=d)).weekday() < 5
    )
    assert count == working_days * 7


def test_a_stored_nudge_is_checked_again_against_the_current_settings() -> None:
    due = next_nudge(prefs(tz="UTC"), after=utc(2026, 11, 25, 9))
    now = due.slot + timedelta(seconds=5)
    assert catch_up(prefs(tz="UTC"), due, now=now)[0] == due
    assert catch_up(Preferences(tz="UTC"), due, now=now) == (None, None)  # turned off since
    snoozed = prefs(tz="UTC", snoozed_until=utc(2026, 11, 25, 12))
    assert catch_up(snoozed, due, now=now)[0] is None


def test_dnd_never_carries_a_nudge_past_the_end_of_its_working_day() -> None:
    # Notifications paused on Friday at 15:50 until Monday 08:30.
    friday = prefs(tz="UTC")
    windows = [DndWindow(utc(2026, 11, 27, 15, 50), utc(2026, 11, 30, 8, 30))]
    nudge = next_nudge(friday, after=utc(2026, 11, 27, 15, 55), dnd=windows)
    assert nudge.slot == utc(2026, 11, 30, 10) and nudge.send_at == nudge.slot
    late = [DndWindow(utc(2026, 11, 25, 15, 50), utc(2026, 11, 25, 17, 45))]
    nudge = next_nudge(friday, after=utc(2026, 11, 25, 15, 55), dnd=late)
    assert nudge.slot == utc(2026, 11, 26, 10)  # not 16:00 moved to 17:45, after work
