"""Claims survive crashes: a claim a dead process left is resent once, checked in the DM
first, or abandoned when too late. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import NudgeLog, Person
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


def test_a_slot_already_logged_is_not_claimed_again_and_the_others_due_with_it_are(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A replica whose clock ran behind can store a slot that was already claimed. On
    PostgreSQL the claim's INSERT then meets the unique key, and the whole claim runs again
    skipping that slot; on SQLite the INSERT skips it. Either way the others are claimed."""
    at_ten = utc(2026, 11, 25, 10)
    for user in ("U1", "U2", "U3"):
        opt_in(db, Who("T1", user), "UTC", utc(2026, 11, 25, 9, 30))
    first, _, _ = claim_due(db, now=at_ten, worker="w")
    assert sorted(claim.user_id for claim in first) == ["U1", "U2", "U3"]
    with db.session() as session:  # U2's 10:00 stored again; U4 joins, due at 10:00 too
        session.execute(
            update(Person)
            .where(Person.user_id == "U2")
            .values(next_slot_at=at_ten, next_nudge_at=at_ten)
        )
    opt_in(db, Who("T1", "U4"), "UTC", utc(2026, 11, 25, 9, 30))

    with caplog.at_level(logging.INFO, logger="bot.engine.claims"):
        second, due, missed = claim_due(db, now=at_ten + timedelta(minutes=1), worker="w")

    assert [claim.user_id for claim in second] == ["U4"]
    assert (due, missed) == (2, 0)
    with db.session() as session:
        logged = session.execute(
            select(NudgeLog.user_id, func.count()).group_by(NudgeLog.user_id)
        ).all()
        assert sorted(tuple(row) for row in logged) == [("U1", 1), ("U2", 1), ("U3", 1), ("U4", 1)]
        # U2 moved on to 11:00 all the same: the next pass does not meet 10:00 again.
        assert session.scalar(select(Person.next_slot_at).where(Person.user_id == "U2")) == (
            at_ten + timedelta(hours=1)
        )
    if db.dialect == "postgresql":
        assert "claimed already" in caplog.text


def test_a_claims_own_writes_are_found_by_sqlalchemys_comparisons(db: Database) -> None:
    """The claim writes on the driver's own cursor. SQLite compares instants as text, so
    what it writes must be the very text SQLAlchemy binds: the log rows are found by
    `claimed_at == now` for a `now` to the microsecond in another zone, and the person by
    their next nudge."""
    from zoneinfo import ZoneInfo

    opt_in(db, Who("T1", "U1"), "UTC", utc(2026, 11, 25, 9, 30))
    now = (utc(2026, 11, 25, 10) + timedelta(microseconds=7)).astimezone(ZoneInfo("Asia/Kathmandu"))
    [claim] = claim_due(db, now=now, worker="w")[0]
    assert claim.slot == utc(2026, 11, 25, 10)
    eleven = utc(2026, 11, 25, 11)
    with db.session() as session:
        logged = session.scalars(select(NudgeLog.id).where(NudgeLog.claimed_at == now)).all()
        assert logged == [claim.log_id]
        assert session.scalar(select(NudgeLog.slot_at)) == claim.slot
        moved = session.scalars(select(Person.user_id).where(Person.next_nudge_at == eleven))
        assert moved.all() == ["U1"]


def test_people_alike_but_for_dnd_snooze_or_place_in_the_slot_each_get_their_own_nudge(
    db: Database,
) -> None:
    """A claim works out each distinct schedule once: people who share every setting share
    it, but a DND window, a snooze or a place inside the slot of their own still counts.
    Six alike at 10:00 (one with DND across 11:00, one snoozed since their next nudge was
    stored), and two alike in a workspace that spreads its slot over 20 minutes."""
    from bot.core.schedule import spread_offset
    from bot.data.models import Workspace

    for user_id in ("U1", "U2", "U3", "U4", "U5", "U6"):
        opt_in(db, Who("T1", user_id), "UTC", utc(2026, 11, 25, 9, 30))
    for user_id in ("U7", "U8"):
        opt_in(db, Who("T2", user_id), "UTC", utc(2026, 11, 25, 9, 30))
    with db.session() as session:
        people = {(p.team_id, p.user_id): p for p in session.scalars(select(Person))}
        people["T1", "U3"].dnd_start = utc(2026, 11, 25, 10, 50)
        people["T1", "U3"].dnd_end = utc(2026, 11, 25, 11, 20)
        people["T1", "U4"].snoozed_until = utc(2026, 11, 25, 12, 30)
        session.get_one(Workspace, "T2").nudge_spread_seconds = 1200

    claims, due, missed = claim_due(db, now=utc(2026, 11, 25, 10), worker="w")

    assert (due, missed) == (8, 1)  # U4's 10:00 nudge falls inside the snooze
    assert sorted(claim.user_id for claim in claims) == ["U1", "U2", "U3", "U5", "U6", "U7", "U8"]
    assert {claim.slot for claim in claims} == {utc(2026, 11, 25, 10)}
    eleven = utc(2026, 11, 25, 11)
    spread = {
        user_id: spread_offset("T2", user_id, window_seconds=1200, interval_minutes=60)
        for user_id in ("U7", "U8")
    }
    assert spread["U7"] != spread["U8"]
    with db.session() as session:
        upcoming = {
            p.user_id: (p.next_slot_at, p.next_nudge_at) for p in session.scalars(select(Person))
        }
    assert upcoming == {
        "U1": (eleven, eleven),
        "U2": (eleven, eleven),
        "U3": (eleven, utc(2026, 11, 25, 11, 20)),  # sent when their DND ends
        "U4": (utc(2026, 11, 25, 13), utc(2026, 11, 25, 13)),  # the first slot after the snooze
        "U5": (eleven, eleven),
        "U6": (eleven, eleven),
        "U7": (eleven, eleven + spread["U7"]),
        "U8": (eleven, eleven + spread["U8"]),
    }
