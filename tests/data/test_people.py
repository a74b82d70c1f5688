"""People and what is stored about them: one row per person, and `forget me` leaves nothing.
On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Boolean, DateTime, Integer, String, Time, select, update

from bot.core.changes import (
    Change,
    ClearQuiet,
    SetDays,
    SetHours,
    SetInterval,
    SetMeetings,
    SetQuiet,
    SetWeeklySummary,
    SnoozeFor,
    SnoozeOff,
    TurnOff,
    TurnOn,
)
from bot.core.preferences import Preferences
from bot.core.schedule import DndStatus, next_summary
from bot.data.activity import record_completion
from bot.data.database import Database
from bot.data.models import (
    Completion,
    CompletionSource,
    NudgeLog,
    Person,
    SummarySchedule,
    Workspace,
)
from bot.data.people import (
    Who,
    change_preferences,
    change_without_slack,
    ensure_person,
    find_person,
    forget,
    read_preferences,
)
from bot.engine.claims import claim_due

WHO = Who("T1", "U1")


def test_two_first_requests_at_once_make_one_row(db: Database) -> None:
    with db.session() as session:
        ensure_person(session, team_id="T1", user_id="U1", tz="UTC")
        ensure_person(session, team_id="T1", user_id="U1", tz="Asia/Tokyo")
    with db.session() as session:
        assert find_person(session, team_id="T1", user_id="U1").tz == "UTC"


def test_forget_me_deletes_the_person_their_completions_and_their_nudge_log(
    db: Database,
) -> None:
    other = Who("T1", "U2")
    for who in (WHO, other):
        change_preferences(
            db, who, TurnOn(), now=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
            timezone_of=lambda: "UTC",
        )  # fmt: skip
        record_completion(
            db, who, now=datetime(2026, 11, 25, 9, 40, tzinfo=UTC), exercise="march",
            source=CompletionSource.EXERCISE, dedupe_key="m1", timezone_of=lambda: "UTC",
        )  # fmt: skip
    claims, _, _ = claim_due(db, now=datetime(2026, 11, 25, 10, tzinfo=UTC), worker="w")
    assert len(claims) == 2  # a nudge log row each
    assert _next_summary(db, WHO) is not None
    assert forget(db, WHO) == 1
    with db.session() as session:
        assert session.get(Person, (WHO.team_id, WHO.user_id)) is None
        left = session.execute(select(Completion.user_id)).scalars().all()
        logged = session.execute(select(NudgeLog.user_id)).scalars().all()
    assert left == ["U2"] and logged == ["U2"]  # the other person keeps theirs
    assert _next_summary(db, WHO) is None and _next_summary(db, other) is not None
    assert forget(db, WHO) == 0  # nothing left to forget


def _next_summary(db: Database, who: Who) -> datetime | None:
    with db.session() as session:
        schedule = session.get(SummarySchedule, (who.team_id, who.user_id))
        return schedule.next_summary_at if schedule else None


def _columns(db: Database, who: Who) -> dict[str, object]:
    """What is stored of the person: their row, and when their next weekly summary is due."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id)
        assert person is not None
        columns: dict[str, object] = {
            column.key: getattr(person, column.key)
            for column in Person.__table__.columns
            if column.key not in {"user_id", "created_at", "updated_at"}
        }
    return {**columns, "next_summary_at": _next_summary(db, who)}


