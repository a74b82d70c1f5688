"""Migrations: down to empty and back, and in step with the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from bot.cli import prepare_schema
from bot.core.content import Library
from bot.data.database import Database
from bot.data.installations import OAUTH_METADATA
from bot.data.models import Base
from bot.data.schema import (
    MIGRATIONS_DIR,
    SCHEMA_HEAD,
    SchemaState,
    check_schema,
    current_revision,
    declared_floor,
    downgrade,
    head_revision,
    include_name,
    oldest_compatible_code,
    scripts,
    upgrade,
)
from bot.settings import Settings, SettingsError
from bot.slack.app import build_app
from tests.support.bots import AfterAck, DispatchedBot
from tests.support.standin import SlackStandIn


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
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        differences = compare_metadata(context, [Base.metadata, OAUTH_METADATA])
    engine.dispose()
    assert differences == []


# --- expand/contract: a schema newer than the code -------------------------------------------

# This code's head, the revision before it, and the next one a newer psoas-bot would ship.
HEAD = head_revision() or "0000"
PREVIOUS = f"{int(HEAD) - 1:04d}"
NEXT = f"{int(HEAD) + 1:04d}"

ADDITIVE = f'''"""people get a nickname (test only: an additive step after the code's head)"""

import sqlalchemy as sa
from alembic import op

revision = "{NEXT}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None
compatible_with_code_from = "{HEAD}"


def upgrade():
    with op.batch_alter_table("people") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(40), nullable=True))


def downgrade():
    with op.batch_alter_table("people") as batch_op:
        batch_op.drop_column("nickname")
