"""Streaks and stats over working days. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.stats import compute_stats

WEEKDAYS = frozenset(range(5))


def stats(days: list[date], today: date, work_days=WEEKDAYS, slug: str | None = "march"):
    return compute_stats([(d, slug) for d in days], today=today, work_days=work_days)


def test_a_weekend_does_not_break_a_streak() -> None:
    # Wed, Thu, Fri, then Mon: four working days in a row.
    days = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 23)]
    result = stats(days, today=date(2026, 11, 23))
    assert (result.current_streak, result.best_streak) == (4, 4)


def test_a_skipped_working_day_breaks_it() -> None:
    days = [date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 19)]  # Wednesday missed
    result = stats(days, today=date(2026, 11, 19))
    assert (result.current_streak, result.best_streak) == (1, 2)


def test_today_is_not_over_yet() -> None:
    days = [date(2026, 11, 23), date(2026, 11, 24)]
    assert stats(days, today=date(2026, 11, 25)).current_streak == 2  # nothing yet today
    assert stats(days, today=date(2026, 11, 26)).current_streak == 0  # Wednesday passed empty


def test_weekend_work_counts_when_weekends_are_working_days() -> None:
    every_day = frozenset(range(7))
    days = [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)]
    assert stats(days, today=date(2026, 11, 23), work_days=every_day).current_streak == 3
    gap = [date(2026, 11, 20), date(2026, 11, 23)]  # the weekend was empty
    assert stats(gap, today=date(2026, 11, 23), work_days=every_day).current_streak == 1


def test_today_this_week_and_favourite() -> None:
    completions = [
        (date(2026, 11, 23), "march"),
        (date(2026, 11, 25), "half-kneel"),
        (date(2026, 11, 25), "half-kneel"),
        (date(2026, 11, 20), "march"),  # last week
    ]
    result = compute_stats(completions, today=date(2026, 11, 25), work_days=WEEKDAYS)
    assert (result.today, result.this_week, result.total) == (2, 3, 4)
    assert compute_stats([], today=date(2026, 11, 25), work_days=WEEKDAYS).favourite is None


def favourite(completions: list[tuple[date, str | None]]) -> str | None:
    return compute_stats(completions, today=date(2026, 11, 25), work_days=WEEKDAYS).favourite


def test_the_most_done_exercise_and_a_tie_broken_by_name() -> None:
    march_ahead = [(date(2026, 11, 23), "march")] * 3 + [(date(2026, 11, 24), "half-kneel")]
    assert favourite(march_ahead) == "march"
    # Two each: the tie goes to the slug first in alphabetical order, whatever the order the
    # completions were recorded in, so `/psoas stats` does not flip between answers.
    tie = [(date(2026, 11, 23), "march"), (date(2026, 11, 20), "march")]
    tie += [(date(2026, 11, 25), "half-kneel")] * 2
    assert favourite(tie) == favourite(list(reversed(tie))) == "half-kneel"
    # Completions with no exercise recorded never make a favourite.
    assert favourite([(date(2026, 11, 25), None)] * 5 + [(date(2026, 11, 25), "march")]) == "march"


def local_day(instant: datetime, zone: str) -> date:
    """How the bot stamps a completion: the person's calendar day when it happened."""
    return instant.astimezone(ZoneInfo(zone)).date()


def test_a_move_across_time_zones_keeps_the_days_recorded() -> None:
    # Two days in New York in the evening, then the person flies to Tokyo.
    monday = local_day(datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "America/New_York")
    tuesday = local_day(datetime(2026, 11, 24, 23, 30, tzinfo=UTC), "America/New_York")
    thursday_tokyo = local_day(datetime(2026, 11, 26, 1, tzinfo=UTC), "Asia/Tokyo")
    assert (monday, tuesday) == (date(2026, 11, 23), date(2026, 11, 24))
    assert thursday_tokyo == date(2026, 11, 26)
    # Wednesday (their Tuesday night is Wednesday in Tokyo) was in the air: the streak breaks
    # only on a working day with nothing; here Wednesday has nothing, so it restarts.
    result = stats([monday, tuesday, thursday_tokyo], today=thursday_tokyo)
    assert (result.current_streak, result.best_streak) == (1, 2)
    # Had they stretched on Wednesday in Tokyo, it would be unbroken.
    wednesday_tokyo = local_day(datetime(2026, 11, 25, 1, tzinfo=UTC), "Asia/Tokyo")
    unbroken = stats([monday, tuesday, wednesday_tokyo, thursday_tokyo], today=thursday_tokyo)
    assert unbroken.current_streak == 4


def test_dst_change_weekend_does_not_shift_days() -> None:
    # Late-evening completions around the end of DST in New York (Sunday 1 November 2026).
    zone = "America/New_York"
    instants = [datetime(2026, 10, 30, 3, 30, tzinfo=UTC) + timedelta(days=d) for d in range(5)]
    days = [local_day(i, zone) for i in instants]
    # Thu 29 Oct 23:30 EDT ... then 22:30 EST after the change: still one per calendar day.
    assert days == [date(2026, 10, 29) + timedelta(days=d) for d in range(5)]
    result = stats(days, today=date(2026, 11, 2))
    assert result.current_streak == 3  # Thu, Fri, Mon: the weekend neither breaks nor counts
