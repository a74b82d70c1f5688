"""Claims: who is due, and the one row per person and slot that makes each nudge go out once.

Exactly once, whatever the number of processes:
- a person is due when their wake-up in `nudge_queue` has come (and still matches their
  row); a pass reads only those, deletes them and queues the next ones (on PostgreSQL with
  `FOR UPDATE SKIP LOCKED`, so passes running at once split the work); the person's own
  row learns the next nudge right after (`store_next_nudges`; docs/DELIVERY.md);
- before sending, it writes a nudge log row unique per (slot, kind, workspace, person); a
  pass that loses that race sends nothing;
- the row is completed after Slack answers. A row left `claimed` by a crash is sent once
  more if still within its grace, then never again.

Only SQL and schedule math happen here, inside short transactions: rendering and sending
come after, in `tick`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple, TypeVarTuple, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Select,
    TextClause,
    bindparam,
    case,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler

from bot.core.preferences import mask_to_days, quick_preferences
from bot.core.schedule import (
    CATCH_UP_LIMIT,
    NO_OFFSET,
    DndWindow,
    Nudge,
    SteadyMemo,
    catch_up,
    dnd_windows,
    spread_offset,
    steady_catch_up,
)
from bot.data.database import ENGINE_WORK_SECONDS, Database, insert_ignoring
from bot.data.driver import as_sqlalchemy_error
from bot.data.models import Base, LogKind, LogStatus, NudgeLog, NudgeQueue, Person, Workspace
from bot.data.people import SCHEDULE_COLUMNS, find_person, stop_person
from bot.engine.sender import Outcome

log = logging.getLogger(__name__)

# A claim older than this with no outcome belongs to a process that died.
CLAIM_LEASE = timedelta(minutes=2)
# `claimed_by` of a claim handed back unsent, for a later pass (its workspace must wait out
# a long Retry-After); `claimed_at` then says when it may be sent. No worker has this name.
RELEASED = "(released)"
CLAIM_BATCH = 5000
# Rounds of only stale wake-ups one call clears before it leaves the rest to the next pass.
STALE_ROUNDS = 4
MAX_ATTEMPTS = 2  # the first send, and one resend after a crash
# A weekly summary missed by more than this (downtime) waits for next week's.
SUMMARY_GRACE = timedelta(hours=1)


def _pass_session(
    db: Database, *, heavy: bool = False, claims: bool = False
) -> AbstractContextManager[Session]:
    """A unit of work of a nudge pass: bounded, but with no person waiting on it, it is not
    failed fast while the database recovers; `heavy` statements (a claim of thousands of
    rows) may run as long as the unit. A unit that `claims` the right to send is durable:
    on disk before its message can go, so not even a power cut can make a slot due again
    after its nudge went out. (A lost renewal, release or outcome only leaves a claim to
    lapse, and the resend reads the DM first.)"""
    return db.session(
        ENGINE_WORK_SECONDS,
        fail_fast=False,
        statement_seconds=ENGINE_WORK_SECONDS if heavy else None,
        durable=claims,
    )


class Claimed(NamedTuple):
    """One nudge this process holds the right to send. A tuple: a claim makes thousands."""

    log_id: int
    team_id: str
    user_id: str
    slot: datetime
    kind: LogKind = LogKind.NUDGE
    # A resend after a crash: the sender first checks whether the DM went out after all.
    resend: bool = False


def claim_row(
    *, team_id: str, user_id: str, kind: LogKind, slot: datetime, send_at: datetime,
    now: datetime, worker: str,
) -> dict[str, object]:  # fmt: skip
    """The nudge log row that claims one slot for this process."""
    return {
        "team_id": team_id,
        "user_id": user_id,
        "kind": kind,
        "slot_at": slot,
        "send_at": send_at,
        "status": LogStatus.CLAIMED,
        "attempts": 1,
        "claimed_at": now,
        "claimed_by": worker,
    }


def _insert_claims(session: Session, rows: list[dict[str, object]]) -> list[Row[Any]]:
    """One INSERT for the whole batch; a slot that already has a row is skipped, not
    returned: whoever inserted it first owns that nudge."""
    if not rows:
        return []
    table = NudgeLog.__table__
    statement = insert_ignoring(session, table).returning(
        table.c.id, table.c.team_id, table.c.user_id, table.c.slot_at
    )
    return list(session.execute(statement, rows).all())


Columns = TypeVarTuple("Columns")


def _due(
    db: Database,
    query: Select[*Columns],
    due_at: InstrumentedAttribute[Any],
    *,
    now: datetime,
    batch: int,
    lock_of: type[Base],
) -> Select[*Columns]:
    """Who is due at `now` by `due_at`, in active workspaces, earliest first; on PostgreSQL
    rows of `lock_of` another pass holds are skipped, so passes running at once split the
    work."""
    query = (
        query.join(Workspace, Workspace.team_id == Person.team_id)
        .where(due_at <= now, Workspace.active.is_(True))
        .order_by(due_at)
        .limit(batch)
    )
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=lock_of)
    return query


# Columns travel as comma-joined text split by the server: Slack ids never hold a comma,
# instants go as epoch microseconds. Binding Python lists as arrays instead costs more in
# the driver's array quoting than the whole statement costs the database.
_PG_ROWS = """
    unnest(string_to_array(:teams, ','), string_to_array(:users, ','),
           string_to_array(:slots, ','), string_to_array(:sends, ','))
    AS raw(team_id, user_id, slot_us, send_us)
