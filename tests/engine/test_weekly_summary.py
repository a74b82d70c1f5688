"""The weekly summary DM: once, on the last working day's afternoon, never in quiet hours,
and not at all when turned off. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import time, timedelta

from bot.core.changes import SetQuiet, SetWeeklySummary
from bot.core.content import Library
from bot.data.activity import record_completion
from bot.data.database import Database
from bot.data.people import Who, read_preferences
from bot.engine.sender import Sender
from bot.engine.tick import run_tick
from tests.support.people import opt_in, utc
from tests.support.slack import assert_valid_message
from tests.support.standin import SlackStandIn


def summaries(standin: SlackStandIn) -> list:
    return [
        c for c in standin.calls_to("chat.postMessage") if "Your week in movement" in c.args["text"]
    ]


def test_weekly_summary_on_the_last_working_day_afternoon_once(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    who = Who("T1", "U1")
    opt_in(db, who, "Europe/London", utc(2026, 11, 23, 8))  # Monday
    for day in (23, 24, 25):
        record_completion(
            db, who, now=utc(2026, 11, day, 12), exercise="march", source="exercise",
            dedupe_key=f"m{day}", timezone_of=lambda: "UTC",
        )  # fmt: skip
    for minute in range(-2, 3):  # Friday 15:58 ... 16:02 in London (UTC in winter)
        run_tick(db, sender, library, now=utc(2026, 11, 27, 16) + timedelta(minutes=minute))
    [summary] = summaries(standin)
    assert_valid_message(summary.args)
    assert "stretched 3 times" in summary.args["text"]
    assert "summary off" in str(summary.args["blocks"])
    prefs = read_preferences(db, who)
    assert prefs.weekly_summary


def test_weekly_summary_can_be_turned_off(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    who = Who("T1", "U1")
    opt_in(db, who, "UTC", utc(2026, 11, 23, 8), SetWeeklySummary(False))
    run_tick(db, sender, library, now=utc(2026, 11, 27, 16))
    assert summaries(standin) == []
    assert len(standin.calls_to("chat.postMessage")) == 1  # the 16:00 nudge itself


def test_a_weekly_summary_waits_for_quiet_hours_to_end(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    who = Who("T1", "U1")
    opt_in(db, who, "UTC", utc(2026, 11, 23, 8), SetQuiet(time(15, 30), time(17)))
    run_tick(db, sender, library, now=utc(2026, 11, 27, 16))
    assert summaries(standin) == []  # not in quiet hours...
    run_tick(db, sender, library, now=utc(2026, 11, 27, 16, 45))
    assert summaries(standin) == []
    run_tick(db, sender, library, now=utc(2026, 11, 27, 17))
    assert len(summaries(standin)) == 1  # ...but as soon as they end
    run_tick(db, sender, library, now=utc(2026, 11, 27, 17, 15))
    assert len(summaries(standin)) == 1
