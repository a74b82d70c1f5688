"""Migrations and the unit of work, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import OperationalError

from bot.core.changes import SetHours, TurnOn
from bot.core.preferences import Preferences
from bot.data.database import Database, DatabaseUnavailableError
from bot.data.installations import OAUTH_METADATA
from bot.data.models import Base, Person
from bot.data.people import Who, change_preferences, ensure_person, find_person, read_preferences
from bot.data.schema import current_revision, downgrade, head_revision, upgrade


def test_migrations_go_down_to_empty_and_back_to_head(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        downgrade(database_url, "base")
        assert not {"people", "workspaces"} & set(inspect(engine).get_table_names())
        upgrade(database_url, "head")
        assert current_revision(engine) == head_revision()
        assert {"people", "workspaces"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, [Base.metadata, OAUTH_METADATA])
    engine.dispose()
    assert differences == []


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


def test_two_first_requests_at_once_make_one_row(db: Database) -> None:
    with db.session() as session:
        ensure_person(session, team_id="T1", user_id="U1", tz="UTC")
        ensure_person(session, team_id="T1", user_id="U1", tz="Asia/Tokyo")
    with db.session() as session:
        assert find_person(session, team_id="T1", user_id="U1").tz == "UTC"


def test_unreachable_database_is_reported_as_unavailable() -> None:
    down = Database("postgresql+psycopg://psoas@127.0.0.1:1/psoas")
    with pytest.raises(DatabaseUnavailableError):
        read_preferences(down, Who("T1", "U1"))
