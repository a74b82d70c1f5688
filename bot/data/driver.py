"""Core statements run on the driver's own cursor, for the few requests where SQLAlchemy's
per-execution work costs more than the statement itself.

A settings command answered in the ack is two short statements; through SQLAlchemy each one
spent more of the server's CPU on its execution context and result object than the database
spent on it. Here the statement is still written in Core and compiled by SQLAlchemy, once per
dialect; its values go through the same type processors SQLAlchemy applies (SQLite's
instants as text, UTC on the way in); a driver error leaves as SQLAlchemy's `DBAPIError`,
so `Database.unit` tells an outage from a refusal as for any other statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

Processor = Callable[[Any], Any]


class DriverStatement:
    """`statement` compiled for `dialect`: its SQL and how to pass it values by name.

    Bound values pass through their type's bind processor, except those named in `raw`:
    values as the driver handed them back (to compare a row with itself as read)."""

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, *, raw: Iterable[str] = ()
    ) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        kept = set(raw)
        self._processors: dict[str, Processor] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None and name not in kept:
                self._processors[name] = processor
        # A positional driver (SQLite's qmark) takes the values in the order they appear.
        self._order = tuple(compiled.positiontup or ()) if dialect.positional else None

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        processed = dict(values)
        for name, processor in self._processors.items():
            if name in processed:
                processed[name] = processor(processed[name])
        if self._order is None:
            return processed
        return tuple(processed[name] for name in self._order)


def result_processors(
    columns: Sequence[ColumnElement[Any]], dialect: Dialect
) -> tuple[Processor | None, ...]:
    """What SQLAlchemy would do to each column's value as the driver hands it back."""
    return tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )


def as_sqlalchemy_error(
    engine: Engine, pooled: PoolProxiedConnection, error: Exception, what: str | None = None
) -> DBAPIError:
    """A driver error as SQLAlchemy reports one. A connection it found gone leaves the pool
    with every connection as old (a restart takes them all), as SQLAlchemy does when one of
    its own statements finds it so; the unit's one more try then gets a new connection."""
    gone = engine.dialect.is_disconnect(error, pooled.driver_connection, None)  # type: ignore[arg-type]
    if gone:
        engine.pool._invalidate(pooled, error)  # SQLAlchemy's own step (Connection's handler)
    wrapped = DBAPIError.instance(
        what, None, error, engine.dialect.loaded_dbapi.Error, connection_invalidated=gone
    )
    return cast(DBAPIError, wrapped)  # a DBAPI error always comes back as one
