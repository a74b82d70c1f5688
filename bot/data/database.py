"""The engine, a session per unit of work, and the one place a database failure becomes
`DatabaseUnavailableError`: whatever the listener or pass, the app's error handler answers
"I can't save that right now" from this one exception type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.data.models import Base


class DatabaseUnavailableError(Exception):
    """The database could not be reached or refused the unit of work; nothing was saved."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it
    cursor.execute("PRAGMA journal_mode=WAL")  # readers and one writer at once
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "postgresql":
        # Fail fast when the database is down, so a person hears "cannot save" within seconds.
        options["connect_args"] = {"connect_timeout": 3}
        options["pool_size"] = 10
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back whole if it raises.

        Any SQLAlchemy failure leaves as `DatabaseUnavailableError`, the one type the rest of
        the app knows; the original stays attached as its cause for the log.
        """
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise DatabaseUnavailableError(type(exc).__name__) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def insert_ignoring(session: Session, target: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in this session's dialect (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(target).on_conflict_do_nothing()


def insert_ignoring_duplicates(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """Insert unless the row is already there (two first requests at once must not collide);
    True if this call inserted it."""
    # RETURNING, not rowcount: with psycopg, SQLAlchemy reports -1 for these inserts.
    key = inspect(model).primary_key[0]
    statement = insert_ignoring(session, model).values(**values).returning(key)
    return session.execute(statement).first() is not None
