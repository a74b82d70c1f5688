"""The engine, a unit of work with a bound, and the one place a database failure becomes
`DatabaseUnavailableError`: whatever the listener or pass, the app's error handler answers
"I can't save that right now" from this one exception type.

Every wait on the database has a bound, so a database that hangs costs a person seconds,
never the server:
- connecting: `connect_timeout` (libpq's smallest, 2 s);
- waiting for a pooled connection: the pool's checkout timeout;
- each statement, in the server: PostgreSQL's `statement_timeout`; SQLite's busy timeout;
- the whole unit of work, in this process: a watchdog cuts the connection's socket (or
  interrupts SQLite) when a unit outlives its bound. A hung network answers nothing, so only
  a bound kept on our side of the socket holds; TCP keepalives and `tcp_user_timeout` catch
  a peer that vanished without a word.
While the database is known to be down, one unit at a time tries it; the others are told at
once, so a waiting request never holds a server thread (`Breaker`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    InvalidatePoolError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.data.driver import as_sqlalchemy_error
from bot.data.models import Base

log = logging.getLogger(__name__)

T = TypeVar("T")


class DatabaseUnavailableError(Exception):
    """The database could not be reached or refused the unit of work; nothing was saved.

    `transient` is True when trying again later may work (the database is down, slow or
    unreachable), False when the database refused this very unit (bad data, a constraint):
    an event that failed transiently is worth Slack's redelivery, the other kind is not."""

    def __init__(self, reason: str, *, transient: bool = True) -> None:
        super().__init__(reason)
        self.transient = transient


@dataclass(frozen=True)
class Bounds:
    """How long the database may take before a person is told it is unavailable.

    The defaults keep a settings command inside Slack's 3 seconds with room for the network:
    a unit of work from a request gets 2 s in all, then the person hears "I can't save".
    """

    # A whole unit of work (checkout, statements, commit), measured in this process.
    work_seconds: float = 2.0
    # Establishing a connection; libpq and psycopg round anything below 2 s up to 2 s.
    connect_seconds: int = 2
    # Waiting for a free pooled connection when all are busy.
    checkout_seconds: float = 1.0
    # TCP: a peer that stopped acknowledging (cable cut, host gone) closes the socket.
    tcp_user_timeout_ms: int = 5000
    keepalive_idle_seconds: int = 10
    pool_size: int = 10
    max_overflow: int = 10
    # A pooled connection older than this is replaced when next checked out.
    recycle_seconds: int = 300
    # While the database is down, at most one unit this often waits to find out if it is back.
    retry_seconds: float = 1.0

    @property
    def statement_ms(self) -> int:
        return max(1, int(self.work_seconds * 1000))


# How long a unit of work of the nudge engine may take (no one waits on it); a claim of
# thousands of rows gets this long for its statements too.
ENGINE_WORK_SECONDS = 15.0
# Readiness asks the database with a bound of its own, shorter than a probe's timeout.
READINESS_SECONDS = 1.0


