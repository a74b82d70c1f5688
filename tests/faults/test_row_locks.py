"""Point 5: a click and a command on the same person serialize on the person's row.

Snooze or Skip today on a nudge, at the same moment as `/psoas hours 14:00-18:00`: whichever
goes first, both are saved, and the next nudge follows the saved settings (never a 12:00
nudge for someone whose hours just became 14:00-18:00). Each trial starts both together and
shakes the click's statements apart by a random fraction of a millisecond, so the trials
cover many interleavings; on PostgreSQL the row lock (SELECT ... FOR UPDATE) keeps each
whole, on SQLite its one writer lock. The change answered in the ack takes no lock: its
UPDATE is guarded by the row as it read it, and is worked out again when a click landed in
between (made to happen, not waited for, in the last two tests)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import time as clock_time
from typing import Any

import pytest
from sqlalchemy import event, select, update

from bot.core.changes import SetHours, SnoozeFor, SnoozeUntilTomorrow, TurnOn
from bot.core.schedule import DndStatus, next_nudge
from bot.data import people
from bot.data.activity import answer_nudge
from bot.data.database import Database
from bot.data.models import LogKind, LogStatus, NudgeAnswer, NudgeLog, Person
from bot.data.people import (
    GUARDED_TRIES,
    Who,
    change_preferences,
    change_without_slack,
    find_person,
    to_preferences,
)
from tests.faults.conftest import finding
from tests.support.people import utc

WHO = Who("T0001", "U0001")
SLOT = utc(2026, 11, 25, 10)  # a Wednesday, in UTC
NOW = utc(2026, 11, 25, 10, 5)
NEW_HOURS = SetHours(clock_time(14), clock_time(18))
ANSWERS = [
    (NudgeAnswer.SNOOZED, SnoozeFor(60)),
    (NudgeAnswer.SKIPPED, SnoozeUntilTomorrow(1)),
]


def nudged_at_ten(db: Database) -> None:
    """Opted in (09:00-17:00), no Do Not Disturb, with the 10:00 nudge sent and 11:00 next."""
    change_preferences(
        db,
        WHO,
        TurnOn(),
        now=utc(2026, 11, 25, 9, 30),
        timezone_of=lambda: "UTC",
        dnd_of=lambda: DndStatus(start=None, end=None),
    )
    with db.session() as session:
        session.add(
            NudgeLog(
                team_id=WHO.team_id,
                user_id=WHO.user_id,
                kind=LogKind.NUDGE,
                slot_at=SLOT,
                send_at=SLOT,
                status=LogStatus.SENT,
                attempts=1,
                claimed_at=SLOT,
                claimed_by="test",
            )
        )


def reset(db: Database) -> None:
    """Back to before the trial: old hours, no snooze, the nudge unanswered."""
    eleven = utc(2026, 11, 25, 11)
    with db.session() as session:
        session.execute(
            update(Person)
            .where(Person.team_id == WHO.team_id, Person.user_id == WHO.user_id)
            .values(
                work_start=clock_time(9),
                work_end=clock_time(17),
                snoozed_until=None,
                next_slot_at=eleven,
                next_nudge_at=eleven,
            )
        )
        session.execute(update(NudgeLog).values(answer=None, answered_at=None))


def clicked(
    db: Database,
    gate: threading.Barrier,
    answer: NudgeAnswer,
    change: SnoozeFor | SnoozeUntilTomorrow,
    finished: list[str],
    lag: float,
) -> None:
    """Snooze 1 h or Skip today, pressed on the 10:00 nudge."""
    gate.wait()
    time.sleep(lag)
    answer_nudge(db, WHO, slot=SLOT, answer=answer, exercise=None, now=NOW, change=change)
    finished.append("click")


def full_change(db: Database) -> object:
    return change_preferences(db, WHO, NEW_HOURS, now=NOW, timezone_of=lambda: "UTC")


def change_in_the_ack(db: Database) -> object:
    """What `/psoas hours` does for someone known: one read and one UPDATE guarded by it."""
    return change_without_slack(db, WHO, NEW_HOURS, now=NOW)


def commanded(
    db: Database,
    gate: threading.Barrier,
    finished: list[str],
    lag: float,
    save: Callable[[Database], object],
) -> None:
    """`/psoas hours 14:00-18:00`, at the same moment."""
    gate.wait()
    time.sleep(lag)
    if save(db) is not None:
        finished.append("command")


@pytest.fixture
def shaken(db: Database) -> Iterator[Callable[[bool], None]]:
    """Each statement waits a random moment first, while `on(True)`: the two transactions
    interleave differently from trial to trial."""
    shaking = threading.Event()

    def jitter(*_args: Any) -> None:
        if shaking.is_set():
            time.sleep(random.uniform(0, 0.002))

    event.listen(db.engine, "before_cursor_execute", jitter)

    def on(value: bool) -> None:
        shaking.set() if value else shaking.clear()

    yield on
    event.remove(db.engine, "before_cursor_execute", jitter)


@pytest.mark.parametrize("save", [full_change, change_in_the_ack], ids=["full", "in the ack"])
def test_a_nudge_answer_and_a_settings_change_at_once_keep_the_schedule_right(
    db: Database, shaken: Callable[[bool], None], save: Callable[[Database], object]
) -> None:
    trials = 150 if db.dialect == "postgresql" else 40
    nudged_at_ten(db)
    orders: Counter[str] = Counter()
    wrong: list[str] = []
    started = time.monotonic()
    for trial in range(trials):
        reset(db)
        answer, change = ANSWERS[trial % 2]
        gate = threading.Barrier(2)
        finished: list[str] = []
        # A lead of up to a few milliseconds, to one side or the other by turns, so both
        # orders happen on any machine; the jitter varies how the statements interleave.
        lead = random.uniform(0, 0.004)
        click_lag, command_lag = (lead, 0.0) if trial % 4 < 2 else (0.0, lead)
        click = threading.Thread(
            target=clicked, args=(db, gate, answer, change, finished, click_lag)
        )
        command = threading.Thread(target=commanded, args=(db, gate, finished, command_lag, save))
        shaken(True)
        threads = [click, command]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        shaken(False)
        assert len(finished) == 2, f"trial {trial}: a side did not finish"
        orders[" then ".join(finished)] += 1
        with db.session() as session:
            person = find_person(session, team_id=WHO.team_id, user_id=WHO.user_id)
            assert person is not None
            prefs = to_preferences(person)
            stored = (person.next_slot_at, person.next_nudge_at)
            answered = session.scalar(select(NudgeLog.answer))
        expected = next_nudge(prefs, after=NOW)
        assert expected is not None
        # Both were saved: the new hours, the snooze, and the answer on the nudge.
        saved = (prefs.work_start, prefs.work_end) == (clock_time(14), clock_time(18))
        if not saved or prefs.snoozed_until is None or answered != answer:
            wrong.append(f"trial {trial}: a change was lost ({prefs}, answer {answered})")
        # And the next nudge follows them: inside 14:00-18:00, after the snooze.
        if stored != (expected.slot, expected.send_at):
            wrong.append(f"trial {trial}: next nudge {stored[1]}, settings say {expected.send_at}")
        local = stored[1].astimezone(prefs.zone).time() if stored[1] else None
        if local is None or not clock_time(14) <= local < clock_time(18):
            wrong.append(f"trial {trial}: a nudge at {local} for hours 14:00-18:00")
    assert wrong == [], f"{len(wrong)} of {trials} trials went wrong: {wrong[:3]}"
    assert len(orders) == 2, f"both orders should occur: {orders}"
    finding(
        f"5 a Snooze/Skip click and a settings change ({save.__name__}) at once ({db.dialect})",
        f"{trials} trials ({dict(orders)}): the next nudge always follows the saved settings",
        time.monotonic() - started,
    )


def _saved_both(db: Database, answer: NudgeAnswer) -> list[str]:
    """What is wrong with the person's row after a click and `/psoas hours 14:00-18:00`."""
    with db.session() as session:
        person = find_person(session, team_id=WHO.team_id, user_id=WHO.user_id)
        assert person is not None
        prefs = to_preferences(person)
        stored = person.next_nudge_at
        answered = session.scalar(select(NudgeLog.answer))
    expected = next_nudge(prefs, after=NOW)
    wrong = []
    if (prefs.work_start, prefs.work_end) != (clock_time(14), clock_time(18)):
        wrong.append(f"the hours were lost: {prefs.work_start}-{prefs.work_end}")
    if prefs.snoozed_until is None or answered != answer:
        wrong.append(f"the click was lost: snoozed until {prefs.snoozed_until}, {answered}")
    if expected is None or stored != expected.send_at:
        wrong.append(f"next nudge {stored}, the saved settings say {expected}")
    return wrong


