"""The unit of work and its one error boundary, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.core.changes import SetHours, SetInterval, TurnOn
from bot.core.content import Library
from bot.core.preferences import Preferences
from bot.core.schedule import DndStatus
from bot.core.team import SetTeam
from bot.data.database import Database, DatabaseUnavailableError
from bot.data.models import Person
from bot.data.people import (
    Who,
    change_preferences,
    change_without_slack,
    ensure_person,
    find_person,
    read_preferences,
)
from bot.data.schema import upgrade
from bot.data.team_breaks import set_break
from tests.support.people import opt_in, utc


def test_datetimes_come_back_timezone_aware(db: Database) -> None:
    who = Who("T1", "U1")
    snooze_end = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    with db.session() as session:
        person = ensure_person(session, team_id=who.team_id, user_id=who.user_id, tz="UTC")
        person.snoozed_until = snooze_end
    with db.session() as session:
        person = find_person(session, team_id="T1", user_id="U1")
        assert person.snoozed_until == snooze_end and person.snoozed_until.tzinfo is not None
        assert person.created_at.tzinfo is not None
        with pytest.raises(Exception, match="naive"):
            person.snoozed_until = datetime(2026, 1, 1)
            session.flush()


def test_a_failure_mid_change_leaves_nothing_half_written(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = Who("T1", "U1")
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    change_preferences(db, who, TurnOn(), now=now, timezone_of=lambda: "Europe/London")

    def write_half_then_fail(person: Person, prefs: Preferences) -> None:
        person.work_start = prefs.work_start  # the first half lands in the session...
        raise OperationalError("UPDATE people", {}, Exception("connection lost"))

    monkeypatch.setattr("bot.data.people.write_preferences", write_half_then_fail)
    with pytest.raises(DatabaseUnavailableError):
        change_preferences(db, who, SetHours(time(7), time(15)), now=now, timezone_of=lambda: "UTC")
    prefs = read_preferences(db, who)
    assert prefs is not None and prefs.work_start == time(9) and prefs.opted_in


def test_unreachable_database_is_reported_as_unavailable() -> None:
    down = Database("postgresql+psycopg://psoas@127.0.0.1:1/psoas")
    with pytest.raises(DatabaseUnavailableError):
        read_preferences(down, Who("T1", "U1"))


def _dropped() -> OperationalError:
    """What a statement on a pooled connection the database dropped raises."""
    return OperationalError(
        "SELECT", {}, Exception("server closed the connection"), connection_invalidated=True
    )


def _someone_in_utc(db: Database) -> Who:
    who = Who("T1", "U1")
    with db.session() as session:
        ensure_person(session, team_id=who.team_id, user_id=who.user_id, tz="UTC")
    return who


def test_transact_runs_work_once_more_when_its_pooled_connection_was_dropped(db: Database) -> None:
    who = _someone_in_utc(db)
    runs: list[int] = []

    def work(connection: Connection) -> str:
        runs.append(1)
        connection.execute(
            update(Person).values(tz="Europe/Paris" if len(runs) == 1 else "Asia/Tokyo")
        )
        if len(runs) == 1:
            raise _dropped()
        return "saved"

    assert db.transact(work) == "saved" and len(runs) == 2
    prefs = read_preferences(db, who)
    assert prefs is not None and prefs.tz == "Asia/Tokyo"  # the first try's write is gone


def test_transact_tries_once_and_saves_nothing_on_any_other_failure(db: Database) -> None:
    who = _someone_in_utc(db)
    runs: list[int] = []

    def work(connection: Connection) -> None:
        runs.append(1)
        connection.execute(update(Person).values(tz="Europe/Paris"))
        raise OperationalError("UPDATE people", {}, Exception("disk I/O error"))

    with pytest.raises(DatabaseUnavailableError):
        db.transact(work)
    prefs = read_preferences(db, who)
    assert len(runs) == 1 and prefs is not None and prefs.tz == "UTC"


def _set_tz(driver: Any, db: Database, tz: str) -> None:
    mark = "%s" if db.dialect == "postgresql" else "?"
    cursor = driver.cursor()
    cursor.execute(f"UPDATE people SET tz = {mark}", (tz,))
    cursor.close()


def test_autocommit_runs_work_once_more_when_its_pooled_connection_was_dropped(
    db: Database,
) -> None:
    """A pooled connection the database dropped fails at its first statement, as a closed
    one does: the driver's error is SQLAlchemy's, the connection leaves the pool, and the
    work runs once more on a new one."""
    who = _someone_in_utc(db)
    runs: list[int] = []

    def work(driver: Any) -> str:
        runs.append(1)
        if len(runs) == 1:
            driver.close()  # as the database left it
        _set_tz(driver, db, "Asia/Tokyo")
        return "saved"

    assert db.autocommit(work) == "saved" and len(runs) == 2
    prefs = read_preferences(db, who)
    assert prefs is not None and prefs.tz == "Asia/Tokyo"
    assert db.autocommit(lambda driver: "the pool still serves") == "the pool still serves"


def test_autocommit_tries_once_on_any_other_failure(db: Database) -> None:
    runs: list[int] = []

    def work(driver: Any) -> None:
        runs.append(1)
        driver.cursor().execute("UPDATE no_such_table SET x = 1")

    with pytest.raises(DatabaseUnavailableError):
        db.autocommit(work)
    assert len(runs) == 1
    assert db.autocommit(lambda driver: "the pool still serves") == "the pool still serves"


def test_eight_requests_at_once_keep_their_connections(db: Database) -> None:
    """The server's 8 threads each keep a pooled connection: a second burst of 8 at once
    opens none anew. (SQLAlchemy keeps 5 to a SQLite file by default: the other 3 opened the
    file, ran its pragmas and read its schema again on every request.)"""
    opened: list[object] = []
    event.listen(db.engine, "connect", lambda *_: opened.append(object()))
    together = threading.Barrier(8)

    def request() -> None:
        with db.engine.connect() as connection:
            together.wait(timeout=10)  # all 8 hold a connection at the same time
            connection.exec_driver_sql("SELECT 1")

    opened_by_burst = []
    for _burst in range(2):
        threads = [threading.Thread(target=request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
        opened_by_burst.append(len(opened))
    assert not together.broken
    assert opened_by_burst[1] == opened_by_burst[0], "the second burst reopened connections"


def test_postgresql_sessions_run_in_utc_and_hand_instants_back_in_pythons_utc(
    postgres_db: Database,
) -> None:
    """Whatever the server's own zone: an instant read back carries `datetime.UTC` itself,
    so nothing converts it again, and it is the instant that was written."""
    from sqlalchemy import text

    written = datetime(2026, 12, 2, 14, 0, 5, 123456, tzinfo=UTC)
    with postgres_db.session() as session:
        assert session.execute(text("SHOW TimeZone")).scalar() == "UTC"
        back = session.execute(text("SELECT CAST(:at AS timestamptz)"), {"at": written}).scalar()
    assert back == written and back.tzinfo is UTC


def test_after_a_restart_the_first_change_in_the_ack_is_saved(postgres_db: Database) -> None:
    """PostgreSQL restarted: every pooled connection is gone, not just the one a request
    takes. The first settings change after it is saved, on its one try once more."""
    who = Who("T1", "U1")
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    change_preferences(
        postgres_db, who, TurnOn(), now=now, timezone_of=lambda: "UTC",
        dnd_of=lambda: DndStatus(start=None, end=None),
    )  # fmt: skip
    held = [postgres_db.engine.connect() for _ in range(4)]  # four in the pool, all used once
    for connection in held:
        connection.exec_driver_sql("SELECT 1")
        connection.close()
    with postgres_db.engine.connect() as admin:
        admin.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        admin.invalidate()  # it goes too, as a restart would take it
    answered = change_without_slack(postgres_db, who, SetInterval(45), now=now)
    assert answered is not None and answered.interval_minutes == 45
    prefs = read_preferences(postgres_db, who)
    assert prefs is not None and prefs.interval_minutes == 45


# ---------------------------------------------------------------------------------------
# SQLite's syncs: a request's commit is not synced one by one; a claim's is.

NORMAL, FULL = 1, 2  # PRAGMA synchronous, as SQLite reports it


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'psoas.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def synchronous_in(session: Session) -> int:
    return int(session.execute(text("PRAGMA synchronous")).scalar_one())


def test_on_sqlite_only_a_durable_unit_syncs_each_commit(sqlite_db: Database) -> None:
    """A settings change or an event is safe from a crash of the process (WAL, NORMAL);
    a durable unit's commits wait for the disk. Its connection goes back to the pool as it
    was, so the next request on it does not pay for a sync."""
    with sqlite_db.session() as session:
        assert synchronous_in(session) == NORMAL
    with sqlite_db.session(durable=True) as session:
        assert synchronous_in(session) == FULL
    with sqlite_db.unit(durable=True), sqlite_db.session() as nested:
        assert synchronous_in(nested) == FULL  # the outer unit's say holds
    with sqlite_db.unit(), sqlite_db.session(durable=True) as nested:
        assert synchronous_in(nested) == FULL  # and a durable one inside makes it durable
    with sqlite_db.session() as session:
        assert synchronous_in(session) == NORMAL
    read = sqlite_db.autocommit(lambda driver: driver.execute("PRAGMA synchronous").fetchone())
    assert read == (NORMAL,)
    assert sqlite_db.engine.pool.checkedin() == 1, "one connection served every unit"


def test_on_sqlite_a_connection_that_cannot_be_made_durable_is_replaced(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection that fails the switch to syncing (a disk error, a connection gone
    bad) is not used for a claim: the pool drops it and the unit runs on a new one, synced."""
    from bot.data import database

    switched: list[str] = []
    switch = database._synchronous

    def failing_once(dbapi_connection: Any, level: str) -> None:
        switched.append(level)
        if switched == ["FULL"]:
            raise sqlite3.OperationalError("disk I/O error")
        switch(dbapi_connection, level)

    with sqlite_db.session() as session:  # a connection in the pool, then the failure
        assert synchronous_in(session) == NORMAL
    monkeypatch.setattr(database, "_synchronous", failing_once)
    with sqlite_db.session(durable=True) as session:
        assert synchronous_in(session) == FULL
    assert switched == ["FULL", "FULL", "NORMAL"]