def _is_outage(error: BaseException) -> bool:
    """A failure of the database or the way to it, not of this unit's own data."""
    if isinstance(error, DatabaseUnavailableError):
        return error.transient
    if isinstance(error, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    if isinstance(error, DisconnectionError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


# ---------------------------------------------------------------------------------------
# The watchdog: one thread that cuts the connection of a unit that outlived its bound.


@dataclass
class _Alarm:
    cut: Callable[[], None]
    cancelled: bool = False
    # Held while cutting, and by `disarm`: once disarmed, an alarm can no longer cut (the
    # connection may be back in the pool, or in another unit's hands).
    lock: threading.Lock = field(default_factory=threading.Lock)


class Watchdog:
    """Alarms by deadline on one daemon thread; an alarm that comes due runs its `cut`.

    The heap holds (deadline, number, alarm): compared in C, as a request arms one alarm
    and the heap holds a couple of seconds' worth of disarmed ones until their deadlines."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._numbers = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, cut: Callable[[], None]) -> _Alarm:
        alarm = _Alarm(cut)
        entry = (deadline, next(self._numbers), alarm)
        with self._condition:
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="psoas-db-watchdog", daemon=True
                )
                self._thread.start()
            if self._heap[0] is entry:
                self._condition.notify()
        return alarm

    def disarm(self, alarm: _Alarm) -> None:
        with alarm.lock:
            alarm.cancelled = True

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._condition.wait(timeout=60)
                    continue
                deadline, _, first = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(timeout=wait)
                    continue
                heapq.heappop(self._heap)
            with first.lock:
                if first.cancelled:
                    continue
                first.cancelled = True
                try:
                    first.cut()
                except Exception:  # the connection is already gone: nothing left to cut
                    log.debug("cutting a database connection failed", exc_info=True)


WATCHDOG = Watchdog()


def _cut(dbapi_connection: Any) -> None:
    """Make whatever waits on this connection fail now: shut its socket down (PostgreSQL),
    or interrupt the statement (SQLite). The pool then discards the connection."""
    interrupt = getattr(dbapi_connection, "interrupt", None)
    if callable(interrupt):  # sqlite3
        interrupt()
        return
    fd = dbapi_connection.pgconn.socket  # psycopg
    duplicate = socket.socket(fileno=os.dup(fd))
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    finally:
        duplicate.close()


@dataclass
class _Unit:
    deadline: float
    alarms: list[_Alarm] = field(default_factory=list)
    cut: bool = False
    # Ping a pooled connection before use: only where a person waits (see `_watch`).
    ping: bool = True
    # Its commits are on disk before they return, on SQLite too (see `_sqlite_connect`).
    durable: bool = False

    def arm(self, dbapi_connection: Any) -> _Alarm:
        def cut() -> None:
            self.cut = True
            _cut(dbapi_connection)

        alarm = WATCHDOG.arm(self.deadline, cut)
        self.alarms.append(alarm)
        return alarm

    def disarm_all(self) -> None:
        for alarm in self.alarms:
            WATCHDOG.disarm(alarm)
        self.alarms.clear()


_current = threading.local()


def _unit() -> _Unit | None:
    return getattr(_current, "unit", None)


# ---------------------------------------------------------------------------------------
# The breaker: while the database is down, one unit at a time tries it.


class Breaker:
    """`closed` while the database answers. After an outage-type failure it opens: from then
    on one unit at a time, and at most one every `retry_seconds`, is let through to try (and
    waits its bound); every other unit is told at once that the database is unavailable.
    The first unit that gets an answer closes it again."""

    def __init__(
        self, retry_seconds: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.retry_seconds = retry_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self._next_trial = 0.0
        self._trying = False
        self.reason = ""

    def enter(self) -> bool:
        """True if this unit is the one trial of an open breaker; raises when it may not try."""
        if self.down_since is None:  # closed, as nearly always: no lock to take
            return False
        with self._lock:
            if self.down_since is None:
                return False
            if self._trying or self._monotonic() < self._next_trial:
                raise DatabaseUnavailableError(f"still unavailable ({self.reason})")
            self._trying = True
            return True

    def leave(self, trial: bool, error: BaseException | None) -> None:
        if error is None and not trial and self.down_since is None:
            return  # answered, and closed already: nothing to change
        with self._lock:
            if trial:
                self._trying = False
            answered = error is None or (
                isinstance(error, SQLAlchemyError) and not _is_outage(error)
            )
            if answered:
                if self.down_since is not None:
                    log.info(
                        "the database answers again after %.1f s",
                        self._monotonic() - self.down_since,
                    )
                self.down_since = None
            elif error is not None and _is_outage(error):
                now = self._monotonic()
                if self.down_since is None:
                    self.down_since = now
                self._next_trial = now + self.retry_seconds
                self.reason = _describe(error)

    @property
    def is_open(self) -> bool:
        return self.down_since is not None


def _describe(error: BaseException) -> str:
    if isinstance(error, DatabaseUnavailableError):
        return str(error)
    cause = getattr(error, "orig", None)
    return type(cause or error).__name__


# ---------------------------------------------------------------------------------------
# The engine.


def _sqlite_connect(dbapi_connection: Any, record: Any, bounds: Bounds) -> None:
    # SQLAlchemy, not the driver, says when a transaction begins (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it
    cursor.execute("PRAGMA journal_mode=WAL")  # readers and one writer at once
    # A commit is appended to the log without waiting for the disk to sync it: always
    # consistent, and kept across a crash of the process; an OS crash or a power cut can
    # roll back the last commits before the log was synced (at a checkpoint, or by a durable
    # unit's commit). SQLite's own advice for WAL:
    # https://www.sqlite.org/pragma.html#pragma_synchronous
    # With a sync on every commit, writers queued behind each other's fsync, holding the
    # write lock through it. A durable unit (a claim of a right to send, which must outlive
    # a power cut once its message may go) syncs its commits (`_watch`).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={bounds.statement_ms}")
    cursor.close()


def _sqlite_begin(dbapi_connection: Any) -> None:
    """Every unit of work takes SQLite's one writer lock when it begins, so a read followed
    by a write (a click and a settings change on the same person) never interleaves with
    another writer: SQLite's equivalent of SELECT ... FOR UPDATE.

    The dialect's own `do_begin`, not a "begin" event listener: a listener of the
    connection's events makes SQLAlchemy dispatch every event of every statement (before
    and after execute, and on the cursor), found empty each time. A failure here is
    wrapped as one in a statement would be (busy past the timeout, interrupted)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()


def _postgresql_connect_args(bounds: Bounds, query: Mapping[str, Any]) -> dict[str, Any]:
    """libpq's bounds, where DATABASE_URL does not set its own: its query wins (it is the
    operator's), and its `options` (a search_path, say) keep theirs beside ours."""
    defaults: dict[str, Any] = {
        "connect_timeout": bounds.connect_seconds,
        "keepalives": 1,
        "keepalives_idle": bounds.keepalive_idle_seconds,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": bounds.tcp_user_timeout_ms,
    }
    args = {key: value for key, value in defaults.items() if key not in query}
    given = query.get("options", "")
    given = " ".join(given) if isinstance(given, tuple) else str(given)
    options = given
    if "statement_timeout" not in given:
        options += f" -c statement_timeout={bounds.statement_ms}"
    # Instants come back in the session's time zone. In UTC psycopg hands them back with
    # Python's own UTC, which UTCDateTime then keeps as is, rather than in the server's
    # zone, which each of them must be converted from (a tenth of a claim's CPU).
    if "timezone" not in given.lower():
        options += " -c TimeZone=UTC"
    if options != given:
        args["options"] = options.strip()
    return args


def make_engine(url: str, bounds: Bounds | None = None) -> Engine:
    bounds = bounds or Bounds()
    parsed = make_url(url)
    # Parameters stay out of error messages and logs: they can hold tokens and ids.
    options: dict[str, Any] = {"hide_parameters": True}
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        options["connect_args"] = _postgresql_connect_args(bounds, parsed.query)
        options["pool_recycle"] = bounds.recycle_seconds
    # Sized wherever SQLAlchemy pools in a QueuePool: PostgreSQL, and a SQLite file, where
    # its default of 5 kept, the others closed as they came back, made the server's threads
    # beyond 5 open the file anew, run the pragmas and read the schema again. (In-memory
    # SQLite gets a pool that keeps one connection per thread.)
    dialect = cast(type[DefaultDialect], parsed.get_dialect())  # every dialect SQLAlchemy ships
    if issubclass(dialect.get_pool_class(parsed), QueuePool):
        options["pool_size"] = bounds.pool_size
        options["max_overflow"] = bounds.max_overflow
        options["pool_timeout"] = bounds.checkout_seconds
    engine = create_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", lambda c, r: _sqlite_connect(c, r, bounds))
        engine.dialect.do_begin = _sqlite_begin  # type: ignore[method-assign]
    _watch(engine, bounds, ping=backend == "postgresql", sqlite=backend == "sqlite")
    return engine


def _synchronous(dbapi_connection: Any, level: str) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA synchronous={level}")
    finally:
        cursor.close()


def _watch(engine: Engine, bounds: Bounds, *, ping: bool, sqlite: bool = False) -> None:
    """Arm the watchdog on every checkout inside a unit of work, and ping a pooled
    connection before handing it out (SQLAlchemy's own pre-ping would wait unbounded).

    The nudge engine's units skip the ping: it cost a round trip on every one of a pass's
    thousands of checkouts, and no one waits on them. The pool's recycle bounds a
    connection's age, and a connection the database dropped fails its unit, which tells the
    pool to replace every connection as old as it; the engine tries the unit again later.
    `Database.transact` (a settings change answered in the ack) skips it too, and tries its
    work once more on a new connection at once.

    On SQLite a durable unit's connection syncs every commit (`PRAGMA synchronous=FULL`,
    set here, between transactions, as SQLite requires) and is handed back to the pool as
    it was (NORMAL). PostgreSQL syncs every commit already."""

    def connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["psoas_fresh"] = True

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        unit = _unit()
        fresh = record.info.pop("psoas_fresh", False)
        if unit is not None:
            record.info["psoas_alarm"] = unit.arm(dbapi_connection)
            if sqlite and unit.durable:
                try:
                    _synchronous(dbapi_connection, "FULL")
                except Exception as exc:  # a broken connection: the pool takes another
                    raise DisconnectionError(type(exc).__name__) from exc
                record.info["psoas_full"] = True
        if not ping or fresh or (unit is not None and not unit.ping):
            return
        deadline = unit.deadline if unit else time.monotonic() + bounds.work_seconds
        own = None if unit else WATCHDOG.arm(deadline, lambda: _cut(dbapi_connection))
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:
            alarm = record.info.pop("psoas_alarm", None)
            if alarm is not None:
                WATCHDOG.disarm(alarm)
            if deadline - time.monotonic() < 0.75 * bounds.work_seconds:
                # The ping waited: no time is left for a new connection. Say so now.
                reason = f"no answer to a ping ({type(exc).__name__})"
                raise DatabaseUnavailableError(reason) from None
            # Refused at once (the database restarted): every pooled connection is likely
            # gone with this one; the pool drops them all and connects anew.
            raise InvalidatePoolError(type(exc).__name__) from None
        finally:
            if own is not None:
                WATCHDOG.disarm(own)

    def checkin(dbapi_connection: Any, record: Any) -> None:
        alarm = record.info.pop("psoas_alarm", None)
        if alarm is not None:
            WATCHDOG.disarm(alarm)
        if record.info.pop("psoas_full", False) and dbapi_connection is not None:
            # A connection that cannot take it (closed, cut) is more durable, not less.
            with suppress(Exception):
                _synchronous(dbapi_connection, "NORMAL")

    event.listen(engine, "connect", connected)
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)