"""


# Whole microseconds after the epoch, exactly: an interval times an integer is integer
# arithmetic, where `to_timestamp(us / 1e6)` divides a numeric (twice the server's time).
_PG_INSTANT = "(timestamptz 'epoch' + NULLIF(raw.{0}, '')::bigint * interval '1 microsecond')"


# The claim's own writes to the queue. The due rows it read are deleted by their physical
# address (`ctid`): they stay locked by this transaction until it ends, so no one can move
# them, and a TID scan saves a descent of the index per row. Row ids travel `;`-joined: a
# ctid holds a comma.
_PG_DEQUEUE = text(
    "DELETE FROM nudge_queue WHERE ctid = ANY(string_to_array(:row_ids, ';')::tid[])"
)
# The next wake-ups, appended; one already queued for that instant and person is kept.
_PG_ENQUEUE = text(
    f"""
    INSERT INTO nudge_queue (next_nudge_at, team_id, user_id, next_slot_at)
    SELECT {_PG_INSTANT.format("send_us")}, raw.team_id, raw.user_id,
           {_PG_INSTANT.format("slot_us")}
    FROM {_PG_ROWS}
    WHERE raw.send_us <> ''
    ON CONFLICT DO NOTHING
    """
)
# After the claim, each person's row learns their next nudge, unless it no longer holds what
# the claim read (a settings change came in between and worked out its own).
_PG_STORE_NEXT = text(
    f"""
    UPDATE people AS p
    SET next_slot_at = {_PG_INSTANT.format("slot_us")},
        next_nudge_at = {_PG_INSTANT.format("send_us")}
    FROM unnest(string_to_array(:teams, ','), string_to_array(:users, ','),
                string_to_array(:slots, ','), string_to_array(:sends, ','),
                string_to_array(:read_slots, ','), string_to_array(:read_sends, ','))
         AS raw(team_id, user_id, slot_us, send_us, read_slot_us, read_send_us)
    WHERE p.team_id = raw.team_id AND p.user_id = raw.user_id
      AND p.next_slot_at IS NOT DISTINCT FROM {_PG_INSTANT.format("read_slot_us")}
      AND p.next_nudge_at IS NOT DISTINCT FROM {_PG_INSTANT.format("read_send_us")}
    """
)


def pg_claim_statement(kind: LogKind, *, skip_taken: bool = True) -> TextClause:
    """On PostgreSQL, one INSERT of a batch's claims of `kind`, whatever its size. With
    `skip_taken`, a slot that already has a row is skipped, not returned (as
    `_insert_claims`); without, such a slot fails the whole statement with a unique
    violation, and the one check PostgreSQL makes is the index's own as it inserts."""
    conflict = "ON CONFLICT DO NOTHING" if skip_taken else ""
    return text(
        f"""
        INSERT INTO nudge_log
            (team_id, user_id, kind, slot_at, send_at, status, attempts, claimed_at, claimed_by)
        SELECT raw.team_id, raw.user_id, '{kind.value}', {_PG_INSTANT.format("slot_us")},
               {_PG_INSTANT.format("send_us")}, '{LogStatus.CLAIMED.value}', 1, :now, :worker
        FROM {_PG_ROWS}
        {conflict}
        RETURNING id, team_id, user_id, slot_at
        """
    )


# A nudge claim first inserts without ON CONFLICT: its speculative insertion (a probe of the
# unique index before each row, then a confirmation) is a quarter of the INSERT's time, and a
# slot that already has its row is rare (a replica whose clock ran behind stored it again).
# The unique index still refuses such a row; the claim is then run again, skipping it.
_PG_CLAIM = pg_claim_statement(LogKind.NUDGE, skip_taken=False)
_PG_CLAIM_SKIPPING = pg_claim_statement(LogKind.NUDGE)


class _SlotTakenError(Exception):
    """A slot in this claim already had its nudge log row: claim again, skipping it."""


