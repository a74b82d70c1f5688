"""Nudge passes over simulated time: who is due when, once each, against the stand-in Web API.
On SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta

from sqlalchemy import func, select, update

from bot import ids
from bot.core.changes import SetHours, SetInterval, SetQuiet
from bot.core.content import Library
from bot.core.schedule import DndStatus
from bot.data.database import Database
from bot.data.models import NudgeLog, Person, SummarySchedule
from bot.data.people import Who, read_preferences, record_dnd
from bot.engine.claims import CLAIM_LEASE, claim_due
from bot.engine.sender import Sender
from bot.engine.tick import run_tick
from tests.support.people import opt_in, utc
from tests.support.slack import BOT_TOKEN, assert_valid_message
from tests.support.standin import SlackStandIn


def next_due(db: Database) -> datetime | None:
    """The next instant a pass has work: the earliest nudge or weekly summary due, or the
    moment a claim's lease lapses. Between two of these a pass finds nothing to do."""
    with db.session() as session:
        candidates = [
            session.scalar(select(func.min(Person.next_nudge_at))),
            session.scalar(select(func.min(SummarySchedule.next_summary_at))),
        ]
        claimed = session.scalar(
            select(func.min(NudgeLog.claimed_at)).where(NudgeLog.status == "claimed")
        )
    if claimed is not None:
        candidates.append(claimed + CLAIM_LEASE + timedelta(seconds=1))
    return min((c for c in candidates if c is not None), default=None)


def test_a_simulated_day_in_four_time_zones(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    start = utc(2026, 11, 25, 0, 0)  # Wednesday
    opt_in(db, Who("T1", "U0NY"), "America/New_York", start)
    opt_in(db, Who("T1", "U0LDN"), "Europe/London", start, SetQuiet(time(12), time(13)))
    opt_in(db, Who("T1", "U0KTM"), "Asia/Kathmandu", start, SetInterval(90))
    opt_in(db, Who("T2", "U0LHI"), "Australia/Lord_Howe", start)
    # New York's Do Not Disturb, 12:00-12:30 every day (17:00-17:30 UTC).
    dnd = DndStatus(start=utc(2026, 11, 25, 17), end=utc(2026, 11, 25, 17, 30))
    assert record_dnd(db, Who("T1", "U0NY"), dnd, now=start)

    # Time jumps from one due instant to the next rather than stepping every minute; a
    # pass half-way between two of them checks that nothing is sent in the gaps.
    sent: dict[str, list[datetime]] = defaultdict(list)
    end = utc(2026, 11, 26, 12)
    now, passes = start, 0
    while now < end:
        report = run_tick(db, sender, library, now=now)
        passes += 1
        assert report.outcomes.keys() <= {"sent"}
        for call in standin.calls_to("chat.postMessage")[sum(map(len, sent.values())) :]:
            sent[call.args["channel"]].append(now)
        upcoming = next_due(db)
        assert upcoming is not None and upcoming > now, "a pass left work due behind it"
        between = now + (upcoming - now) / 2
        if between < end:
            quiet = run_tick(db, sender, library, now=between)
            assert (quiet.due, quiet.claimed, quiet.summaries, quiet.resent) == (0, 0, 0, 0)
        now = upcoming
    assert len(standin.calls_to("chat.postMessage")) == sum(map(len, sent.values()))
    assert passes < 60  # one per due instant, not one per minute

    hours = lambda day, *hs: [utc(2026, 11, day, h, m) for h, m in hs]  # noqa: E731
    assert sent["U0NY"] == hours(25, (15, 0), (16, 0), (17, 30), (18, 0), (19, 0), (20, 0), (21, 0))
    assert sent["U0LDN"] == hours(25, (10, 0), (11, 0), (13, 0), (14, 0), (15, 0), (16, 0)) + hours(
        26, (10, 0), (11, 0)
    )
    ktm = ((4, 45), (6, 15), (7, 45), (9, 15), (10, 45))
    assert sent["U0KTM"] == hours(25, *ktm) + hours(26, *ktm)
    lhi = [(h, 0) for h in range(6)]
    assert sent["U0LHI"] == hours(25, *lhi) + hours(25, (23, 0)) + hours(26, *lhi)
    for call in standin.calls_to("chat.postMessage"):
        assert call.token == BOT_TOKEN
        assert_valid_message(call.args)
        actions = next(b for b in call.args["blocks"] if b["type"] == "actions")
        assert [e["action_id"] for e in actions["elements"]] == [
            ids.ACTION_NUDGE_DONE,
            ids.ACTION_NUDGE_SNOOZE_HOUR,
            ids.ACTION_NUDGE_SKIP_TODAY,
            ids.ACTION_NUDGE_SHOW_ME,
        ]


def test_the_same_tick_twice_sends_once(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    for n in range(25):
        opt_in(db, Who("T1", f"U{n:03d}"), "UTC", before)
    at_ten = utc(2026, 11, 25, 10)
    first = run_tick(db, sender, library, now=at_ten)
    second = run_tick(db, sender, library, now=at_ten)
    assert (first.sent, second.sent, second.due) == (25, 0, 0)
    assert len(standin.calls_to("chat.postMessage")) == 25


def test_after_downtime_at_most_one_catch_up_and_only_when_fresh(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    opt_in(db, Who("T1", "U1"), "UTC", utc(2026, 11, 25, 9, 30), SetInterval(15))
    # Down from 09:30 to 10:40: 09:45 ... 10:30 were missed; 10:30 is 10 minutes old.
    report = run_tick(db, sender, library, now=utc(2026, 11, 25, 10, 40))
    assert (report.sent, report.missed) == (1, 0)
    # The next is 10:45, not one of the missed ones.
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 10, 44)).sent == 0
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 10, 45)).sent == 1
    # Down again until 11:20: 11:00 is 20 minutes old, too late; 11:15 is fresh.
    report = run_tick(db, sender, library, now=utc(2026, 11, 25, 11, 20))
    assert report.sent == 1


