"""Who is due comes from the wake-up queue, and the person's own row learns their next nudge
after the claim. Whatever happens between the two (a crash, a settings change, `forget me`,
a wake-up gone stale), each nudge goes out once and the schedule stays the person's. On
SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from bot.core.changes import SetInterval
from bot.core.content import Library
from bot.core.preferences import Preferences
from bot.data.database import Database, DatabaseUnavailableError
from bot.data.models import NudgeLog, NudgeQueue, Person, nudge_log_of
from bot.data.people import Who, change_preferences, change_without_slack, forget, read_preferences
from bot.engine import tick
from bot.engine.claims import NextNudges, claim_due, due_backlog, store_next_nudges
from bot.engine.sender import Sender
from bot.engine.tick import run_tick
from tests.support.people import opt_in, utc
from tests.support.standin import SlackStandIn

AT_TEN = utc(2026, 11, 25, 10)  # a Wednesday
WHO = Who("T1", "U1")


def wakeups(db: Database) -> list[tuple[object, ...]]:
    with db.session() as session:
        rows = session.execute(
            select(NudgeQueue.team_id, NudgeQueue.user_id, NudgeQueue.next_nudge_at).order_by(
                NudgeQueue.next_nudge_at
            )
        )
        return [tuple(row) for row in rows]


def stored_next(db: Database, who: Who = WHO) -> object:
    return read_preferences(db, who).next_nudge_at


def test_every_write_of_a_next_nudge_queues_a_wake_up_even_one_in_plain_sql(
    db: Database,
) -> None:
    """The trigger keeps the queue whole whoever writes: settings, or an operator's SQL."""
    opt_in(db, WHO, "UTC", utc(2026, 11, 25, 9, 30))
    assert wakeups(db) == [("T1", "U1", AT_TEN)]
    with db.session() as session:
        session.execute(
            text("UPDATE people SET next_slot_at = :at, next_nudge_at = :at"),
            {"at": NudgeQueue.next_nudge_at.type.process_bind_param(  # type: ignore[attr-defined]
                AT_TEN + timedelta(hours=2), db.engine.dialect
            )},
        )  # fmt: skip
    assert [at for _, _, at in wakeups(db)] == [AT_TEN, AT_TEN + timedelta(hours=2)]


def test_a_claim_leaves_the_persons_row_to_after_it_and_the_queue_holds_the_next(
    db: Database,
) -> None:
    opt_in(db, WHO, "UTC", utc(2026, 11, 25, 9, 30))
    later = NextNudges()
    [claim], due, missed = claim_due(db, now=AT_TEN, worker="w", later=later)
    assert (claim.slot, due, missed) == (AT_TEN, 1, 0)
    # The claim wrote only the queue and the log: the row still shows the slot it took...
    assert stored_next(db) == AT_TEN
    assert wakeups(db) == [("T1", "U1", AT_TEN + timedelta(hours=1))]
    # ...until the next nudges are stored, as a pass does while the DMs go.
    assert store_next_nudges(db, later) == 1
    assert stored_next(db) == AT_TEN + timedelta(hours=1)
    assert wakeups(db) == [("T1", "U1", AT_TEN + timedelta(hours=1))]  # no second wake-up


def test_a_crash_before_the_row_is_stored_still_nudges_each_slot_once(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    """The process claims 10:00 and dies before telling the person's row: the queued 11:00
    is their next nudge all the same, and 10:00 is not sent again."""
    opt_in(db, WHO, "UTC", utc(2026, 11, 25, 9, 30))
    claim_due(db, now=AT_TEN, worker="crashed", later=NextNudges())  # the row never stored
    assert stored_next(db) == AT_TEN
    eleven = AT_TEN + timedelta(hours=1)
    report = run_tick(db, sender, library, now=AT_TEN + timedelta(minutes=3))
    assert (report.resent, report.sent, report.claimed) == (1, 1, 0)  # 10:00, once
    report = run_tick(db, sender, library, now=eleven + timedelta(seconds=5))
    assert (report.claimed, report.sent, report.missed) == (1, 1, 0)  # 11:00
    with db.session() as session:
        slots = session.scalars(select(NudgeLog.slot_at).order_by(NudgeLog.slot_at)).all()
    assert slots == [AT_TEN, eleven]
    assert len(standin.calls_to("chat.postMessage")) == 2
    assert stored_next(db) == eleven + timedelta(hours=1)


@pytest.mark.parametrize("path", ["in the ack", "locked"])
def test_a_settings_change_between_the_claim_and_the_store_keeps_its_own_schedule(
    db: Database, path: str
) -> None:
    """Claimed at 10:00 (row not yet stored), then the person asks for every 30 minutes:
    the change starts after the claimed slot, not from it, and the store that follows
    leaves the change's schedule alone. Both ways a change is saved: in the ack (one read,
    one guarded UPDATE) and under the row's lock."""
    opt_in(db, WHO, "UTC", utc(2026, 11, 25, 9, 30))
    with db.session() as session:  # DND known (events keep it), so the ack can save it
        session.execute(update(Person).values(dnd_checked_at=utc(2026, 11, 25, 9, 30)))
    later = NextNudges()
    claim_due(db, now=AT_TEN, worker="w", later=later)
    at = AT_TEN + timedelta(seconds=2)
    if path == "in the ack":
        changed = change_without_slack(db, WHO, SetInterval(30), now=at)
    else:
        changed = change_preferences(db, WHO, SetInterval(30), now=at, timezone_of=lambda: "UTC")
    half_past = AT_TEN + timedelta(minutes=30)
    assert isinstance(changed, Preferences) and changed.next_nudge_at == half_past
    assert store_next_nudges(db, later) == 0  # the row moved on: not overwritten
    assert stored_next(db) == half_past
    # The wake-up the claim queued (11:00) goes stale; the change's (10:30) is the one.
    claims, due, missed = claim_due(db, now=half_past + timedelta(seconds=5), worker="w")
    assert [c.slot for c in claims] == [half_past] and (due, missed) == (1, 0)
    claims, due, missed = claim_due(db, now=AT_TEN + timedelta(hours=1, seconds=5), worker="w")
    assert [c.slot for c in claims] == [AT_TEN + timedelta(hours=1)] and (due, missed) == (1, 0)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(NudgeLog)) == 3