def _joined(values: list[Any]) -> str:
    return ",".join(values)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _once_each(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, None kept as None, each distinct value converted once: people due together
    mostly share their instants (the top of an hour, a quarter past) and clock times, and a
    conversion costs several times the lookup. For one batch (the cache is not bounded)."""
    known: dict[Any, Any] = {None: None}

    def converted(value: Any) -> Any:
        if value in known:
            return known[value]
        return known.setdefault(value, convert(value))

    return converted


def _each_once(values: Iterable[Any], convert: Callable[[Any], Any]) -> list[Any]:
    return list(map(_once_each(convert), values))


def _micros(instants: list[datetime | None]) -> str:
    """Epoch microseconds, exact (no float rounding), empty for None."""
    texts = _each_once(instants, lambda instant: str((instant - _EPOCH) // _MICROSECOND))
    return ",".join(text_ or "" for text_ in texts)


@dataclass
class _People:
    """Columns of people and their nudges, side by side: what one statement writes."""

    teams: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    slots: list[datetime | None] = field(default_factory=list)
    sends: list[datetime | None] = field(default_factory=list)

    def add(self, team_id: str, user_id: str, nudge: Nudge | None) -> None:
        self.teams.append(team_id)
        self.users.append(user_id)
        self.slots.append(nudge.slot if nudge else None)
        self.sends.append(nudge.send_at if nudge else None)

    def pg_rows(self) -> dict[str, str]:
        """The parameters of `_PG_ROWS`."""
        return {
            "teams": _joined(self.teams),
            "users": _joined(self.users),
            "slots": _micros(self.slots),
            "sends": _micros(self.sends),
        }


@dataclass
class NextNudges(_People):
    """The next nudges a claim worked out, for the people's own rows: stored after the claim
    (`store_next_nudges`), each only where the row still holds the nudge the claim read
    (`read_slots`, `read_sends`), so a settings change in between keeps its own."""

    read_slots: list[datetime | None] = field(default_factory=list)
    read_sends: list[datetime | None] = field(default_factory=list)

    def add_read(
        self, team_id: str, user_id: str, nudge: Nudge | None, read: Sequence[Any]
    ) -> None:
        self.add(team_id, user_id, nudge)
        self.read_slots.append(read[0])
        self.read_sends.append(read[1])

    def extend(self, other: NextNudges) -> None:
        for mine, theirs in zip(self._columns(), other._columns(), strict=True):
            mine.extend(theirs)

    def _columns(self) -> tuple[list[Any], ...]:
        return (self.teams, self.users, self.slots, self.sends, self.read_slots, self.read_sends)

    def pg_store(self) -> dict[str, str]:
        """The parameters of `_PG_STORE_NEXT`."""
        return {
            **self.pg_rows(),
            "read_slots": _micros(self.read_slots),
            "read_sends": _micros(self.read_sends),
        }


# Rows per pipelined chunk of a claim on PostgreSQL: small enough that the server's work on
# the last chunk (which nothing overlaps) stays short, big enough that each statement's own
# cost stays small beside its rows.
PIPELINE_CHUNK = 250

# The statements as psycopg takes them, compiled once.
_PSYCOPG = psycopg_dialect()  # type: ignore[no-untyped-call]
_PG_DEQUEUE_SQL = _PG_DEQUEUE.compile(dialect=_PSYCOPG).string
_PG_ENQUEUE_SQL = _PG_ENQUEUE.compile(dialect=_PSYCOPG).string
_PG_CLAIM_SQL = _PG_CLAIM.compile(dialect=_PSYCOPG).string
_PG_CLAIM_SKIPPING_SQL = _PG_CLAIM_SKIPPING.compile(dialect=_PSYCOPG).string


@contextmanager
def _on_the_driver(session: Session, what: str) -> Iterator[Any]:
    """The session's driver connection (psycopg's or sqlite3's), for work out of
    SQLAlchemy's sight; a driver error leaves as SQLAlchemy reports one, so the unit tells
    an outage from this data's fault and a cut connection leaves the pool with every
    connection as old."""
    connection = session.connection()
    pooled = connection.connection
    try:
        yield pooled.driver_connection
    except connection.dialect.loaded_dbapi.Error as exc:
        raise as_sqlalchemy_error(connection.engine, pooled, exc, what) from exc


def _read_due_postgresql(session: Session, *, now: datetime, batch: int) -> list[Any] | None:
    """The due rows, on psycopg's own cursor: it builds the rows in C, and in the session's
    UTC (`database`) its instants need nothing more; SQLAlchemy's result handling cost as
    long again as the query. None if the session is not in UTC (then instants must be
    converted: the caller reads through SQLAlchemy)."""
    with _on_the_driver(session, "due people") as driver:
        if driver.info.timezone is not UTC:
            return None
        cursor = driver.cursor()
        # In binary: instants and times arrive as numbers, not text to parse.
        cursor.execute(_PG_DUE_SQL, {"now": now, "batch": batch}, binary=True)
        rows: list[Any] = cursor.fetchall()
        return rows


@dataclass
class _Round:
    """What one claim did: the claims inserted, the nudges it set out to claim, the due
    people it read (a stale or orphaned wake-up is no one), and their next nudges."""

    inserted: list[Any] = field(default_factory=list)
    claiming: int = 0
    people: int = 0
    read: int = 0  # due wake-ups read
    next_nudges: NextNudges = field(default_factory=NextNudges)


def _pg_chunk(
    chunk: Sequence[Sequence[Any]], now: datetime, worker: str, memos: _Memos, round_: _Round
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """One pipelined chunk on PostgreSQL: its schedule math, then the parameters of the
    DELETE of its wake-ups, of the INSERT of the next ones and of the INSERT of its claims
    (None: no rows for it)."""
    rescheduled, claiming = _schedule_all(chunk, now, memos)
    round_.people += len(rescheduled.teams)
    round_.claiming += len(claiming.teams)
    round_.next_nudges.extend(rescheduled)
    dequeue = {"row_ids": ";".join([row[_ROW_ID] for row in chunk])}
    enqueue = rescheduled.pg_rows() if any(rescheduled.sends) else None
    claims = {**claiming.pg_rows(), "now": now, "worker": worker} if claiming.teams else None
    return dequeue, enqueue, claims


def _schedule_and_write_postgresql(
    session: Session,
    due: Sequence[Sequence[Any]],
    *,
    now: datetime,
    worker: str,
    skip_taken: bool,
) -> _Round:
    """On PostgreSQL: the schedule math and the writes each take about half of a claim, so
    they overlap: in psycopg's pipeline mode the server writes one chunk (the DELETE of its
    wake-ups, the INSERT of the next ones, the INSERT of its claims) while Python works out
    the next. Still one transaction, committed by the caller; three statements per chunk
    whatever its size. Raises `_SlotTakenError` when, not `skip_taken`, a slot already had
    its row. https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html"""
    from psycopg.errors import UniqueViolation  # only ever on PostgreSQL

    round_ = _Round()
    inserting = []
    memos = _Memos()
    with _on_the_driver(session, "claim pipeline") as driver:
        try:
            with driver.pipeline():
                queue = driver.cursor()
                for start in range(0, len(due), PIPELINE_CHUNK):
                    chunk = due[start : start + PIPELINE_CHUNK]
                    dequeue, enqueue, claims = _pg_chunk(chunk, now, worker, memos, round_)
                    queue.execute(_PG_DEQUEUE_SQL, dequeue)
                    if enqueue is not None:
                        queue.execute(_PG_ENQUEUE_SQL, enqueue)
                    if claims is not None:
                        # A cursor per INSERT: each holds its own RETURNING rows until read.
                        inserts = driver.cursor()
                        sql = _PG_CLAIM_SKIPPING_SQL if skip_taken else _PG_CLAIM_SQL
                        inserts.execute(sql, claims)
                        inserting.append(inserts)
            # Leaving the pipeline waited for every result (and raised the first error).
            round_.inserted = [row for cursor in inserting for row in cursor.fetchall()]
            return round_
        except UniqueViolation as exc:
            raise _SlotTakenError from exc


# Most people have no Do Not Disturb schedule: one shared "no windows" for all of them.
NO_WINDOWS: tuple[DndWindow, ...] = ()


def pending(queued_slot: Any, stored_slot: Any, queued: Any, stored: Any) -> Any:
    """The person's pending next nudge (`queued` or `stored`, a slot or its send time). A
    wake-up whose slot is later than the one the person's row stores comes from a claim whose
    write of that row has not landed (it comes right after the claim; a crash can lose it):
    it is then the pending one. Otherwise the row's own is (a wake-up that is earlier, or
    gone stale with a settings change, is no longer due by it)."""
    return case((queued_slot > stored_slot, queued), else_=stored)


def _pending(queued: InstrumentedAttribute[Any], stored: InstrumentedAttribute[Any]) -> Any:
    return pending(NudgeQueue.next_slot_at, Person.next_slot_at, queued, stored)


# What a claim reads of each due person: their preferences, DND, pending next nudge (see
# `pending`), their workspace's spread window, and the next nudge their row holds. The
# ids are the wake-up's, so a row whose person is gone still names whose it was.
DUE_COLUMNS = (
    NudgeQueue.team_id,
    NudgeQueue.user_id,
    *SCHEDULE_COLUMNS,
    _pending(NudgeQueue.next_slot_at, Person.next_slot_at).label("next_slot_at"),
    _pending(NudgeQueue.next_nudge_at, Person.next_nudge_at).label("next_nudge_at"),
    Person.dnd_start,
    Person.dnd_end,
    # The workspace's spread window: with the person's ids, their offset inside the slot.
    Workspace.nudge_spread_seconds,
    Person.next_slot_at.label("read_slot_at"),
    Person.next_nudge_at.label("read_nudge_at"),
)


# A due row also carries its wake-up's address, last, for the DELETE: its physical address
# on PostgreSQL, its instant as stored on SQLite (with the ids, the key).
_ROW_ID = len(DUE_COLUMNS)
_PG_DUE_COLUMNS: tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...] = (
    *DUE_COLUMNS,
    literal_column("nudge_queue.ctid::text").label("row_id"),
)
# As stored (no type of its own): the DELETE must match the very text.
_SQLITE_DUE_COLUMNS: tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...] = (
    *DUE_COLUMNS,
    literal_column("nudge_queue.next_nudge_at").label("row_id"),
)


def _due_columns(dialect: str) -> tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...]:
    return _PG_DUE_COLUMNS if dialect == "postgresql" else _SQLITE_DUE_COLUMNS


def _from_queue(query: Select[*Columns]) -> Select[*Columns]:
    """`query` over the wake-ups, with each one's person and workspace where they still exist."""
    return query.outerjoin(
        Person, (Person.team_id == NudgeQueue.team_id) & (Person.user_id == NudgeQueue.user_id)
    ).outerjoin(Workspace, Workspace.team_id == NudgeQueue.team_id)