def test_a_click_between_the_acks_read_and_its_update_is_kept_and_the_change_redone(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snooze lands after `/psoas hours` read the row and before it wrote: its UPDATE finds
    the row moved and writes nothing; the hours are worked out again from the snoozed row."""
    nudged_at_ten(db)
    reset(db)
    plan_change = people._plan_change
    read: list[object] = []

    def click_after_the_first_read(row: Any, *args: Any) -> Any:
        plan = plan_change(row, *args)  # from the row as read: not snoozed
        if not read:
            answer_nudge(
                db, WHO, slot=SLOT, answer=NudgeAnswer.SNOOZED, exercise=None, now=NOW,
                change=SnoozeFor(60),
            )  # fmt: skip
        read.append(row.snoozed_until)
        return plan

    monkeypatch.setattr(people, "_plan_change", click_after_the_first_read)
    answered = change_without_slack(db, WHO, NEW_HOURS, now=NOW)
    assert read == [None, utc(2026, 11, 25, 11, 5)], "worked out again from the snoozed row"
    assert _saved_both(db, NudgeAnswer.SNOOZED) == []
    assert answered is not None and answered.snoozed_until == utc(2026, 11, 25, 11, 5)


def test_a_row_that_keeps_moving_is_changed_under_its_lock(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write between read and UPDATE every time: after `GUARDED_TRIES` the change runs
    in one transaction with the row locked, and is saved with every write before it."""
    nudged_at_ten(db)
    reset(db)
    plan_change = people._plan_change
    plans: list[bool] = []

    def written_in_between(row: Any, *args: Any) -> Any:
        plan = plan_change(row, *args)
        if len(plans) < GUARDED_TRIES:  # the locked try is left alone (it would wait on us)
            with db.session() as session:
                session.execute(
                    update(Person).values(snoozed_until=utc(2026, 11, 25, 10, 30 + len(plans)))
                )
        plans.append(True)
        return plan

    monkeypatch.setattr(people, "_plan_change", written_in_between)
    answered = change_without_slack(db, WHO, NEW_HOURS, now=NOW)
    assert len(plans) == GUARDED_TRIES + 1
    assert answered is not None and answered.work_start == clock_time(14)
    last = utc(2026, 11, 25, 10, 30 + GUARDED_TRIES - 1)
    with db.session() as session:
        person = find_person(session, team_id=WHO.team_id, user_id=WHO.user_id)
        assert person is not None and person.snoozed_until == last
        assert (person.work_start, person.work_end) == (clock_time(14), clock_time(18))