def test_a_stale_slot_is_dropped_when_nothing_fresh_is_due(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    opt_in(db, Who("T1", "U1"), "UTC", utc(2026, 11, 25, 9, 30))
    report = run_tick(db, sender, library, now=utc(2026, 11, 25, 10, 30))
    assert (report.sent, report.missed) == (0, 1)
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 11)).sent == 1


def test_changing_hours_reschedules_the_next_nudge(db: Database) -> None:
    who = Who("T1", "U1")
    now = utc(2026, 11, 25, 9, 30)
    opt_in(db, who, "UTC", now, SetHours(time(13), time(17)))
    claims, due, _ = claim_due(db, now=utc(2026, 11, 25, 10), worker="w")
    assert due == 0
    claims, due, _ = claim_due(db, now=utc(2026, 11, 25, 14), worker="w")
    assert [c.slot for c in claims] == [utc(2026, 11, 25, 14)]


def test_a_deferred_nudge_comes_as_soon_as_dnd_ends_early(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    who = Who("T1", "U1")
    opt_in(db, who, "UTC", utc(2026, 11, 25, 9, 30))
    dnd = DndStatus(start=utc(2026, 11, 25, 9, 45), end=utc(2026, 11, 25, 10, 20))
    record_dnd(db, who, dnd, now=utc(2026, 11, 25, 9, 40))
    assert read_preferences(db, who).next_nudge_at == utc(2026, 11, 25, 10, 20)
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 10, 5)).sent == 0
    ended = DndStatus(start=None, end=None)
    record_dnd(db, who, ended, now=utc(2026, 11, 25, 10, 10))
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 10, 10)).sent == 1


def test_a_nudge_stored_before_off_is_not_sent(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    who = Who("T1", "U1")
    opt_in(db, who, "UTC", utc(2026, 11, 25, 9, 30))
    with db.session() as session:  # `off` saved, but a racing pass wrote the next nudge back
        session.execute(update(Person).values(opted_in=False))
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 10)).sent == 0
    assert standin.calls_to("chat.postMessage") == []