# Due: a wake-up that has come, in an active workspace or in none any more (its person is
# gone with it: read only to be dropped). A workspace made inactive keeps its wake-ups for
# when it comes back.
def _due_wakeups(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return (NudgeQueue.next_nudge_at <= now) & Workspace.active.is_not(False)


def _sqlite_due(
    query: Select[*Columns],
    *,
    now: datetime | BindParameter[datetime],
    batch: int | BindParameter[int],
) -> Select[*Columns]:
    """On SQLite, the due wake-ups (`query` selects from them) with their people, earliest
    first (one writer at a time: nothing to lock or skip)."""
    return (
        _from_queue(query.select_from(NudgeQueue))
        .where(_due_wakeups(now))
        .order_by(NudgeQueue.next_nudge_at)
        .limit(batch)
    )


def _pg_due(
    now: datetime | BindParameter[datetime], batch: int | BindParameter[int]
) -> Select[Any]:
    """On PostgreSQL, the due wake-ups with their people (`_PG_DUE_COLUMNS`), earliest first,
    those another pass holds skipped (so passes running at once split them): the wake-ups
    first (locked, in their workspaces), then each one's person by their key.
    Written so because, asked to join the two, the planner reads all of `people` into a
    hash table whenever it prices that under 2,000 lookups (at 100,000 people: 17 ms of a
    27 ms read, against 8 ms by lookups); a LATERAL subquery with its own LIMIT is always
    run once per row, by the primary key."""
    due = (
        select(
            literal_column("nudge_queue.ctid::text").label("row_id"),
            NudgeQueue.team_id,
            NudgeQueue.user_id,
            NudgeQueue.next_slot_at,
            NudgeQueue.next_nudge_at,
            Workspace.nudge_spread_seconds,
        )
        .select_from(NudgeQueue)
        .outerjoin(Workspace, Workspace.team_id == NudgeQueue.team_id)
        .where(_due_wakeups(now))
        .order_by(NudgeQueue.next_nudge_at)
        .limit(batch)
        .with_for_update(skip_locked=True, of=NudgeQueue)
        .subquery("due")
    )
    person_columns = (
        *SCHEDULE_COLUMNS, Person.next_slot_at, Person.next_nudge_at, Person.dnd_start,
        Person.dnd_end,
    )  # fmt: skip
    person = (
        select(*person_columns)
        .where(Person.team_id == due.c.team_id, Person.user_id == due.c.user_id)
        .limit(literal_column("1"))  # spelt out: a bound value would need binding
        .lateral("person")
    )
    queued_slot, stored_slot = due.c.next_slot_at, person.c.next_slot_at
    columns = (
        due.c.team_id,
        due.c.user_id,
        *(person.c[column.key] for column in SCHEDULE_COLUMNS),
        pending(queued_slot, stored_slot, queued_slot, stored_slot),
        pending(queued_slot, stored_slot, due.c.next_nudge_at, person.c.next_nudge_at),
        person.c.dnd_start,
        person.c.dnd_end,
        due.c.nudge_spread_seconds,
        person.c.next_slot_at,
        person.c.next_nudge_at,
        due.c.row_id,
    )
    return (
        select(*columns)
        .select_from(due)
        .outerjoin(person, literal_column("true"))
        .order_by(due.c.next_nudge_at)
    )


_PG_DUE_SQL = _pg_due(bindparam("now"), bindparam("batch")).compile(dialect=_PSYCOPG).string


# SQLite: the same claim on sqlite3's own cursor. Through SQLAlchemy, turning 2,000 rows'
# instants and clock times from text and back, and the claims' INSERT ... RETURNING in
# batches, took two thirds of a claim. Values still go through SQLAlchemy's own type
# processors (its storage format, naive UTC text), only each distinct one once.
_SQLITE = sqlite_dialect(paramstyle="named")
_SQLITE_DUE: SQLCompiler = _sqlite_due(
    select(*_SQLITE_DUE_COLUMNS), now=bindparam("now"), batch=bindparam("batch")
).compile(dialect=_SQLITE)
_SQLITE_DEQUEUE = "DELETE FROM nudge_queue WHERE next_nudge_at = ? AND team_id = ? AND user_id = ?"
_SQLITE_ENQUEUE = (
    "INSERT OR IGNORE INTO nudge_queue (next_nudge_at, team_id, user_id, next_slot_at) "
    "VALUES (?, ?, ?, ?)"
)
_SQLITE_STORE_NEXT = (
    "UPDATE people SET next_slot_at = ?, next_nudge_at = ? WHERE team_id = ? AND user_id = ?"
    " AND next_slot_at IS ? AND next_nudge_at IS ?"
)
# One statement for the whole batch, its rows as one JSON array of [team, user, slot, send].
_SQLITE_CLAIM = f"""
    INSERT OR IGNORE INTO nudge_log
        (team_id, user_id, kind, slot_at, send_at, status, attempts, claimed_at, claimed_by)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), '{LogKind.NUDGE.value}',
           json_extract(value, '$[2]'), json_extract(value, '$[3]'),
           '{LogStatus.CLAIMED.value}', 1, :now, :worker
    FROM json_each(:rows)
    RETURNING id, team_id, user_id, slot_at
"""
_instant_type = Person.next_nudge_at.type.dialect_impl(_SQLITE)
_clock_type = Person.work_start.type.dialect_impl(_SQLITE)
# SQLAlchemy's processors for an instant (`UTCDateTime`) and a clock time (`Time`) in SQLite.
_SQLITE_INSTANT_IN = cast(Callable[[datetime], str], _instant_type.bind_processor(_SQLITE))
_SQLITE_INSTANT_OUT = cast(Callable[[str], datetime], _instant_type.result_processor(_SQLITE, None))
_SQLITE_CLOCK_OUT = cast(Callable[[str], time], _clock_type.result_processor(_SQLITE, None))


def _read_due_sqlite(session: Session, *, now: datetime, batch: int) -> list[tuple[Any, ...]]:
    """The due rows (`DUE_COLUMNS`) as SQLAlchemy would give them back, and each wake-up's
    instant as stored."""
    parameters = {**_SQLITE_DUE.params, "now": _SQLITE_INSTANT_IN(now), "batch": batch}
    with _on_the_driver(session, "due people") as driver:
        raw = driver.execute(_SQLITE_DUE.string, parameters).fetchall()
    instant, clock = _once_each(_SQLITE_INSTANT_OUT), _once_each(_SQLITE_CLOCK_OUT)
    return [
        (team, user, None if opted_in is None else bool(opted_in), tz, clock(start), clock(end),
         days, interval, clock(quiet_start), clock(quiet_end), instant(snoozed), stopped,
         None if weekly is None else bool(weekly), instant(slot), instant(send),
         instant(dnd_start), instant(dnd_end), spread, instant(read_slot), instant(read_send),
         wakeup)
        for (team, user, opted_in, tz, start, end, days, interval, quiet_start, quiet_end,
             snoozed, stopped, weekly, slot, send, dnd_start, dnd_end, spread, read_slot,
             read_send, wakeup) in raw
    ]  # fmt: skip


def _write_queue_sqlite(
    session: Session, due: Sequence[Sequence[Any]], rescheduled: NextNudges
) -> None:
    """The due wake-ups deleted, the next ones appended: two executemanys."""
    with _on_the_driver(session, "wake-ups") as driver:
        driver.executemany(_SQLITE_DEQUEUE, [(row[_ROW_ID], row[0], row[1]) for row in due])
        slots = _each_once(rescheduled.slots, _SQLITE_INSTANT_IN)
        sends = _each_once(rescheduled.sends, _SQLITE_INSTANT_IN)
        rows = zip(sends, rescheduled.teams, rescheduled.users, slots, strict=True)
        driver.executemany(_SQLITE_ENQUEUE, [row for row in rows if row[0] is not None])


def _insert_claims_sqlite(
    session: Session, claiming: _People, *, now: datetime, worker: str
) -> list[tuple[int, str, str, datetime]]:
    """One INSERT of the claims; a slot that already has its row is skipped, not returned."""
    if not claiming.teams:
        return []
    rows = zip(
        claiming.teams,
        claiming.users,
        _each_once(claiming.slots, _SQLITE_INSTANT_IN),
        _each_once(claiming.sends, _SQLITE_INSTANT_IN),
        strict=True,
    )
    parameters = {"now": _SQLITE_INSTANT_IN(now), "worker": worker, "rows": json.dumps(list(rows))}
    with _on_the_driver(session, "claims") as driver:
        inserted = driver.execute(_SQLITE_CLAIM, parameters).fetchall()
    slots = _each_once((slot for _, _, _, slot in inserted), _SQLITE_INSTANT_OUT)
    return [
        (log_id, team, user, slot)
        for (log_id, team, user, _), slot in zip(inserted, slots, strict=True)
    ]


def store_next_nudges(db: Database, next_nudges: NextNudges) -> int:
    """Each person's row told the next nudge a claim worked out for them, after the claim:
    what `status` shows and a settings change starts from. Skips a row that no longer holds
    the nudge the claim read (a settings change came in between). The number stored."""
    if not next_nudges.teams:
        return 0
    with _pass_session(db, heavy=True) as session:
        if db.dialect == "postgresql":
            result = session.execute(_PG_STORE_NEXT, next_nudges.pg_store())
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
        with _on_the_driver(session, "next nudges") as driver:
            instants = [
                _each_once(column, _SQLITE_INSTANT_IN)
                for column in (
                    next_nudges.slots,
                    next_nudges.sends,
                    next_nudges.read_slots,
                    next_nudges.read_sends,
                )
            ]
            slots, sends, read_slots, read_sends = instants
            rows = zip(
                slots, sends, next_nudges.teams, next_nudges.users, read_slots, read_sends,
                strict=True,
            )  # fmt: skip
            cursor = driver.executemany(_SQLITE_STORE_NEXT, list(rows))
            return int(cursor.rowcount)


def _steady_schedule(
    row: Sequence[Any], now: datetime, offset: timedelta, memo: SteadyMemo
) -> tuple[Nudge | None, Nudge] | None:
    """`_schedule_due` by the schedule's shortcut (`steady_catch_up`), without building the
    person's preferences; None when the general rules must decide."""
    (_team_id, _user_id, opted_in, tz, work_start, work_end, work_days, interval, quiet_start,
     quiet_end, snoozed_until, stopped_reason, _weekly_summary, next_slot_at, next_nudge_at,
     dnd_start, dnd_end, *_spread_and_row_id) = row  # fmt: skip
    if not opted_in or stopped_reason:
        return None
    quiet = (quiet_start, quiet_end) if quiet_start is not None and quiet_end is not None else None
    dnd = dnd_windows(start=dnd_start, end=dnd_end, now=now) if dnd_start else NO_WINDOWS
    pattern = (tz, work_start, work_end, work_days, interval)
    due = Nudge(next_slot_at, next_nudge_at)
    return steady_catch_up(due, pattern, quiet, snoozed_until, dnd, offset, now=now, memo=memo)


def _schedule_due(
    row: Sequence[Any], now: datetime, offset: timedelta = NO_OFFSET
) -> tuple[Nudge | None, Nudge | None]:
    """For one due row (`DUE_COLUMNS`, by position): the nudge to send now (None if too
    late), and the one after it; `offset` is the person's place inside the slot. By
    position, and without the Preferences builder that reads a whole person: a claim reads
    2,000 rows, and a Row's attribute lookup (most of all of a column it does not hold) cost
    more than the schedule math."""
    (_team_id, _user_id, opted_in, tz, work_start, work_end, work_days, interval, quiet_start,
     quiet_end, snoozed_until, stopped_reason, weekly_summary, next_slot_at, next_nudge_at,
     dnd_start, dnd_end, *_spread_and_row_id) = row  # fmt: skip
    # The claim reads none of the meeting-aware state: a stored nudge already waits for it.
    prefs = quick_preferences(
        opted_in=opted_in,
        tz=tz,
        work_start=work_start,
        work_end=work_end,
        work_days=mask_to_days(work_days),
        interval_minutes=interval,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        snoozed_until=snoozed_until,
        stopped_reason=stopped_reason,
        weekly_summary=weekly_summary,
        next_nudge_at=next_nudge_at,
        nudge_offset=offset,
    )
    dnd = dnd_windows(start=dnd_start, end=dnd_end, now=now) if dnd_start else NO_WINDOWS
    return catch_up(prefs, Nudge(next_slot_at, next_nudge_at), now=now, dnd=dnd)


def _named(name: str) -> int:
    return next(i for i, due_column in enumerate(DUE_COLUMNS) if due_column.key == name)


# Where a due row holds what its schedule depends on: after the ids, its preferences, pending
# nudge and DND, up to the workspace's spread window (which with the ids gives the offset).
_OPTED_IN = _named("opted_in")
_INTERVAL = _named("interval_minutes")
_SEND = _named("next_nudge_at")
_SPREAD = _named("nudge_spread_seconds")
_SCHEDULE_INPUTS = slice(_named("user_id") + 1, _SPREAD)
_READ = slice(_named("read_slot_at"), _named("read_nudge_at") + 1)


@dataclass
class _Memos:
    """What one claim works out once and reuses across its rows and chunks."""

    # Whole schedules, by everything they depend on: for the rows the shortcut leaves.
    schedules: dict[tuple[Any, ...], tuple[Nudge | None, Nudge | None]] = field(
        default_factory=dict
    )
    steady: SteadyMemo = field(default_factory=dict)
    # Who this claim has read as due: a second wake-up of theirs is no one more.
    seen: set[tuple[str, str]] = field(default_factory=set)


def _someone_due(row: Sequence[Any], now: datetime, seen: set[tuple[str, str]]) -> bool:
    """Whether a due wake-up is a person due now: not one whose person is gone (no
    preferences), has no nudge pending, or whose pending nudge is later (the wake-up went
    stale with a change); and each person once."""
    if row[_OPTED_IN] is None or row[_SEND] is None or row[_SEND] > now:
        return False
    person = (row[0], row[1])
    if person in seen:
        return False
    seen.add(person)
    return True


def _schedule_all(
    due: Sequence[Sequence[Any]], now: datetime, memos: _Memos | None = None
) -> tuple[NextNudges, _People]:
    """Everyone due: (their next nudges, the nudges to claim now); a wake-up that is no one
    due (`_someone_due`) is in neither. The math is most of a claim's Python, so it is
    shared: most rows take the schedule's shortcut, which works out each working pattern's
    next slot once; the rest get the schedule of anyone with the same settings, pending
    nudge, DND and place in the slot, worked out once (people due together often share a
    time zone and hours, the defaults most of all). `memos` is kept across the chunks of
    one claim."""
    rescheduled, claiming = NextNudges(), _People()
    memos = _Memos() if memos is None else memos
    known, steady, seen = memos.schedules, memos.steady, memos.seen
    for row in due:
        if not _someone_due(row, now, seen):
            continue
        team_id, user_id, spread = row[0], row[1], row[_SPREAD]
        offset = (
            spread_offset(team_id, user_id, window_seconds=spread, interval_minutes=row[_INTERVAL])
            if spread
            else NO_OFFSET
        )
        schedule: tuple[Nudge | None, Nudge | None] | None
        schedule = _steady_schedule(row, now, offset, steady)
        if schedule is None:
            key = (*row[_SCHEDULE_INPUTS], offset)
            schedule = known.get(key)
            if schedule is None:
                schedule = known[key] = _schedule_due(row, now, offset)
        nudge, upcoming = schedule
        rescheduled.add_read(team_id, user_id, upcoming, row[_READ])
        if nudge is not None:
            claiming.add(team_id, user_id, nudge)
    return rescheduled, claiming


def _due_fairly(db: Database, *, now: datetime, batch: int, cap: int) -> Select[*tuple[Any, ...]]:
    """Who is due at `now`, taken in turns across workspaces: every workspace's earliest,
    then every workspace's second..., at most `cap` of any one. A round that cannot take
    everyone then holds some of every workspace, so all their lanes send at once, instead
    of the first few workspaces' whole backlogs (by due time alone, people due at one
    instant come in index order: whole workspaces after whole workspaces). Ranked in a
    subquery, since PostgreSQL locks no rows of a windowed query; a row another pass holds
    is skipped after ranking, so that workspace gets fewer here (the other pass has them)."""
    ranked_due = (
        select(
            NudgeQueue.next_nudge_at,
            NudgeQueue.team_id,
            NudgeQueue.user_id,
            func.row_number()
            .over(
                partition_by=NudgeQueue.team_id,
                order_by=(NudgeQueue.next_nudge_at, NudgeQueue.user_id),
            )
            .label("rank"),
        )
        .select_from(NudgeQueue)
        .outerjoin(Workspace, Workspace.team_id == NudgeQueue.team_id)
        .where(_due_wakeups(now))
        .subquery()
    )
    # Read from the ranked wake-ups, each found again by its key: the ranking already chose
    # who is due (a database that started from the queue's range would search the ranking
    # once per wake-up).
    query = _from_queue(
        select(*_due_columns(db.dialect))
        .select_from(ranked_due)
        .join(
            NudgeQueue,
            (NudgeQueue.next_nudge_at == ranked_due.c.next_nudge_at)
            & (NudgeQueue.team_id == ranked_due.c.team_id)
            & (NudgeQueue.user_id == ranked_due.c.user_id),
        )
    )
    query = query.where(ranked_due.c.rank <= cap).order_by(
        ranked_due.c.rank, NudgeQueue.next_nudge_at, NudgeQueue.team_id
    )
    query = query.limit(batch)
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=NudgeQueue)
    return query