def test_on_sqlite_every_claim_of_a_nudge_summary_or_team_break_is_synced(
    sqlite_db: Database, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a claim commits its message may go: a power cut must not roll it back and
    make the slot due again (a second nudge), whatever else it may roll back."""
    from bot.engine import claims, summaries, team_breaks
    from bot.engine.claims import claim_due
    from bot.engine.summaries import claim_summaries
    from bot.engine.team_breaks import claim_breaks

    levels: dict[str, list[int]] = {"nudge": [], "summary": [], "team": []}

    def spy(module: object, name: str, kind: str) -> None:
        original = getattr(module, name)

        def spying(session: Session, *args: Any, **kwargs: Any) -> Any:
            levels[kind].append(synchronous_in(session))
            return original(session, *args, **kwargs)

        monkeypatch.setattr(module, name, spying)

    spy(claims, "_insert_claims_sqlite", "nudge")
    spy(summaries, "_write_portably", "summary")
    spy(team_breaks, "_claim_one", "team")
    monday, friday_4pm = utc(2026, 11, 23, 8), utc(2026, 11, 27, 16)
    opt_in(sqlite_db, Who("T1", "U1"), "UTC", monday)
    set_break(sqlite_db, Who("T1", "U1"), "C0001", SetTeam(time(15)), tz="UTC", now=monday)
    nudges, _, _ = claim_due(sqlite_db, now=utc(2026, 11, 23, 11), worker="w")
    summaries_claimed = claim_summaries(sqlite_db, now=friday_4pm, worker="w")
    breaks, _, _ = claim_breaks(sqlite_db, library, now=utc(2026, 11, 23, 15), worker="w")
    assert (len(nudges), len(summaries_claimed), len(breaks)) == (1, 1, 1)
    assert levels == {"nudge": [FULL], "summary": [FULL], "team": [FULL]}
    with sqlite_db.session() as session:  # and the pool's connection is as it was
        assert synchronous_in(session) == NORMAL