'''

# A contract step: it drops a column this code maps.
CONTRACT = ADDITIVE.replace(
    f'compatible_with_code_from = "{HEAD}"', f'compatible_with_code_from = "{NEXT}"'
)
CONTRACT = CONTRACT.replace(
    'batch_op.add_column(sa.Column("nickname", sa.String(40), nullable=True))',
    'batch_op.drop_column("quiet_end")',
).replace(
    'batch_op.drop_column("nickname")',
    'batch_op.add_column(sa.Column("quiet_end", sa.Time(), nullable=True))',
)
# Marked compatible, yet it drops a column (the check at start-up does not take its word).
MISLABELLED = CONTRACT.replace(
    f'compatible_with_code_from = "{NEXT}"', f'compatible_with_code_from = "{HEAD}"'
)
# Marked compatible, yet it adds a column older code would not fill.
REQUIRED_COLUMN = ADDITIVE.replace(
    'sa.Column("nickname", sa.String(40), nullable=True)',
    'sa.Column("nickname", sa.String(40), nullable=False)',
)


def newer_migrations(tmp_path: Path, revision_next: str) -> Path:
    """The package's migrations plus one revision after the code's head: what the next
    version of psoas-bot would ship."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / f"{NEXT}_test_only.py").write_text(revision_next)
    return copy


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a PostgreSQL schema of its own so the
    suite's tables are untouched."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newer.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"compat_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_head_the_code_checks_for_at_start_up_is_alembics_head() -> None:
    # A new migration must move SCHEMA_HEAD with it, or every start-up would load Alembic.
    assert head_revision() == SCHEMA_HEAD


def test_a_schema_at_head_is_known_without_alembic_and_an_older_one_is_not(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        assert check_schema(engine).state is SchemaState.AT_HEAD
        downgrade(database_url, PREVIOUS)
        check = check_schema(engine)
        assert (check.state, check.current, check.head) == (SchemaState.BEHIND, PREVIOUS, HEAD)
    finally:
        upgrade(database_url, "head")
        engine.dispose()


def test_each_migration_names_the_oldest_code_it_runs_and_chains_compose() -> None:
    # 0007 only adds; 0006 and 0008 drop columns (contract steps); 0009 and 0010 only add;
    # 0012 moves people.next_summary_at to a table of its own (a contract step).
    assert oldest_compatible_code("0007") == "0006"
    assert oldest_compatible_code("0008") == "0008"
    assert oldest_compatible_code("0010") == "0009"
    assert oldest_compatible_code("0012") == "0012"
    assert oldest_compatible_code("0006") == "0006"
    assert oldest_compatible_code("0001") == "0001"


def test_a_migration_marked_compatible_only_adds_what_older_code_can_ignore(
    tmp_path: Path,
) -> None:
    """What each mark claims, checked on the schema itself: every table and column of the
    schema the named code ran on is still there, and each new column fills itself."""
    url = f"sqlite:///{tmp_path / 'marks.db'}"
    for script in reversed(list(scripts().walk_revisions())):  # oldest first
        floor = declared_floor(script)
        if floor == script.revision:
            continue  # a contract step: older code is refused, nothing to check
        upgrade(url, floor)
        before = reflected(url)
        upgrade(url, script.revision)
        after = reflected(url)
        for table, columns in before.items():
            assert table in after, f"{script.revision} drops table {table}"
            assert set(columns) <= set(after[table]), f"{script.revision} drops from {table}"
        for table, columns in after.items():
            if table not in before:
                continue  # a new table: older code never writes to it
            for name, fills_itself in columns.items():
                if name not in before[table]:
                    assert fills_itself, f"{script.revision}: {table}.{name} needs a value"


def reflected(url: str) -> dict[str, dict[str, bool]]:
    """table -> column -> whether an INSERT that leaves the column out still works."""
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {
            table: {
                column["name"]: bool(column["nullable"] or column.get("default") is not None)
                for column in found.get_columns(table)
            }
            for table in found.get_table_names()
        }
    finally:
        engine.dispose()


def test_a_schema_one_additive_revision_ahead_still_serves_this_code(
    empty_url: str, tmp_path: Path, settings: Settings, library: Library, standin: SlackStandIn
) -> None:
    upgrade(empty_url, migrations=newer_migrations(tmp_path, ADDITIVE))
    database = Database(empty_url)
    try:
        check = check_schema(database.engine)
        assert (check.state, check.current, check.head) == (
            SchemaState.AHEAD_COMPATIBLE,
            NEXT,
            HEAD,
        )
        prepare_schema(database)  # what `run` and `tick` do first: no complaint
        with AfterAck() as after_ack:
            app = build_app(settings, library=library, database=database, after_ack=after_ack)
            slack = DispatchedBot(app, standin, after_ack)
            assert slack.command("on").status_code == 200
            shown = json.dumps(slack.command("status").shown())
        assert "went wrong" not in shown and "can't" not in shown, shown
        with database.session() as session:
            assert session.execute(text("SELECT opted_in FROM people")).scalar() in (1, True)
    finally:
        database.dispose()


@pytest.mark.parametrize(
    ("revision", "named"),
    [
        (CONTRACT, "column people.quiet_end"),
        (MISLABELLED, "column people.quiet_end"),
        (REQUIRED_COLUMN, "column people.nickname (required, and unknown to this code)"),
    ],
    ids=["contract", "mislabelled", "required-column"],
)
def test_a_schema_ahead_that_breaks_this_code_is_refused_saying_why(
    revision: str, named: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url, migrations=newer_migrations(tmp_path, revision))
    database = Database(url)
    try:
        with pytest.raises(SettingsError) as refused:
            prepare_schema(database)
    finally:
        database.dispose()
    message = str(refused.value)
    assert f"schema {NEXT} drops or requires what this code uses: {named}" in message
    assert f"`psoas-bot migrate --to {HEAD}`" in message


def test_a_contract_step_alone_is_refused_by_its_mark(tmp_path: Path) -> None:
    """A contract step whose drop this code would not notice is still refused: its mark says
    it no longer runs older code."""
    harmless = CONTRACT.replace('drop_column("quiet_end")', 'drop_column("never_there")')
    harmless = harmless.replace(
        'batch_op.add_column(sa.Column("quiet_end", sa.Time(), nullable=True))', "pass"
    ).replace(
        'def upgrade():\n    with op.batch_alter_table("people") as batch_op:\n'
        '        batch_op.drop_column("never_there")',
        'def upgrade():\n    op.create_table("scratch", sa.Column("id", sa.Integer, '
        'primary_key=True))\n    op.drop_table("scratch")',
    )
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url, migrations=newer_migrations(tmp_path, harmless))
    engine = create_engine(url)
    try:
        check = check_schema(engine)
    finally:
        engine.dispose()
    assert check.state is SchemaState.AHEAD_INCOMPATIBLE
    code = f"and this code is {HEAD}"
    assert check.reason == f"schema {NEXT} runs code from revision {NEXT} on, {code}"


def test_migrate_rolls_back_with_the_newer_code_and_refuses_without_it(tmp_path: Path) -> None:
    newer = newer_migrations(tmp_path, CONTRACT)
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url, migrations=newer)
    env = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "text"}
    # This code has no step down from the newer revision: it says who does.
    refused = subprocess.run(
        [sys.executable, "-m", "bot.cli", "migrate", "--to", HEAD],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stderr
    assert f"newer than this code ({HEAD})" in refused.stderr
    assert "Traceback" not in refused.stderr
    # The newer code rolls it back; then this code runs on it again.
    downgrade(url, HEAD, migrations=newer)
    database = Database(url)
    try:
        assert check_schema(database.engine).state is SchemaState.AT_HEAD
    finally:
        database.dispose()


def test_migrate_to_an_older_revision_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.db'}"
    env = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "text"}

    def migrate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "migrate", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert migrate().stdout.strip() == f"database schema: empty -> {HEAD}"
    assert migrate("--to", PREVIOUS).stdout.strip() == f"database schema: {HEAD} -> {PREVIOUS}"
    assert migrate().stdout.strip() == f"database schema: {PREVIOUS} -> {HEAD}"
    unknown = migrate("--to", "0042")
    assert unknown.returncode == 2 and "--to 0042: this code knows revisions 0001" in unknown.stderr


def test_next_summaries_move_to_their_own_table_and_back_unchanged(database_url: str) -> None:
    """0012 takes `next_summary_at` off `people`: every stored instant comes through the
    upgrade and the downgrade, and no one gains a summary they did not have."""
    engine = create_engine(database_url)
    two_people = text(
        "INSERT INTO people (team_id, user_id, opted_in, tz, work_start, work_end, work_days, "
        "interval_minutes, weekly_summary, meetings, next_summary_at) VALUES "
        "('T1', 'UDUE', true, 'UTC', '09:00:00', '17:00:00', 31, 60, true, true, :due), "
        "('T1', 'UOFF', true, 'UTC', '09:00:00', '17:00:00', 31, 60, false, true, NULL)"
    )
    due = datetime(2026, 11, 27, 15, tzinfo=UTC)

    def read(query: str) -> dict[str, datetime | None]:
        with engine.connect() as connection:
            rows = connection.execute(text(query)).all()
        # SQLite hands instants back as text; PostgreSQL in the server's zone.
        return {
            user: None if at is None else datetime.fromisoformat(str(at)).astimezone(UTC)
            for user, at in rows
        }

    try:
        downgrade(database_url, "0011")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO workspaces (team_id) VALUES ('T1')"))
            connection.execute(two_people, {"due": due})
        upgrade(database_url, "0012")
        assert "next_summary_at" not in {c["name"] for c in inspect(engine).get_columns("people")}
        assert read("SELECT user_id, next_summary_at FROM summary_schedule") == {"UDUE": due}
        downgrade(database_url, "0011")
        assert "summary_schedule" not in inspect(engine).get_table_names()
        back = read("SELECT user_id, next_summary_at FROM people")
        assert back == {"UDUE": due, "UOFF": None}
    finally:
        upgrade(database_url, "head")
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM people WHERE team_id = 'T1'"))
            connection.execute(text("DELETE FROM workspaces WHERE team_id = 'T1'"))
        engine.dispose()


def test_everyone_with_a_next_nudge_gets_a_wake_up_and_the_log_keeps_its_rows(
    database_url: str,
) -> None:
    """0013 finds who is due through `nudge_queue`: everyone stored with a next nudge gets
    one wake-up, no one else does, later writes of a next nudge add theirs, and the nudge
    log's rows come through its new keys both ways."""
    engine = create_engine(database_url)
    two_people = text(
        "INSERT INTO people (team_id, user_id, opted_in, tz, work_start, work_end, work_days, "
        "interval_minutes, weekly_summary, meetings, next_slot_at, next_nudge_at) VALUES "
        "('T1', 'UON', true, 'UTC', '09:00:00', '17:00:00', 31, 60, true, true, :at, :at), "
        "('T1', 'UOFF', false, 'UTC', '09:00:00', '17:00:00', 31, 60, true, true, NULL, NULL)"
    )
    one_nudge = text(
        "INSERT INTO nudge_log (team_id, user_id, kind, slot_at, send_at, status, attempts, "
        "claimed_at, claimed_by) VALUES ('T1', 'UON', 'nudge', :sent, :sent, 'sent', 1, :sent, 'w')"
    )
    at = datetime(2026, 11, 27, 15, tzinfo=UTC)
    sent = datetime(2026, 11, 27, 14, tzinfo=UTC)

    def queued() -> list[tuple[str, datetime]]:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT user_id, next_nudge_at FROM nudge_queue"))
            return sorted(
                (user, datetime.fromisoformat(str(when)).astimezone(UTC)) for user, when in rows
            )

    try:
        downgrade(database_url, "0012")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO workspaces (team_id) VALUES ('T1')"))
            connection.execute(two_people, {"at": at})
            connection.execute(one_nudge, {"sent": sent})
        upgrade(database_url, "0013")
        assert queued() == [("UON", at)]
        with engine.begin() as connection:  # a write of SQL's own, as an operator's
            later = (
                "'2026-11-27 16:00:00'"
                if engine.dialect.name == "sqlite"
                else "'2026-11-27 16:00:00+00'"
            )
            connection.execute(
                text(f"UPDATE people SET next_slot_at = {later}, next_nudge_at = {later} "
                     "WHERE user_id = 'UOFF'")
            )  # fmt: skip
        assert [user for user, _ in queued()] == ["UOFF", "UON"]
        with engine.connect() as connection:
            logged = connection.execute(text("SELECT user_id FROM nudge_log")).scalars().all()
        assert logged == ["UON"]
        downgrade(database_url, "0012")
        assert "nudge_queue" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM nudge_log")).scalar() == 1
    finally:
        upgrade(database_url, "head")
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM nudge_log WHERE team_id = 'T1'"))
            connection.execute(text("DELETE FROM nudge_queue WHERE team_id = 'T1'"))
            connection.execute(text("DELETE FROM people WHERE team_id = 'T1'"))
            connection.execute(text("DELETE FROM workspaces WHERE team_id = 'T1'"))
        engine.dispose()