def _over_cap(rows: Sequence[Sequence[Any]], cap: int) -> bool:
    return any(count > cap for count in Counter(row[0] for row in rows).values())


def _due_people(now: datetime, *, active_only: bool) -> Select[int]:
    """How many people are due at `now` by their wake-ups (a stale or orphaned one is no one;
    a person with two due wake-ups, rare, counts twice)."""
    query = (
        select(func.count())
        .select_from(NudgeQueue)
        .join(
            Person,
            (Person.team_id == NudgeQueue.team_id) & (Person.user_id == NudgeQueue.user_id),
        )
        .where(
            NudgeQueue.next_nudge_at <= now,
            _pending(NudgeQueue.next_nudge_at, Person.next_nudge_at) <= now,
        )
    )
    if active_only:
        query = query.join(Workspace, Workspace.team_id == Person.team_id).where(
            Workspace.active.is_(True)
        )
    return query


def _count_due(session: Session, now: datetime) -> int:
    """Everyone due at `now` in active workspaces, whoever holds their rows."""
    return int(session.scalar(_due_people(now, active_only=True)) or 0)


def claim_due(
    db: Database,
    *,
    now: datetime,
    worker: str,
    batch: int = CLAIM_BATCH,
    per_workspace: int | None = None,
    later: NextNudges | None = None,
) -> tuple[list[Claimed], int, int]:
    """Claim who is due at `now`, earliest first: (claims, number due, number missed as too
    late). At most `batch` people, and at most `per_workspace` of any one workspace, so a
    big workspace's backlog never holds back the others'; with `per_workspace`, a call that
    cannot take everyone due takes them in turns across workspaces (`_due_fairly`).

    Call it again with the same `now` until it claims nothing: each call takes the next
    earliest (the wake-ups it read are replaced by later ones), and on PostgreSQL replicas
    calling at once split the work. "Number due" is everyone due at `now` when the call
    began, this call's people included (so the first call of a pass gives the pass's
    figure); counted only when the call could not take them all, else it is what the call
    read.

    The claim writes only the queue and the nudge log, whose rows it writes sit together:
    each person's own row learns their next nudge after it (`store_next_nudges`), at once
    here, or, given `later`, when the caller chooses (a pass does it while the first DMs
    go); the rows added to `later` are what to store.

    A handful of statements: one SELECT of the due wake-ups with their people (indexed; a
    second, ranked one when more are due than the batch takes or a workspace has more than
    its share), a COUNT when some are left, then on SQLite a DELETE and an INSERT of
    wake-ups and one INSERT of the claims, on PostgreSQL the three per `PIPELINE_CHUNK`
    rows, pipelined with the schedule math. On PostgreSQL a slot that already has its log
    row fails that INSERT; the claim is then rolled back whole and run once more, skipping
    such slots.
    """
    for _ in range(STALE_ROUNDS):
        try:
            claimed, waiting, missed, round_ = _claim_due(
                db, now=now, worker=worker, batch=batch, per_workspace=per_workspace,
                skip_taken=False,
            )  # fmt: skip
        except _SlotTakenError:
            log.info("a due slot was claimed already: claiming again without it")
            claimed, waiting, missed, round_ = _claim_due(
                db, now=now, worker=worker, batch=batch, per_workspace=per_workspace,
                skip_taken=True,
            )  # fmt: skip
        if later is None:
            store_next_nudges(db, round_.next_nudges)
        else:
            later.extend(round_.next_nudges)
        # A round of wake-ups that were no one (gone stale, or their person gone) is
        # cleared; who is due behind them is read at once (a few rounds; then the next pass).
        if round_.people or not round_.read:
            break
    return claimed, waiting, missed


