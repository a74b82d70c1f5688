"""Preferences as values: the claim's quick constructor makes the same value as the dataclass's
own, and refuses a name that is not a preference. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.core.preferences import Preferences, quick_preferences


def test_the_quick_constructor_makes_the_same_preferences_as_the_dataclass() -> None:
    values = {
        "opted_in": True,
        "tz": "Asia/Kathmandu",
        "work_start": time(8, 30),
        "work_end": time(16),
        "work_days": frozenset({0, 1, 2, 3}),
        "interval_minutes": 45,
        "quiet_start": time(12),
        "quiet_end": time(13),
        "snoozed_until": datetime(2026, 12, 2, 9, tzinfo=UTC),
        "nudge_offset": timedelta(seconds=90),
    }
    quick = quick_preferences(**values)
    assert quick == Preferences(**values)  # type: ignore[arg-type]
    # The fields not given keep their defaults, and the value stays frozen.
    assert (quick.meetings, quick.away_until, quick.weekly_summary) == (True, None, True)
    with pytest.raises(AttributeError):
        quick.opted_in = False  # type: ignore[misc]


def test_the_quick_constructor_refuses_a_name_that_is_not_a_preference() -> None:
    with pytest.raises(TypeError, match="interval"):
        quick_preferences(opted_in=True, interval=30)
