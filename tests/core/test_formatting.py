"""How working days and instants are shown to a person, in their own time. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.core.formatting import fmt_days, fmt_local

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday


def test_days_and_local_times() -> None:
    assert fmt_days(frozenset(range(5))) == "Mon–Fri"
    assert fmt_days(frozenset({0, 2, 4})) == "Mon, Wed, Fri"
    assert fmt_days(frozenset(range(7))) == "every day"
    zone = ZoneInfo("America/New_York")
    assert fmt_local(datetime(2026, 11, 25, 20, tzinfo=UTC), zone, NOW) == "today 15:00"
    assert fmt_local(datetime(2026, 11, 26, 14, tzinfo=UTC), zone, NOW) == "tomorrow 09:00"
    assert fmt_local(datetime(2026, 11, 30, 14, tzinfo=UTC), zone, NOW) == "Mon 30 Nov 09:00"