def _claim_due(
    db: Database,
    *,
    now: datetime,
    worker: str,
    batch: int,
    per_workspace: int | None,
    skip_taken: bool,
) -> tuple[list[Claimed], int, int, _Round]:
    with _pass_session(db, heavy=True, claims=True) as session:
        # The due rows on the driver's own cursor; the rarer reads (a workspace over its
        # share, a PostgreSQL session not in UTC) through the Core connection: plain rows,
        # without the ORM's loading (a third of the time it takes to read 2,000 rows).
        read = session.connection().execute
        due: Sequence[Any] | None = None
        if db.dialect == "postgresql":
            due = _read_due_postgresql(session, now=now, batch=batch)
        else:
            due = _read_due_sqlite(session, now=now, batch=batch)
        if due is None:  # a PostgreSQL session not in UTC
            due = read(_pg_due(now, batch)).all()
        # More due than one round takes, or a workspace over its share: take them in turns.
        capped = per_workspace is not None and (len(due) >= batch or _over_cap(due, per_workspace))
        if capped:
            assert per_workspace is not None
            due = read(_due_fairly(db, now=now, batch=batch, cap=per_workspace)).all()
        counted = _count_due(session, now) if capped or len(due) >= batch else None
        if db.dialect == "postgresql":
            round_ = _schedule_and_write_postgresql(
                session, due, now=now, worker=worker, skip_taken=skip_taken
            )
        else:
            rescheduled, to_claim = _schedule_all(due, now)
            _write_queue_sqlite(session, due, rescheduled)
            round_ = _Round(
                inserted=_insert_claims_sqlite(session, to_claim, now=now, worker=worker),
                claiming=len(to_claim.teams),
                people=len(rescheduled.teams),
                next_nudges=rescheduled,
            )
        round_.read = len(due)
    waiting = round_.people if counted is None else counted
    # In UTC whatever the session's zone (a no-op in the UTC sessions `database` opens).
    claimed = [
        Claimed(log_id, team, user, slot.astimezone(UTC))
        for log_id, team, user, slot in round_.inserted
    ]
    return claimed, waiting, round_.people - round_.claiming, round_