class Database:
    def __init__(self, url: str, bounds: Bounds | None = None) -> None:
        self.url = url
        self.bounds = bounds or Bounds()
        self.engine = make_engine(url, self.bounds)
        self.breaker = Breaker(self.bounds.retry_seconds)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit(
        self,
        seconds: float | None = None,
        *,
        fail_fast: bool = True,
        ping: bool | None = None,
        durable: bool = False,
    ) -> Iterator[None]:
        """A bounded piece of work on the engine (sessions and raw connections alike):
        `seconds` in all (the request bound unless given), then it fails as unavailable.
        Any SQLAlchemy failure inside leaves as `DatabaseUnavailableError`.

        `fail_fast`: while the database is known to be down and another unit is trying it,
        fail at once rather than wait (a person is waiting); the nudge engine, which has no
        one waiting, passes False and always tries. `ping`: ping a pooled connection before
        use (PostgreSQL; by default where a person waits, see `_watch`). `durable`: every
        commit is on disk when it returns, on SQLite too, where other units' commits may be
        rolled back by an OS crash or a power cut (`_sqlite_connect`): for a claim of the
        right to send something, which must not be forgotten once it may have gone."""
        outer = _unit()
        if outer is not None:  # nested: the outer unit's bound and breaker already apply
            outer.durable = outer.durable or durable  # for the connections it takes from now
            yield
            return
        bound = self.bounds.work_seconds if seconds is None else seconds
        trial = self.breaker.enter() if fail_fast else False
        unit = _Unit(
            deadline=time.monotonic() + bound,
            ping=fail_fast if ping is None else ping,
            durable=durable,
        )
        _current.unit = unit
        error: BaseException | None = None
        try:
            yield
        except SQLAlchemyError as exc:
            error = exc
            transient = _is_outage(exc) or unit.cut
            reason = "no answer within the bound" if unit.cut else _describe(exc)
            raise DatabaseUnavailableError(reason, transient=transient) from exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            _current.unit = None
            unit.disarm_all()
            if unit.cut and error is not None and not isinstance(error, DatabaseUnavailableError):
                error = DatabaseUnavailableError("no answer within the bound")
            self.breaker.leave(trial, error)

    @contextmanager
    def session(
        self,
        seconds: float | None = None,
        *,
        fail_fast: bool = True,
        statement_seconds: float | None = None,
        durable: bool = False,
    ) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back whole if it raises.

        Any SQLAlchemy failure leaves as `DatabaseUnavailableError`, the one type the rest of
        the app knows; the original stays attached as its cause for the log. `seconds`,
        `fail_fast` and `durable` as for `unit`; `statement_seconds` lets this unit's
        statements run longer than the request bound on PostgreSQL (a claim of thousands of
        rows).
        """
        unit = self.unit(seconds, fail_fast=fail_fast, durable=durable)
        with unit, self._sessions.begin() as session:
            if statement_seconds is not None and self.dialect == "postgresql":
                ms = max(1, int(statement_seconds * 1000))
                session.execute(text(f"SET LOCAL statement_timeout = {ms}"))
            yield session

    def transact(self, work: Callable[[Connection], T]) -> T:
        """`work` on a Core connection in one transaction, committed when it returns, rolled
        back if it raises: one unit of work, bounded and translated as `session` is (the
        watchdog, SQLite's BEGIN IMMEDIATE). For a request answered with a few Core
        statements: an ORM session's set-up, bookkeeping and close cost more than the
        statements themselves.

        No ping first (a round trip on every request): a pooled connection the database
        dropped (a restart, a failover) fails at its first statement instead, the pool lets
        go of every connection as old, and `work` runs once more on a new connection within
        the same bound. So `work` must be safe to run twice (a settings change sets values
        it read under lock: it is)."""
        return self._once_more_if_dropped(lambda: self._in_transaction(work))

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as connection:
            return work(connection)

    def autocommit(self, work: Callable[[Any], T]) -> T:
        """`work` on the driver's own connection (`bot.data.driver`), each statement its own
        transaction, committed as it runs: for a change that is one read and one UPDATE
        guarded by what it read, where BEGIN and COMMIT were two of four round trips.
        Bounded, translated and tried once more on a dropped connection as `transact` is:
        `work` must be safe to run twice (the guarded UPDATE is)."""
        return self._once_more_if_dropped(lambda: self._on_the_driver(work))

    def _on_the_driver(self, work: Callable[[Any], T]) -> T:
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        try:
            # The pool's own connection: a Connection around it cost more than the work.
            pooled = self.engine.raw_connection()
        except dbapi_error as exc:  # could not connect: as engine.connect() would say it
            raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
        try:
            driver: Any = pooled.driver_connection
            postgresql = self.dialect == "postgresql"
            try:
                if postgresql:  # SQLite's connections run in autocommit (_sqlite_connect)
                    driver.autocommit = True
                try:
                    return work(driver)
                finally:
                    if postgresql and not (driver.broken or driver.closed):
                        driver.autocommit = False  # as the pool hands connections out
            except dbapi_error as exc:
                raise as_sqlalchemy_error(self.engine, pooled, exc) from exc
        finally:
            pooled.close()  # back to the pool

    def _once_more_if_dropped(self, run: Callable[[], T]) -> T:
        """`run` in one bounded unit; once more on a new connection if its pooled one turned
        out dropped at once (a restart, a failover: the pool lets go of every connection as
        old), within the same bound."""
        with self.unit(ping=False):
            try:
                return run()
            except DBAPIError as exc:
                unit = _unit()
                left = unit.deadline - time.monotonic() if unit is not None else 0.0
                # Only a connection found dead at once: one that hung has used the bound.
                if not exc.connection_invalidated or left < 0.75 * self.bounds.work_seconds:
                    raise
                log.info("a pooled database connection was dropped; trying on a new one")
            return run()

    def ping(self, seconds: float = READINESS_SECONDS) -> str | None:
        """None if the database answers within `seconds`, else why not (for readiness)."""
        try:
            with self.unit(seconds), self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except DatabaseUnavailableError as exc:
            return str(exc)
        return None

    def dispose(self) -> None:
        self.engine.dispose()


def dialect_insert(dialect: str) -> Any:
    """PostgreSQL's or SQLite's own INSERT, the ones that take ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def insert_ignoring(session: Session, target: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in this session's dialect (PostgreSQL or SQLite)."""
    return dialect_insert(session.get_bind().dialect.name)(target).on_conflict_do_nothing()


def insert_ignoring_duplicates(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """Insert unless the row is already there (two first requests at once must not collide);
    True if this call inserted it."""
    # RETURNING, not rowcount: with psycopg, SQLAlchemy reports -1 for these inserts.
    key = inspect(model).primary_key[0]
    statement = insert_ignoring(session, model).values(**values).returning(key)
    return session.execute(statement).first() is not None
