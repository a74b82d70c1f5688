"""Claims survive crashes: a claim a dead process left is resent once, checked in the DM
first, or abandoned when too late. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import NudgeLog
from bot.data.people import Who
from bot.engine.claims import claim_due
from bot.engine.sender import Sender
from bot.engine.tick import render_claim, run_tick
from tests.support.people import opt_in, utc
from tests.support.standin import SlackStandIn


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