def reclaim_stale(
    db: Database, *, now: datetime, worker: str, lease: timedelta = CLAIM_LEASE
) -> tuple[list[Claimed], int]:
    """Claims a dead process left unsent: resend once within the grace, else abandon."""
    resend: list[Claimed] = []
    abandoned = 0
    with _pass_session(db, heavy=True, claims=True) as session:
        query = select(NudgeLog).where(
            NudgeLog.status == LogStatus.CLAIMED,
            NudgeLog.claimed_at < now - lease,
            NudgeLog.claimed_by != RELEASED,
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row in session.scalars(query).all():
            grace = SUMMARY_GRACE if row.kind == LogKind.SUMMARY else CATCH_UP_LIMIT
            if row.attempts >= MAX_ATTEMPTS or now - row.send_at >= grace:
                row.status, row.finished_at = LogStatus.ABANDONED, now
                row.error = "unsent_after_crash"
                abandoned += 1
                continue
            # Conditional update: if another process took it first, this changes no row.
            taken = session.execute(
                update(NudgeLog)
                .where(NudgeLog.id == row.id, NudgeLog.claimed_at == row.claimed_at)
                .values(attempts=row.attempts + 1, claimed_at=now, claimed_by=worker)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                kind = LogKind(row.kind)
                resend.append(
                    Claimed(row.id, row.team_id, row.user_id, row.slot_at, kind, resend=True)
                )
    return resend, abandoned


def release(db: Database, log_id: int, *, worker: str, until: datetime) -> bool:
    """Hand an unsent claim back for a later pass, to be sent from `until` on (its workspace
    asked us to wait longer than a pass waits); False if this worker no longer held it."""
    with _pass_session(db) as session:
        released = session.execute(
            update(NudgeLog)
            .where(
                NudgeLog.id == log_id,
                NudgeLog.claimed_by == worker,
                NudgeLog.status == LogStatus.CLAIMED,
            )
            .values(claimed_by=RELEASED, claimed_at=until)
            .execution_options(synchronize_session=False)
        )
        return bool(released.rowcount == 1)  # type: ignore[attr-defined]


def claim_released(db: Database, *, now: datetime, worker: str) -> tuple[list[Claimed], int]:
    """Claims handed back whose wait is over: claimed again by this pass (they were never
    sent), or abandoned when their slot is too old to be worth a nudge (the catch-up rule).
    Returns (claims, number abandoned)."""
    claims: list[Claimed] = []
    abandoned = 0
    with _pass_session(db, heavy=True, claims=True) as session:
        query = select(NudgeLog).where(
            NudgeLog.status == LogStatus.CLAIMED,
            NudgeLog.claimed_by == RELEASED,
            NudgeLog.claimed_at <= now,
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row in session.scalars(query).all():
            grace = SUMMARY_GRACE if row.kind == LogKind.SUMMARY else CATCH_UP_LIMIT
            if now - row.send_at >= grace:
                row.status, row.finished_at, row.error = LogStatus.ABANDONED, now, "ratelimited"
                abandoned += 1
                continue
            taken = session.execute(
                update(NudgeLog)
                .where(NudgeLog.id == row.id, NudgeLog.claimed_by == RELEASED)
                .values(claimed_at=now, claimed_by=worker)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claims.append(
                    Claimed(row.id, row.team_id, row.user_id, row.slot_at, LogKind(row.kind))
                )
    return claims, abandoned


def renew_claims(db: Database, *, worker: str, at: datetime) -> int:
    """The heartbeat of a pass: keep every claim this process still holds from going stale."""
    with _pass_session(db) as session:
        renewed = session.execute(
            update(NudgeLog)
            .where(NudgeLog.claimed_by == worker, NudgeLog.status == LogStatus.CLAIMED)
            .values(claimed_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(renewed.rowcount or 0)  # type: ignore[attr-defined]


def abandon(db: Database, log_id: int, *, now: datetime, reason: str) -> None:
    """A claim that will not be sent after all (its person was forgotten meanwhile)."""
    with _pass_session(db) as session:
        row = session.get(NudgeLog, log_id)
        if row is not None and row.status == LogStatus.CLAIMED:
            row.status, row.finished_at, row.error = LogStatus.ABANDONED, now, reason


def record_outcome(db: Database, outcome: Outcome, *, now: datetime) -> None:
    """Complete the log row; stop a person, or a workspace, on errors that will not pass."""
    with _pass_session(db) as session:
        row = session.get(NudgeLog, outcome.key)
        if row is None:
            return  # the person asked to be forgotten meanwhile
        row.finished_at = now
        if outcome.kind == "sent":
            row.status, row.channel, row.message_ts = LogStatus.SENT, outcome.channel, outcome.ts
            return
        unverified = outcome.kind == "unverified"
        row.status = LogStatus.UNVERIFIED if unverified else LogStatus.FAILED
        row.error = outcome.error
        if outcome.kind == "person":
            person = find_person(
                session, team_id=outcome.team_id, user_id=outcome.user_id, lock=True
            )
            if person is not None:
                assert outcome.error is not None  # a person's outcome always says why
                stop_person(session, person, outcome.error)
        elif outcome.kind == "workspace":
            workspace = session.get(Workspace, outcome.team_id)
            if workspace is not None:
                workspace.active, workspace.inactive_reason = False, outcome.error
                workspace.inactive_since = now
        log.warning(
            "nudge not delivered",
            extra={"team_id": outcome.team_id, "user_id": outcome.user_id, "error": outcome.error},
        )


def due_backlog(db: Database, *, now: datetime) -> int:
    with _pass_session(db, heavy=True) as session:
        return int(session.scalar(_due_people(now, active_only=False)) or 0)
