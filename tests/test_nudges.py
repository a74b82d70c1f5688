"""The nudge engine against the stand-in Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update

from bot import ids
from bot.core.changes import SetHours, SetInterval, SetQuiet, SetWeeklySummary, TurnOn
from bot.core.content import Library
from bot.core.schedule import DndStatus
from bot.data.activity import record_completion
from bot.data.database import Database
from bot.data.models import NudgeLog, Person
from bot.data.people import Who, change_preferences, forget, read_preferences, record_dnd
from bot.engine.claims import claim_due
from bot.engine.sender import Outcome, Sender
from bot.engine.tick import render_claim, run_tick
from bot.render.settings import settings_lines
from tests.support.slack import BOT_TOKEN, assert_valid_message
from tests.support.standin import SlackStandIn, error, rate_limited


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def sender(standin: SlackStandIn) -> Sender:
    return Sender(
        api_url=standin.api_url,
        token_for=lambda _team: BOT_TOKEN,
        rate_per_second=200,
        burst=50,
        backoff_base=0.01,
    )


def opt_in(db: Database, who: Who, tz: str, now: datetime, *changes) -> None:
    for change in (TurnOn(), *changes):
        result = change_preferences(db, who, change, now=now, timezone_of=lambda: tz)
        assert not hasattr(result, "problem"), result


def test_a_simulated_day_in_four_time_zones(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    start = utc(2026, 11, 25, 0, 0)  # Wednesday
    opt_in(db, Who("T1", "U_NY"), "America/New_York", start)
    opt_in(db, Who("T1", "U_LDN"), "Europe/London", start, SetQuiet(time(12), time(13)))
    opt_in(db, Who("T1", "U_KTM"), "Asia/Kathmandu", start, SetInterval(90))
    opt_in(db, Who("T2", "U_LHI"), "Australia/Lord_Howe", start)
    # New York's Do Not Disturb, 12:00-12:30 every day (17:00-17:30 UTC).
    dnd = DndStatus(start=utc(2026, 11, 25, 17), end=utc(2026, 11, 25, 17, 30), snooze_until=None)
    assert record_dnd(db, Who("T1", "U_NY"), dnd, now=start)

    sent: dict[str, list[datetime]] = defaultdict(list)
    now = start
    while now < utc(2026, 11, 26, 12):
        report = run_tick(db, sender, library, now=now)
        assert report.outcomes.keys() <= {"sent"}
        for call in standin.calls_to("chat.postMessage")[sum(map(len, sent.values())) :]:
            sent[call.args["channel"]].append(now)
        now += timedelta(minutes=1)

    hours = lambda day, *hs: [utc(2026, 11, day, h, m) for h, m in hs]  # noqa: E731
    assert sent["U_NY"] == hours(25, (15, 0), (16, 0), (17, 30), (18, 0), (19, 0), (20, 0), (21, 0))
    assert sent["U_LDN"] == hours(25, (10, 0), (11, 0), (13, 0), (14, 0), (15, 0), (16, 0)) + hours(
        26, (10, 0), (11, 0)
    )
    ktm = ((4, 45), (6, 15), (7, 45), (9, 15), (10, 45))
    assert sent["U_KTM"] == hours(25, *ktm) + hours(26, *ktm)
    lhi = [(h, 0) for h in range(6)]
    assert sent["U_LHI"] == hours(25, *lhi) + hours(25, (23, 0)) + hours(26, *lhi)
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


def test_rate_limits_and_outages_still_deliver_each_once(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    for n in range(20):
        opt_in(db, Who("T1", f"U{n:03d}"), "UTC", before)
    standin.script(
        "chat.postMessage",
        rate_limited(retry_after=1),
        rate_limited(retry_after=1),
        error("service_unavailable", status=503),
        error("internal_error", status=500),
        error("service_unavailable", status=503),
    )
    report = run_tick(db, sender, library, now=utc(2026, 11, 25, 10))
    assert report.sent == 20
    delivered = [c.args["channel"] for c in standin.calls_to("chat.postMessage")]
    assert len(delivered) == 25 and len(set(delivered)) == 20
    with db.session() as session:
        assert session.scalar(select(func.count()).where(NudgeLog.status == "sent")) == 20


def test_a_crash_between_claim_and_send_loses_nothing_and_doubles_nothing(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    opt_in(db, Who("T1", "U1"), "UTC", utc(2026, 11, 25, 9, 30))
    at_ten = utc(2026, 11, 25, 10)
    claims, due, _ = claim_due(db, now=at_ten, worker="crashed-process")
    assert (len(claims), due) == (1, 1)  # ...and the process dies before sending
    assert run_tick(db, sender, library, now=at_ten + timedelta(minutes=1)).sent == 0  # leased
    assert run_tick(db, sender, library, now=at_ten + timedelta(minutes=3)).sent == 1
    assert run_tick(db, sender, library, now=at_ten + timedelta(minutes=4)).sent == 0
    assert len(standin.calls_to("chat.postMessage")) == 1


def test_a_crash_noticed_after_the_grace_is_abandoned_not_sent_late(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    opt_in(db, Who("T1", "U1"), "UTC", utc(2026, 11, 25, 9, 30))
    claim_due(db, now=utc(2026, 11, 25, 10), worker="crashed-process")
    report = run_tick(db, sender, library, now=utc(2026, 11, 25, 10, 20))
    assert (report.sent, report.abandoned) == (0, 1)
    assert standin.calls_to("chat.postMessage") == []


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


def test_account_inactive_stops_that_person_with_a_reason(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    opt_in(db, Who("T1", "U_GONE"), "UTC", before)
    opt_in(db, Who("T1", "U_HERE"), "UTC", before)

    def inactive_for_one(call):
        if call.method == "chat.postMessage" and call.args.get("channel") == "U_GONE":
            return error("account_inactive")
        return None

    standin.responder = inactive_for_one
    outcomes: list[Outcome] = []
    run_tick(db, sender, library, now=utc(2026, 11, 25, 10), on_outcome=outcomes.append)
    assert sorted((o.user_id, o.kind) for o in outcomes) == [
        ("U_GONE", "person"),
        ("U_HERE", "sent"),
    ]
    prefs = read_preferences(db, Who("T1", "U_GONE"))
    assert prefs.stopped_reason == "account_inactive"
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 11)).sent == 1  # only U_HERE


def test_a_revoked_token_stops_that_workspace_only(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    opt_in(db, Who("T_REVOKED", "U1"), "UTC", before)
    opt_in(db, Who("T_OK", "U1"), "UTC", before)
    tokens = {"T_REVOKED": "xoxb-revoked", "T_OK": BOT_TOKEN}
    per_team = Sender(api_url=standin.api_url, token_for=tokens.get, backoff_base=0.01)
    standin.responder = lambda call: (
        error("token_revoked") if call.token == "xoxb-revoked" else None
    )
    report = run_tick(db, per_team, library, now=utc(2026, 11, 25, 10))
    assert report.outcomes == {"sent": 1, "workspace:token_revoked": 1}
    assert run_tick(db, per_team, library, now=utc(2026, 11, 25, 11)).due == 1
    # `status` there says why nothing comes, and who can fix it.
    paused = read_preferences(db, Who("T_REVOKED", "U1"))
    lines = " ".join(settings_lines(paused, utc(2026, 11, 25, 11)))
    assert "paused for the whole workspace" in lines and "token_revoked" in lines
    assert "Next nudge" not in lines
    assert read_preferences(db, Who("T_OK", "U1")).workspace_paused is None


def test_changing_hours_reschedules_the_next_nudge(db: Database) -> None:
    who = Who("T1", "U1")
    now = utc(2026, 11, 25, 9, 30)
    opt_in(db, who, "UTC", now, SetHours(time(13), time(17)))
    claims, due, _ = claim_due(db, now=utc(2026, 11, 25, 10), worker="w")
    assert due == 0
    claims, due, _ = claim_due(db, now=utc(2026, 11, 25, 14), worker="w")
    assert [c.slot for c in claims] == [utc(2026, 11, 25, 14)]


def test_forget_me_removes_the_nudge_log_too(db: Database, sender, library, standin) -> None:
    who = Who("T1", "U1")
    opt_in(db, who, "UTC", utc(2026, 11, 25, 9, 30))
    run_tick(db, sender, library, now=utc(2026, 11, 25, 10))
    assert forget(db, who) == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(NudgeLog)) == 0


def test_two_tick_processes_at_once_on_postgresql_send_each_once(
    postgres_db: Database, standin: SlackStandIn
) -> None:
    db, database_url = postgres_db, postgres_db.url
    before = utc(2026, 11, 25, 9, 30)
    for n in range(300):
        opt_in(db, Who("T1", f"U{n:04d}"), "UTC", before)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_API_URL": standin.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "unused-here",
        "NUDGE_RATE_PER_SECOND": "50",
    }
    command = [sys.executable, "-m", "bot.cli", "tick", "--at", "2026-11-25T10:00:00+00:00"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    delivered = [c.args["channel"] for c in standin.calls_to("chat.postMessage")]
    assert len(delivered) == 300 and len(set(delivered)) == 300


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


def test_a_crash_after_sending_but_before_recording_does_not_send_twice(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    opt_in(db, Who("T1", "U1"), "UTC", utc(2026, 11, 25, 9, 30))
    at_ten = utc(2026, 11, 25, 10)
    [claim], _, _ = claim_due(db, now=at_ten, worker="crashed-process")
    sender.send_one(render_claim(db, claim, library, now=at_ten))  # sent; then the process died
    report = run_tick(db, sender, library, now=at_ten + timedelta(minutes=3))
    assert (report.resent, report.sent) == (1, 1)  # recorded as sent, from the DM's history
    assert len(standin.calls_to("chat.postMessage")) == 1
    assert len(standin.calls_to("conversations.history")) == 1
    with db.session() as session:
        assert session.scalar(select(NudgeLog.status)) == "sent"


def test_a_deferred_nudge_comes_as_soon_as_dnd_ends_early(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    who = Who("T1", "U1")
    opt_in(db, who, "UTC", utc(2026, 11, 25, 9, 30))
    dnd = DndStatus(
        start=utc(2026, 11, 25, 9, 45), end=utc(2026, 11, 25, 10, 20), snooze_until=None
    )
    record_dnd(db, who, dnd, now=utc(2026, 11, 25, 9, 40))
    assert read_preferences(db, who).next_nudge_at == utc(2026, 11, 25, 10, 20)
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 10, 5)).sent == 0
    ended = DndStatus(start=None, end=None, snooze_until=None)
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


def test_one_broken_workspace_does_not_stop_the_others(
    db: Database, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    opt_in(db, Who("T_BROKEN", "U1"), "UTC", before)
    opt_in(db, Who("T_OK", "U1"), "UTC", before)

    def token_for(team: str) -> str:
        if team == "T_BROKEN":
            raise RuntimeError("a stored token does not decrypt")
        return BOT_TOKEN

    broken = Sender(api_url=standin.api_url, token_for=token_for, backoff_base=0.01)
    report = run_tick(db, broken, library, now=utc(2026, 11, 25, 10))
    assert report.outcomes == {"sent": 1, "failed:RuntimeError": 1}


def test_a_deactivated_account_stops_its_nudges(db: Database, app, library) -> None:
    from tests.conftest import dispatch
    from tests.support.slack import event_body

    who = Who("T0001", "U0001")
    opt_in(db, who, "UTC", utc(2026, 11, 25, 9, 30))
    event = {"type": "user_change", "user": {"id": "U0001", "deleted": True, "tz": "UTC"}}
    assert dispatch(app, event_body(event), json_body=True).status == 200
    prefs = read_preferences(db, who)
    assert prefs.stopped_reason == "account_inactive" and prefs.next_nudge_at is None


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
