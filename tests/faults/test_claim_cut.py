"""A claim on PostgreSQL writes in a pipeline, out of SQLAlchemy's sight: a connection cut in
the middle of it must still leave as the engine's one database error, claim no one, and lose
no one (the whole claim is one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot.data.database import Database, DatabaseUnavailableError
from bot.data.models import NudgeLog, Person
from bot.engine import claims
from bot.engine.claims import claim_due
from tests.engine.crowd import add_crowd
from tests.faults.proxy import FaultyProxy
from tests.support.people import utc


def test_a_connection_cut_in_the_middle_of_a_claim_claims_no_one_and_loses_no_one(
    faulty_db: Database, proxy: FaultyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = 3 * claims.PIPELINE_CHUNK  # three chunks: the cut comes after the first is sent
    add_crowd(faulty_db, "T1", people, after=utc(2026, 11, 25, 9, 30))
    at_ten = utc(2026, 11, 25, 10)
    chunks = 0
    schedule_all = claims._schedule_all

    def cut_before_the_second_chunk(due: Sequence[Sequence[Any]], now: Any, *memos: Any) -> Any:
        nonlocal chunks
        chunks += 1
        if chunks == 2:
            proxy.cut()
        return schedule_all(due, now, *memos)

    monkeypatch.setattr(claims, "_schedule_all", cut_before_the_second_chunk)
    with pytest.raises(DatabaseUnavailableError) as cut:
        claim_due(faulty_db, now=at_ten, worker="cut-off")
    assert cut.value.transient  # an outage: the next pass tries again
    monkeypatch.undo()

    faulty_db.breaker.retry_seconds = 0
    claimed, due, missed = claim_due(faulty_db, now=at_ten, worker="next-pass")
    assert (len(claimed), due, missed) == (people, people, 0)
    with faulty_db.session() as session:
        logged = session.execute(
            select(NudgeLog.claimed_by, func.count()).group_by(NudgeLog.claimed_by)
        ).all()
    assert [tuple(row) for row in logged] == [("next-pass", people)]


def test_a_statement_failing_in_the_claim_pipeline_is_the_engines_database_error(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an outage but this batch's own fault (here a division by zero in the second
    chunk's INSERT): still `DatabaseUnavailableError`, which a pass logs and survives, not
    marked as an outage, and nothing of the first chunk is kept."""
    people = 2 * claims.PIPELINE_CHUNK
    add_crowd(postgres_db, "T1", people, after=utc(2026, 11, 25, 9, 30))
    at_ten = utc(2026, 11, 25, 10)
    original = claims._PG_CLAIM_SQL
    failing = original.replace("1, %(now)s", "1 / 0, %(now)s")
    assert failing != original
    chunks = 0
    schedule_all = claims._schedule_all

    def second_chunk_fails(due: Sequence[Sequence[Any]], now: Any, *memos: Any) -> Any:
        nonlocal chunks
        chunks += 1
        monkeypatch.setattr(claims, "_PG_CLAIM_SQL", failing if chunks == 2 else original)
        return schedule_all(due, now, *memos)

    monkeypatch.setattr(claims, "_schedule_all", second_chunk_fails)
    with pytest.raises(DatabaseUnavailableError) as failed:
        claim_due(postgres_db, now=at_ten, worker="w")
    assert not failed.value.transient
    monkeypatch.undo()
    with postgres_db.session() as session:
        assert session.scalar(select(func.count()).select_from(NudgeLog)) == 0
    claimed, due, missed = claim_due(postgres_db, now=at_ten, worker="w")
    assert (len(claimed), due, missed) == (people, people, 0)


def test_a_session_in_an_operators_own_time_zone_still_schedules_by_the_instant(
    postgres_db: Database,
) -> None:
    """DATABASE_URL may set its own TimeZone; instants read back in it would be added to on
    its wall clock. The night Paris turns its clocks back (2026-10-25, 01:00 UTC), a person
    in UTC nudged every 30 minutes from 00:00 has the 00:30 slot sent: the next is 01:00
    UTC, though on Paris's wall clock 03:00 comes an hour and a half after 02:30."""

    from bot.core.changes import SetDays, SetHours, SetInterval
    from bot.data.people import Who
    from tests.support.people import opt_in

    at = utc(2026, 10, 25, 0, 30)
    opt_in(
        postgres_db,
        Who("T1", "U1"),
        "UTC",
        at - timedelta(minutes=1),
        SetHours(time(0), time(4)),
        SetDays(frozenset(range(7))),
        SetInterval(30),
    )
    with postgres_db.session() as session:
        assert session.scalar(select(Person.next_nudge_at)) == at
    in_paris = Database(postgres_db.url + "?options=-c%20TimeZone%3DEurope%2FParis")
    try:
        with in_paris.session() as session:
            assert session.execute(text("SHOW TimeZone")).scalar() == "Europe/Paris"
        [claim], _, _ = claim_due(in_paris, now=at + timedelta(seconds=5), worker="w")
    finally:
        in_paris.dispose()
    assert claim.slot == at
    with postgres_db.session() as session:
        assert session.scalar(select(Person.next_nudge_at)) == utc(2026, 10, 25, 1)
