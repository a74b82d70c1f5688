"""The schema's version: Alembic, run from code, over the migrations inside the package.

Rolling upgrades and rollbacks follow expand/contract. Each migration says, in a module-level
`compatible_with_code_from`, the oldest code revision that still runs on the schema it makes:
an additive step (a new table, a nullable column) names the revision before it; a contract
step (a dropped or renamed column) names itself, and so does a migration that says nothing.

Old code cannot read the migrations that came after it, so `upgrade` and `downgrade` write
what they found into the database (`schema_compatibility`: this schema runs code from revision
X on). At start-up `check_schema` reads it back: a schema newer than the code is accepted when
the code is at least that X, and what the code's tables and columns need is still there.

Alembic is imported only when the schema is not at `SCHEMA_HEAD`: loading it and reading the
migrations cost a `tick` (a whole process per pass, from cron) a quarter of its start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Column, Engine, MetaData, String, Table, create_engine, delete, inspect
from sqlalchemy import select as sa_select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# The newest migration's revision, which this code runs on as it is. A test holds it equal to
# Alembic's head, so a new migration cannot land without it.
SCHEMA_HEAD: Final = "0013"

# Alembic's own record of the schema's revision (its default `version_table`).
ALEMBIC_VERSION = Table(
    "alembic_version", MetaData(), Column("version_num", String(32), primary_key=True)
)

# One row: the schema's revision, and the oldest code revision that runs on it. Kept beside
# Alembic's own version table and written by `upgrade`/`downgrade`, never by a migration, so
# that code older than the migrations can read it.
COMPATIBILITY_METADATA = MetaData()
COMPATIBILITY = Table(
    "schema_compatibility",
    COMPATIBILITY_METADATA,
    Column("revision", String(32), primary_key=True),
    Column("oldest_code", String(32), nullable=False),
)


def include_name(name: str | None, type_: str, _parents: object = None) -> bool:
    """For autogenerate: the compatibility record is no part of the migrated schema."""
    return not (type_ == "table" and name == COMPATIBILITY.name)


def alembic_config(url: str, migrations: Path = MIGRATIONS_DIR) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def scripts(migrations: Path = MIGRATIONS_DIR) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://", migrations))


def upgrade(url: str, revision: str = "head", *, migrations: Path = MIGRATIONS_DIR) -> None:
    from alembic import command

    command.upgrade(alembic_config(url, migrations), revision)
    record_compatibility(url, migrations)


def downgrade(url: str, revision: str = "base", *, migrations: Path = MIGRATIONS_DIR) -> None:
    from alembic import command

    command.downgrade(alembic_config(url, migrations), revision)
    record_compatibility(url, migrations)


def head_revision(migrations: Path = MIGRATIONS_DIR) -> str | None:
    return scripts(migrations).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


def declared_floor(script: Script) -> str:
    """The oldest code revision this migration's schema runs, as the migration declares it;
    the migration itself when it declares nothing (a contract step, the safe reading)."""
    floor = getattr(script.module, "compatible_with_code_from", None)
    return str(floor) if floor else script.revision


def oldest_compatible_code(revision: str, migrations: Path = MIGRATIONS_DIR) -> str:
    """The oldest code revision that runs on the schema at `revision`.

    Code at revision C runs on it when every migration applied after C declares a floor at C
    or older. Walk down from `revision`, one candidate C at a time, until a migration above
    the candidate needs newer code.
    """
    chain = list(scripts(migrations).iterate_revisions(revision, "base"))  # newest first
    position = {script.revision: index for index, script in enumerate(chain)}
    oldest = chain[0].revision
    allowed = len(chain) - 1  # the oldest position every migration so far accepts
    for index in range(1, len(chain)):
        above = chain[index - 1]
        allowed = min(allowed, position.get(declared_floor(above), index - 1))
        if index > allowed:
            break
        oldest = chain[index].revision
    return oldest


def record_compatibility(url: str, migrations: Path = MIGRATIONS_DIR) -> None:
    engine = create_engine(url)
    try:
        revision = current_revision(engine)
        with engine.begin() as connection:
            COMPATIBILITY_METADATA.create_all(connection, checkfirst=True)
            connection.execute(delete(COMPATIBILITY))
            if revision is not None:
                oldest = oldest_compatible_code(revision, migrations)
                connection.execute(
                    COMPATIBILITY.insert().values(revision=revision, oldest_code=oldest)
                )
    finally:
        engine.dispose()


def recorded_oldest_code(engine: Engine) -> str | None:
    """What the newest `upgrade` wrote: the oldest code revision the schema runs."""
    try:
        with engine.connect() as connection:
            return connection.execute(sa_select(COMPATIBILITY.c.oldest_code)).scalar()
    except SQLAlchemyError:  # no such table: migrated before the record existed
        return None


def missing_for_this_code(engine: Engine) -> list[str]:
    """Tables and columns this code's models use that the database lacks, and columns the
    database requires that this code would not fill."""
    from bot.data.installations import OAUTH_METADATA
    from bot.data.models import Base

    found = inspect(engine)
    tables = set(found.get_table_names())
    gaps: list[str] = []
    for metadata in (Base.metadata, OAUTH_METADATA):
        for table in metadata.sorted_tables:
            if table.name not in tables:
                gaps.append(f"table {table.name}")
                continue
            columns = {column["name"]: column for column in found.get_columns(table.name)}
            known = set(table.columns.keys())
            gaps += [f"column {table.name}.{name}" for name in sorted(known - set(columns))]
            gaps += [
                f"column {table.name}.{name} (required, and unknown to this code)"
                for name, column in sorted(columns.items())
                if name not in known
                and not column.get("nullable", True)
                and column.get("default") is None
            ]
    return gaps


class SchemaState(StrEnum):
    AT_HEAD = "at head"
    BEHIND = "behind"  # older than the code: migrate
    AHEAD_COMPATIBLE = "ahead, compatible"  # newer, and it runs this code
    AHEAD_INCOMPATIBLE = "ahead, incompatible"  # newer, and it does not


@dataclass(frozen=True)
class SchemaCheck:
    state: SchemaState
    current: str | None
    head: str | None
    reason: str = ""


def _recorded_revision(engine: Engine) -> str | None:
    """The one revision in Alembic's version table, read without Alembic; None when there is
    no such table, or no single row in it (then Alembic itself must look)."""
    try:
        with engine.connect() as connection:
            found = connection.execute(sa_select(ALEMBIC_VERSION.c.version_num).limit(2)).all()
    except SQLAlchemyError:
        return None
    return str(found[0][0]) if len(found) == 1 else None


def check_schema(engine: Engine) -> SchemaCheck:
    """Can this code run on the database's schema, and if not, exactly why."""
    if _recorded_revision(engine) == SCHEMA_HEAD:
        return SchemaCheck(SchemaState.AT_HEAD, SCHEMA_HEAD, SCHEMA_HEAD)
    directory = scripts()
    head = directory.get_current_head()
    current = current_revision(engine)
    if current == head:
        return SchemaCheck(SchemaState.AT_HEAD, current, head)
    known = {script.revision for script in directory.walk_revisions()}
    if current is None or current in known:
        return SchemaCheck(SchemaState.BEHIND, current, head)
    # A revision this code has never seen: newer code migrated the database.
    oldest = recorded_oldest_code(engine)
    gaps = missing_for_this_code(engine)
    if gaps:
        reason = f"schema {current} drops or requires what this code uses: {', '.join(gaps)}"
    elif oldest is None:
        reason = f"schema {current} does not say which older code it still runs"
    elif oldest not in known:
        reason = f"schema {current} runs code from revision {oldest} on, and this code is {head}"
    else:
        return SchemaCheck(SchemaState.AHEAD_COMPATIBLE, current, head)
    return SchemaCheck(SchemaState.AHEAD_INCOMPATIBLE, current, head, reason)
