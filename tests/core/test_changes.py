"""How a settings change applies to preferences: bounds, snooze in local time. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, time

from bot.core.changes import (
    Rejected,
    SetHours,
    SetInterval,
    SnoozeFor,
    SnoozeUntilTomorrow,
    TurnOn,
    apply_change,
)
from bot.core.preferences import Preferences

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday


def test_interval_must_fit_in_working_hours() -> None:
    short = apply_change(Preferences(), SetHours(time(9), time(9, 30)), NOW)
    assert isinstance(short, Rejected) and "shorter than the interval" in short.problem
    long = apply_change(Preferences(work_end=time(11)), SetInterval(180), NOW)
    assert isinstance(long, Rejected)
    ok = apply_change(Preferences(), SetInterval(240), NOW)
    assert isinstance(ok, Preferences) and ok.interval_minutes == 240


def test_snooze_today_ends_at_local_midnight() -> None:
    tokyo = Preferences(tz="Asia/Tokyo")
    result = apply_change(tokyo, SnoozeUntilTomorrow(days=1), NOW)  # 00:00 Thursday in Tokyo
    assert result.snoozed_until == datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    result = apply_change(tokyo, SnoozeUntilTomorrow(days=2), NOW)
    assert result.snoozed_until == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def test_snooze_for_a_duration() -> None:
    result = apply_change(Preferences(), SnoozeFor(90), NOW)
    assert result.snoozed_until == datetime(2026, 11, 25, 16, 30, tzinfo=UTC)


def test_turning_on_clears_a_stop_the_bot_made() -> None:
    stopped = Preferences(opted_in=True, stopped_reason="account_inactive")
    assert apply_change(stopped, TurnOn(), NOW).stopped_reason is None


def test_working_hours_one_interval_long_hold_no_slot_so_are_refused() -> None:
    exactly = apply_change(Preferences(), SetHours(time(9), time(10)), NOW)
    assert isinstance(exactly, Rejected)
    assert isinstance(
        apply_change(Preferences(), SetHours(time(9), time(10, 15)), NOW), Preferences
    )