def test_a_change_answered_in_the_ack_saves_and_shows_what_the_full_change_does(
    db: Database,
) -> None:
    """`change_without_slack` (one read, one UPDATE guarded by it) stores the same row and answers
    with the same settings as `change_preferences`, in a workspace whose nudges are spread."""
    fast, full = Who("T1", "U1"), Who("T1", "U2")
    start = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    for who in (fast, full):
        change_preferences(
            db, who, TurnOn(), now=start, timezone_of=lambda: "Europe/Berlin",
            dnd_of=lambda: DndStatus(start=None, end=None),
        )  # fmt: skip
    with db.session() as session:
        session.execute(update(Workspace).values(nudge_spread_seconds=1200))
    steps: list[Change] = [
        SetInterval(45),
        SetHours(time(8), time(18)),
        SetDays(frozenset({0, 2, 4})),
        SetQuiet(time(12), time(13)),
        SnoozeFor(90),
        SetMeetings(on=False),
        SnoozeOff(),
        ClearQuiet(),
        SetWeeklySummary(on=False),
        TurnOff(),
        TurnOn(),
    ]
    summaries: set[datetime | None] = set()
    for number, step in enumerate(steps):
        now = start + timedelta(minutes=7 * number)
        answered = change_without_slack(db, fast, step, now=now)
        expected = change_preferences(db, full, step, now=now, timezone_of=lambda: "UTC")
        assert isinstance(answered, Preferences) and isinstance(expected, Preferences)
        # Each person's nudges come at their own offset inside the slot; all else is alike.
        assert replace(answered, next_nudge_at=None, nudge_offset=timedelta(0)) == replace(
            expected, next_nudge_at=None, nudge_offset=timedelta(0)
        ), step
        assert read_preferences(db, fast) == answered, step  # what `status` shows next
        stored, reference = _columns(db, fast), _columns(db, full)
        assert stored.pop("next_nudge_at") == answered.next_nudge_at, step
        reference.pop("next_nudge_at")
        assert stored == reference, step
        # The weekly summary moves with the days, and goes with the summaries or the nudges.
        summary = next_summary(answered, after=now - timedelta(microseconds=1))
        assert stored["next_summary_at"] == summary, step
        summaries.add(summary)
        if answered.next_nudge_at is not None:
            assert answered.next_nudge_at == stored["next_slot_at"] + answered.nudge_offset
    assert answered.nudge_offset > timedelta(0)
    assert None in summaries and len(summaries) >= 3  # moved by days, gone when turned off


def test_a_change_in_the_ack_lands_at_once_whatever_the_row_holds(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guarded UPDATE compares every column with the row as read: a row holding each kind
    of value (instants, clock times, flags, text with quotes and accents, NULLs) must match
    itself on the first try, not fall back to the locked change after `GUARDED_TRIES` misses
    (on SQLite the row is read back packed in one JSON array)."""
    now = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    change_preferences(
        db, WHO, TurnOn(), now=now, timezone_of=lambda: "America/Argentina/Buenos_Aires",
        dnd_of=lambda: DndStatus(start=now + timedelta(hours=3), end=now + timedelta(hours=4)),
    )  # fmt: skip
    with db.session() as session:
        session.execute(
            update(Person).values(
                quiet_start=time(12, 15), quiet_end=time(13, 0, 30),
                snoozed_until=now + timedelta(minutes=20, microseconds=7),
                busy_until=now + timedelta(minutes=50), busy_kind="huddle",
                away_until=None, stopped_reason='said "stop" — café',
            )
        )  # fmt: skip

    def locked_change(*_: object) -> None:
        raise AssertionError("the guarded UPDATE missed the row it had just read")

    monkeypatch.setattr("bot.data.people._change_row", locked_change)
    answered = change_without_slack(db, WHO, SetInterval(45), now=now)
    assert isinstance(answered, Preferences) and answered.interval_minutes == 45
    stored = _columns(db, WHO)
    assert stored["interval_minutes"] == 45
    assert stored["stopped_reason"] == 'said "stop" — café'
    assert stored["snoozed_until"] == now + timedelta(minutes=20, microseconds=7)
    assert stored["quiet_end"] == time(13, 0, 30)


def test_what_a_settings_change_reads_is_all_json_carries_exactly() -> None:
    """On SQLite a settings change reads the person's row packed in one JSON array, which keeps
    text, integers and NULL exactly but not a float's last digits, nor bytes: a column of
    another kind would make every guarded change miss the row it had just read."""
    read = [
        *Person.__table__.columns,
        Workspace.__table__.c.nudge_spread_seconds,
        SummarySchedule.__table__.c.next_summary_at,
    ]
    for column in read:
        stored = getattr(column.type, "impl", column.type)  # a TypeDecorator's own type
        assert isinstance(stored, String | Integer | Boolean | Time | DateTime), column.key