def test_stale_and_orphaned_wake_ups_are_no_one_and_are_cleared(db: Database) -> None:
    """A wake-up left by a schedule since moved later, and one whose person said `forget
    me`: neither is due, missed or counted in the backlog, and a claim drops both."""
    opt_in(db, WHO, "UTC", utc(2026, 11, 25, 9, 30))
    opt_in(db, Who("T1", "U2"), "UTC", utc(2026, 11, 25, 9, 30))
    change_preferences(
        db, WHO, SetInterval(120), now=utc(2026, 11, 25, 9, 31), timezone_of=lambda: "UTC"
    )
    forget(db, Who("T1", "U2"))
    assert stored_next(db) == utc(2026, 11, 25, 11)  # from 09:00, every two hours
    assert len(wakeups(db)) == 3  # 10:00 (stale), U2's 10:00 (orphaned), 11:00
    assert due_backlog(db, now=AT_TEN) == 0
    assert claim_due(db, now=AT_TEN, worker="w") == ([], 0, 0)
    assert wakeups(db) == [("T1", "U1", utc(2026, 11, 25, 11))]


def test_forget_me_deletes_the_log_rows_in_flight_too(db: Database) -> None:
    opt_in(db, WHO, "UTC", utc(2026, 11, 25, 9, 30))
    claim_due(db, now=AT_TEN, worker="w")  # claimed, not yet sent: status `claimed`
    with db.session() as session:
        assert session.scalar(select(NudgeLog.status)) == "claimed"
    forget(db, WHO)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(NudgeLog)) == 0
        assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_a_persons_log_rows_are_found_by_index_not_by_reading_the_whole_log(
    db: Database,
) -> None:
    """The log's guard is keyed by slot, so `forget me`, an uninstall and an export find a
    person's rows through the index of finished rows and the in-flight ones by status."""
    # A log as weeks of use leave it: PostgreSQL picks its path by what the table holds.
    sent = [
        {"team_id": "T1", "user_id": f"U{person}", "kind": "nudge", "slot_at": slot,
         "send_at": slot, "status": "sent", "attempts": 1, "claimed_at": slot, "claimed_by": "w"}
        for person in range(25)
        for slot in (AT_TEN - timedelta(hours=hours) for hours in range(300))
    ]  # fmt: skip
    with db.session() as session:
        session.execute(insert(NudgeLog), sent)
    if db.dialect == "postgresql":  # as autovacuum would; the app never analyses SQLite
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE nudge_log"))
    statement = delete(NudgeLog).where(nudge_log_of(["T1"], "U1"))
    sql = statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    with db.session() as session:
        plan = " ".join(str(row[-1]) for row in session.execute(text(explain + str(sql))))
    assert "ix_nudge_log_person_finished" in plan, plan
    assert "ix_nudge_log_status_claimed_at" in plan, plan


def test_a_pass_whose_row_store_fails_still_sends_and_the_next_pass_goes_on(
    db: Database,
    sender: Sender,
    library: Library,
    standin: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The store after the claim is bookkeeping: when the database refuses it, the pass
    sends what it claimed, says so in one line, and the next pass nudges the next slot."""
    opt_in(db, WHO, "UTC", utc(2026, 11, 25, 9, 30))

    def refused(*_: object) -> int:
        raise DatabaseUnavailableError("the database is unavailable")

    monkeypatch.setattr(tick, "store_next_nudges", refused)
    with caplog.at_level(logging.WARNING, logger="bot.engine.tick"):
        report = run_tick(db, sender, library, now=AT_TEN + timedelta(seconds=5))
    assert (report.claimed, report.sent) == (1, 1)
    assert "next nudges not stored" in caplog.text
    assert stored_next(db) == AT_TEN  # left behind...
    monkeypatch.undo()
    eleven = AT_TEN + timedelta(hours=1)
    report = run_tick(db, sender, library, now=eleven + timedelta(seconds=5))
    assert (report.claimed, report.sent, report.missed) == (1, 1, 0)  # ...11:00 all the same
    assert stored_next(db) == eleven + timedelta(hours=1)
    assert len(standin.calls_to("chat.postMessage")) == 2
