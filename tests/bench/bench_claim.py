"""Benchmark: the nudge engine's claim (`claim_due`) against a full scan, on SQLite and PostgreSQL,
with 100,000 and then 1,000,000 opted-in people of whom 2,000 are due, spread among them.

    python -m tests.bench.bench_claim [--sizes 100000,1000000] [--backends sqlite,postgresql]
        [--repeat 5] [--postgres-url URL] [--scan-sample 100000] [--scan-limit 60]
        [--profile] [--clustered] [--check] [--quick]

The population: realistic, varied preferences. Each person has a profile drawn (seeded) from
40 real time zones, several working hours (07:00-15:00 to 10:00-18:00), working weeks (Monday to
Friday, Sunday to Thursday, Monday to Saturday, Monday to Thursday), intervals (15 to 120
minutes), quiet hours (none, lunch, overnight), a scheduled Slack DND window (none, overnight,
lunch), and some are snoozed or away for days. Exactly 2,000 people are due at `now`, each with
a profile of their own (so no two due rows share a whole schedule and the claim's memo of
schedules cannot help); like real people they share working patterns (zone, hours, days,
interval), which the claim's shortcut works out once each: the report gives how many;
everyone else has one of 5,000 idle profiles whose next nudge is after `now`. Every row is
stored as the engine itself would have left it: `next_slot_at`/`next_nudge_at` hold the
person's next nudge worked out from their own preferences and DND, so the full scan, which
ignores the stored schedule, finds the same 2,000. The instant `now` is a Wednesday, 5 seconds
after 14:00 UTC.

Where they are stored matters as much as who they are: a claim that wrote each due person's
row wrote a page per person (the design before 2026-11-27, when spreading them cost the
claim 20 to 40 ms on PostgreSQL and 100 to 140 on SQLite). The 2,000 due are spread evenly
through the table (every 50th person of 100,000, every 500th of 1,000,000), as people who
joined at different times are: each on a page of its own. `--clustered` stores them as the
first 2,000 rows instead, about a hundred pages. The wake-ups in `nudge_queue` are stored as
the claims before left them: appended with everyone claimed at the same instant (about an
interval before their slot). The nudge log holds yesterday's eight hourly nudges for
everyone, so the claim's rows join a log that holds everyone's, not an empty one.

* claim: `claim_due(db, now=now, worker="bench", later=...)`, the whole transaction (select
  the due wake-ups with their people, a catch-up check and the next nudge per person, their
  wake-ups replaced by the next ones, one nudge log row each, commit). Then, not timed as the
  claim, the people's own rows told their next nudges (`store_next_nudges`, which a pass runs
  while the first DMs go): the report gives its time apart. One cold run, then `--repeat`
  timed runs; the state is restored between runs (the claim's nudge log rows and wake-ups
  deleted, the 2,000 people's next nudge put back; on PostgreSQL then vacuumed, as after the
  load, so that every run starts from the same state: without it each run left the same
  2,000 people a few more dead row versions and index entries, and run k's time grew with k,
  where a real claim meets a person last claimed an interval ago; then a CHECKPOINT, since
  checkpoints pass between a person's claims, so each page's first write logs it whole).
  A separate instrumented run counts the SQL statements and the time spent inside the
  driver's execute calls.
* full scan: the naive alternative. Stream every stored person of an active workspace (ORM,
  `yield_per`) and evaluate in Python, with the schedule's own functions, whether a nudge is due
  at `now`. It only finds who is due: it writes nothing, so it is a lower bound for a scanning
  engine. When the scan of a size would take over `--scan-limit` seconds (estimated from a
  sample of `--scan-sample` rows), the sample is timed and the result extrapolated linearly,
  and the table says so.

Each size is loaded afresh, its 2,000 due (the same profiles) spread through all of it. Targets
(median of the timed runs), at 100,000 and at 1,000,000 people: at most 50 ms on PostgreSQL, at
most 100 ms on SQLite. With other `--sizes` they are checked at the smallest and the largest
size, and the report says so. Where the time goes is printed per backend and size: SELECT,
queue (SQLite: the DELETE and INSERT of wake-ups), INSERT of the claims (inside the driver), on
PostgreSQL the pipelined part (schedule math overlapped with the queue's DELETE and INSERT and
the claims' INSERT, chunk by chunk), commit, and the rest (Python: rows, schedule math,
parameters). On PostgreSQL the server's own work is printed too: each of the claim's statements
run under EXPLAIN ANALYZE in a transaction rolled back, the floor of a claim however little
Python it takes. `--check` exits 1 when a target is missed; otherwise it always exits 0.
`--quick`: 10,000 and 50,000 people, 3 timed runs, the full scan estimated beyond 10,000 rows.
PostgreSQL: the server and database of `--postgres-url` (default `psoas_bench`; the database is
created if missing and its tables dropped and migrated anew: never point it at the tests' one).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import random
import statistics
import sys
import time as clock
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import Engine, Table, bindparam, delete, event, literal, select, text, update
from sqlalchemy.orm import Session as OrmSession

from bot.cli import freeze_start_up
from bot.core.preferences import days_to_mask
from bot.core.schedule import CATCH_UP_LIMIT, Nudge, next_nudge
from bot.data.database import Database
from bot.data.models import LogKind, LogStatus, NudgeLog, NudgeQueue, Person, Workspace
from bot.data.people import dnd_windows_of, to_preferences
from bot.engine import claims
from bot.engine.claims import NextNudges, claim_due, store_next_nudges
from tests.bench.harness import (
    ZONES,
    GcPauses,
    LoadAverage,
    Option,
    Target,
    finish,
    fresh_database,
    parse_options,
    profile_report,
    progress,
    reference_ms,
    scratch_directory,
    shown_url,
    sqlite_url,
    table,
    title,
)

CLAIM_TARGET_MS = {"postgresql": 50.0, "sqlite": 100.0}  # median claim, at each target size
TARGET_SIZES = (100_000, 1_000_000)

NOW = datetime(2026, 12, 2, 14, 0, 5, tzinfo=UTC)  # a Wednesday; 14:00 UTC was 5 s ago
DUE = 2_000
WORKSPACES = 10
CHUNK = 10_000
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/psoas_bench"
PEOPLE = cast(Table, Person.__table__)
NUDGE_LOG = cast(Table, NudgeLog.__table__)
WORKSPACES_TABLE = cast(Table, Workspace.__table__)


def sizes(text_: str) -> list[int]:
    """--sizes: people stored, increasing, from DUE."""
    values = [int(size) for size in text_.split(",")]
    if values != sorted(set(values)) or values[0] < DUE:
        raise argparse.ArgumentTypeError(f"{text_!r}: sizes must increase, from at least {DUE}")
    return values


def backends(text_: str) -> list[str]:
    names = [name.strip() for name in text_.split(",")]
    if not set(names) <= {"sqlite", "postgresql"}:
        raise argparse.ArgumentTypeError(f"{text_!r}: sqlite, postgresql or both")
    return names


OPTIONS = (
    Option(
        "--sizes",
        ",".join(map(str, TARGET_SIZES)),
        "people stored, increasing",
        quick="10000,50000",
        kind=sizes,
    ),
    Option("--backends", "sqlite,postgresql", "where to claim", kind=backends),
    Option("--repeat", 5, "timed claim runs per size", quick=3),
    Option("--postgres-url", DEFAULT_POSTGRES_URL, "a database of the benchmark's own"),
    Option("--scan-sample", 100_000, "rows timed for the full scan's estimate", quick=10_000),
    Option("--scan-limit", 60.0, "seconds of full scan above which to extrapolate", quick=10.0),
    Option("--profile", False, "cProfile one claim at the smallest size"),
    Option("--clustered", False, "store the due side by side (the first rows), not spread"),
)


# ---------------------------------------------------------------- population


# Profiles: (weight, value) choices, drawn with a seeded generator.
HOURS = ((5, (time(9), time(17))), (2, (time(8), time(16))), (1, (time(10), time(18))),
         (1, (time(7), time(15))), (1, (time(8, 30), time(17, 30))))  # fmt: skip
DAYS = ((8, frozenset(range(5))), (1, frozenset({6, 0, 1, 2, 3})), (1, frozenset(range(6))),
        (1, frozenset(range(4))))  # fmt: skip
INTERVALS = ((5, 60), (2, 30), (1, 45), (1, 90), (1, 120), (1, 15))
QUIET = ((6, None), (2, (time(12), time(13))), (1, (time(12, 30), time(13, 30))),
         (1, (time(22), time(7))))  # fmt: skip
DND = ((6, None), (3, (time(18), time(8))), (1, (time(12), time(13))))  # local, daily
IDLE_PROFILES = 5_000


def pick(rng: random.Random, choices: Sequence[tuple[int, Any]]) -> Any:
    return rng.choices([value for _, value in choices], [weight for weight, _ in choices])[0]


@dataclass(frozen=True)
class Profile:
    """One person's stored row minus their ids: preferences, DND, and their next nudge."""

    values: dict[str, Any]

    @classmethod
    def draw(cls, rng: random.Random, now: datetime) -> Profile:
        zone = rng.choice(ZONES)
        start, end = pick(rng, HOURS)
        quiet = pick(rng, QUIET)
        values: dict[str, Any] = {
            "opted_in": True,
            "tz": zone,
            "work_start": start,
            "work_end": end,
            "work_days": days_to_mask(pick(rng, DAYS)),
            "interval_minutes": pick(rng, INTERVALS),
            "quiet_start": quiet[0] if quiet else None,
            "quiet_end": quiet[1] if quiet else None,
            "snoozed_until": None,
            "away_until": None,
            "dnd_start": None,
            "dnd_end": None,
        }
        dnd = pick(rng, DND)
        if dnd is not None:  # the next occurrence after `now`, as Slack reports it
            local = now.astimezone(ZoneInfo(zone))
            begin = datetime.combine(local.date(), dnd[0], tzinfo=local.tzinfo)
            finish_ = datetime.combine(local.date(), dnd[1], tzinfo=local.tzinfo)
            finish_ += timedelta(days=1) if finish_ <= begin else timedelta()
            while finish_ <= now:
                begin, finish_ = begin + timedelta(days=1), finish_ + timedelta(days=1)
            values["dnd_start"], values["dnd_end"] = begin.astimezone(UTC), finish_.astimezone(UTC)
        roll = rng.random()
        if roll < 0.05:
            values["snoozed_until"] = now + timedelta(hours=rng.randint(1, 48))
        elif roll < 0.08:
            values["away_until"] = now + timedelta(days=rng.randint(1, 10))
        return cls(values)

    def next_nudge(self, now: datetime) -> Nudge | None:
        """What the engine would have stored: the first nudge after the last catch-up window."""
        person = SimpleNamespace(**self.values, stopped_reason=None, weekly_summary=True,
                                 next_nudge_at=None, meetings=True, busy_until=None,
                                 busy_kind=None)  # fmt: skip
        return next_nudge(
            to_preferences(cast(Any, person)),
            after=now - CATCH_UP_LIMIT,
            dnd=dnd_windows_of(cast(Any, person), now),
        )

    def due(self, now: datetime) -> bool:
        nudge = self.next_nudge(now)
        return nudge is not None and nudge.send_at <= now


@dataclass(frozen=True)
class Population:
    """2,000 profiles due at `now` (one per due person), and a pool of idle ones."""

    due: list[tuple[Profile, Nudge]]
    idle: list[tuple[Profile, Nudge | None]]

    @classmethod
    @functools.cache  # the same draw every time: made once, for every backend and the report
    def plan(cls, now: datetime) -> Population:
        rng = random.Random(13)
        due: list[tuple[Profile, Nudge]] = []
        idle: list[tuple[Profile, Nudge | None]] = []
        while len(due) < DUE or len(idle) < IDLE_PROFILES:
            profile = Profile.draw(rng, now)
            nudge = profile.next_nudge(now)
            if nudge is not None and nudge.send_at <= now:
                if len(due) < DUE:
                    due.append((profile, nudge))
            elif len(idle) < IDLE_PROFILES:
                idle.append((profile, nudge))
        return cls(due, idle)

    def working_patterns(self) -> int:
        """How many distinct working patterns and slots (the claim shortcut's key) the due
        people have."""
        keys = ("tz", "work_start", "work_end", "work_days", "interval_minutes")
        return len({(*(p.values[k] for k in keys), nudge.slot) for p, nudge in self.due})

    def person(self, index: int, stride: int) -> tuple[str, str, Profile, Nudge | None]:
        """(team_id, user_id, profile, stored next nudge): every `stride`-th index is due,
        from 0, DUE of them."""
        ordinal, offset = divmod(index, stride)
        if offset == 0 and ordinal < DUE:
            profile, nudge = self.due[ordinal]
        else:
            profile, nudge = self.idle[(index * 7919) % len(self.idle)]
        return team_id(index % WORKSPACES), f"U{index:09d}", profile, nudge

    def rows(self, size: int, stride: int) -> Iterator[dict[str, Any]]:
        for index in range(size):
            team, user, profile, nudge = self.person(index, stride)
            yield {
                "team_id": team,
                "user_id": user,
                **profile.values,
                "next_slot_at": nudge.slot if nudge else None,
                "next_nudge_at": nudge.send_at if nudge else None,
            }


def team_id(index: int) -> str:
    return f"TBENCH{index:04d}"


COLUMNS = (
    "team_id", "user_id", "opted_in", "tz", "work_start", "work_end", "work_days",
    "interval_minutes", "quiet_start", "quiet_end", "snoozed_until", "away_until", "dnd_start",
    "dnd_end", "next_slot_at", "next_nudge_at",
)  # fmt: skip


# ---------------------------------------------------------------- databases


def stride(size: int, args: argparse.Namespace) -> int:
    """Where the due are stored: spread evenly through all `size` people (as people who
    joined at different times are), or with --clustered the first DUE rows, side by side."""
    return 1 if args.clustered else size // DUE


def load_people(db: Database, population: Population, size: int, stride: int) -> None:
    """Bulk insert `size` people: COPY on PostgreSQL, executemany on SQLite."""
    if db.dialect == "postgresql":
        raw = db.engine.raw_connection()
        try:
            connection: Any = raw.driver_connection
            statement = f"COPY people ({', '.join(COLUMNS)}) FROM STDIN"
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")  # the pool sets a short one
                # The queue is filled below, in one statement and in the order real claims
                # appended it, not one trigger call per person in people's order.
                cursor.execute(f"ALTER TABLE people DISABLE TRIGGER {PG_TRIGGER}")
                with cursor.copy(statement) as copy:
                    for row in population.rows(size, stride):
                        copy.write_row([row[name] for name in COLUMNS])
                cursor.execute(f"ALTER TABLE people ENABLE TRIGGER {PG_TRIGGER}")
                cursor.execute(QUEUE_AS_CLAIMS_LEFT_IT)
            connection.commit()
        finally:
            raw.close()
        return
    table = PEOPLE
    with db.engine.begin() as connection:
        batch: list[dict[str, Any]] = []
        for row in population.rows(size, stride):
            batch.append(row)
            if len(batch) == CHUNK:
                connection.execute(table.insert(), batch)
                batch = []
        if batch:
            connection.execute(table.insert(), batch)


PG_TRIGGER = "people_queue_next_nudge"
# Each person's wake-up as the claim before left it: appended with everyone claimed at the same
# instant (about an interval before the slot), so those due together now sit together. On
# SQLite the queue is its key's B-tree, in the instant's order whatever the order of writes.
QUEUE_AS_CLAIMS_LEFT_IT = """
    INSERT INTO nudge_queue (next_nudge_at, team_id, user_id, next_slot_at)
    SELECT next_nudge_at, team_id, user_id, next_slot_at FROM people
    WHERE next_nudge_at IS NOT NULL
    ORDER BY next_slot_at - interval_minutes * interval '1 minute', next_nudge_at, team_id, user_id
"""


# The nudges everyone was sent yesterday, one a working hour (08:00 to 15:00 UTC), as a day's
# use leaves them in the nudge log: the claim's rows join a unique index (team, user, kind,
# slot) that holds everyone's, where each spread due person's entries fill a leaf of their own.
HISTORY = tuple(
    NOW.replace(minute=0, second=0) - timedelta(days=1, hours=h) for h in range(6, -2, -1)
)
HISTORY_WORKER = "yesterday"


def load_history(db: Database) -> None:
    """A sent nudge log row per person and `HISTORY` slot: one INSERT ... SELECT a slot."""
    people, log_table = PEOPLE, NUDGE_LOG
    with db.engine.begin() as connection:
        if db.dialect == "postgresql":
            connection.execute(text("SET LOCAL statement_timeout = 0"))
        for slot in HISTORY:
            rows = select(
                people.c.team_id,
                people.c.user_id,
                literal(LogKind.NUDGE.value),
                literal(slot, log_table.c.slot_at.type),
                literal(slot, log_table.c.send_at.type),
                literal(LogStatus.SENT.value),
                literal(1),
                literal(slot, log_table.c.claimed_at.type),
                literal(HISTORY_WORKER),
                literal(slot + timedelta(seconds=1), log_table.c.finished_at.type),
            )
            columns = ["team_id", "user_id", "kind", "slot_at", "send_at", "status", "attempts"]
            columns += ["claimed_at", "claimed_by", "finished_at"]
            connection.execute(log_table.insert().from_select(columns, rows))


def analyze(db: Database) -> None:
    """Planner statistics; on PostgreSQL a VACUUM too, as autovacuum gives a table after a
    bulk load (hint bits, visibility map, free space map)."""
    if db.dialect == "postgresql":
        vacuum(db, "VACUUM ANALYZE")
        return
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


# What autovacuum does for the tables a claim writes (forced through the indexes: PostgreSQL
# skips them when few rows are dead, and here every dead row is one the next claim meets).
VACUUM_CLAIMED = "VACUUM (INDEX_CLEANUP ON) people, nudge_queue, nudge_log"


def vacuum(db: Database, command: str) -> None:
    """A VACUUM or a CHECKPOINT, which PostgreSQL runs only outside a transaction (on a
    connection of its own: the app's start each with settings in a transaction)."""
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(command)


def restore(db: Database, population: Population, stride: int) -> None:
    """Undo a claim: no nudge log rows, none of the wake-ups it appended, and the due people
    due again (writing their next nudge back queues their wake-ups again, by the trigger)."""
    table = PEOPLE
    statement = (
        update(table)
        .where(table.c.team_id == bindparam("t"), table.c.user_id == bindparam("u"))
        .values(next_slot_at=bindparam("slot"), next_nudge_at=bindparam("send"))
    )
    params = []
    for ordinal in range(DUE):
        team, user, _profile, nudge = population.person(ordinal * stride, stride)
        assert nudge is not None
        params.append({"t": team, "u": user, "slot": nudge.slot, "send": nudge.send_at})
    appended = [
        {"at": send, "t": team, "u": user}
        for team, user, send in zip(LAST.teams, LAST.users, LAST.sends, strict=True)
        if send is not None
    ]
    with db.engine.begin() as connection:
        connection.execute(delete(NUDGE_LOG).where(NUDGE_LOG.c.claimed_by != HISTORY_WORKER))
        if appended:
            connection.execute(UNQUEUE, appended)
        connection.execute(statement, params)
    if db.dialect == "postgresql":
        settle(db)


QUEUE = cast(Table, NudgeQueue.__table__)
UNQUEUE = delete(QUEUE).where(
    QUEUE.c.next_nudge_at == bindparam("at"),
    QUEUE.c.team_id == bindparam("t"),
    QUEUE.c.user_id == bindparam("u"),
)
# The next nudges the last claim worked out: what `restore` takes out of the queue again.
LAST = NextNudges()


def settle(db: Database) -> None:
    """On PostgreSQL, the state a real claim meets: what autovacuum left, and a checkpoint
    since each due person was last written."""
    # Claiming the same 2,000 people back to back leaves each of them a dead row version per
    # claim and per undo, and an entry for each in every index they are in, dozens by the
    # last run, which every later claim wades through. A real claim finds a person claimed
    # once an interval ago, with what autovacuum left of that.
    vacuum(db, VACUUM_CLAIMED)
    # And since then checkpoints have passed (every 5 minutes by default), so the claim's
    # first write to each page logs the whole page (full_page_writes): about 8 KB for every
    # page holding a due person, the claim's largest write when they are spread.
    vacuum(db, "CHECKPOINT")


# ---------------------------------------------------------------- measurements


@dataclass
class Statements:
    """Counts the statements a block issues and the time spent inside the driver's execute."""

    engine: Engine
    count: int = 0
    executemany: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)  # by first keyword: SELECT, INSERT...
    kind_seconds: dict[str, float] = field(default_factory=dict)
    commit_seconds: float = 0.0
    # PostgreSQL: the schedule math and the writes overlap in psycopg's pipeline mode, out of
    # SQLAlchemy's sight: timed as one part, its statements counted at the driver.
    pipelined_seconds: float = 0.0
    pipelined: int = 0
    _started: list[float] = field(default_factory=list)
    _commit_started: float = 0.0
    _unwrapped: Any = None
    _unwrapped_select: Any = None
    _unwrapped_sqlite: dict[str, Any] = field(default_factory=dict)

    def _before_commit(self, *args: Any) -> None:
        self._commit_started = clock.perf_counter()

    def _after_commit(self, *args: Any) -> None:
        self.commit_seconds += clock.perf_counter() - self._commit_started

    def _before(self, *args: Any) -> None:
        self._started.append(clock.perf_counter())

    def _after(
        self, _conn: Any, _cursor: Any, sql: str, _params: Any, _ctx: Any, many: bool
    ) -> None:
        seconds = clock.perf_counter() - self._started.pop()
        self.seconds += seconds
        self.count += 1
        self.executemany += int(many)
        kind = sql.split(None, 1)[0].upper()
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.kind_seconds[kind] = self.kind_seconds.get(kind, 0.0) + seconds

    def _pipeline(self, *args: Any, **kwargs: Any) -> Any:
        """`claims._schedule_and_write_postgresql`, timed, counting the statements it sends
        (inside it, every psycopg execute is a pipelined one)."""
        execute = psycopg.Cursor.execute

        def counted(cursor: Any, *a: Any, **kw: Any) -> Any:
            self.pipelined += 1
            return execute(cursor, *a, **kw)

        started = clock.perf_counter()
        psycopg.Cursor.execute = counted  # type: ignore[method-assign]
        try:
            return self._unwrapped(*args, **kwargs)
        finally:
            psycopg.Cursor.execute = execute  # type: ignore[method-assign]
            self.pipelined_seconds += clock.perf_counter() - started

    def _driver_select(self, *args: Any, **kwargs: Any) -> Any:
        """`claims._read_due_postgresql`: the due SELECT on psycopg's cursor, timed and
        counted as SQLAlchemy's statements are (a SELECT, its rows fetched)."""
        return self._on_the_driver("SELECT", self._unwrapped_select, *args, **kwargs)

    def _on_the_driver(self, kind: str, run: Any, *args: Any, many: bool = False, **kw: Any) -> Any:
        """A statement the claim runs on the driver's own cursor, out of SQLAlchemy's sight,
        timed and counted as SQLAlchemy's statements are (its rows fetched, its values
        converted)."""
        started = clock.perf_counter()
        try:
            return run(*args, **kw)
        finally:
            seconds = clock.perf_counter() - started
            self.seconds += seconds
            self.count += 1
            self.executemany += int(many)
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.kind_seconds[kind] = self.kind_seconds.get(kind, 0.0) + seconds

    def _wrap_sqlite(self) -> None:
        """SQLite's claim runs its three statements on sqlite3's cursor, one function each."""
        for name, kind, many in (
            ("_read_due_sqlite", "SELECT", False),
            ("_write_queue_sqlite", "queue", True),
            ("_insert_claims_sqlite", "INSERT", False),
        ):
            run = self._unwrapped_sqlite[name] = getattr(claims, name)
            setattr(claims, name, functools.partial(self._on_the_driver, kind, run, many=many))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        event.listen(OrmSession, "before_commit", self._before_commit)
        event.listen(OrmSession, "after_commit", self._after_commit)
        self._unwrapped = claims._schedule_and_write_postgresql
        claims._schedule_and_write_postgresql = self._pipeline  # type: ignore[assignment]
        self._unwrapped_select = claims._read_due_postgresql
        claims._read_due_postgresql = self._driver_select  # type: ignore[assignment]
        self._wrap_sqlite()
        return self

    def __exit__(self, *exc: object) -> None:
        claims._schedule_and_write_postgresql = self._unwrapped
        claims._read_due_postgresql = self._unwrapped_select
        for name, run in self._unwrapped_sqlite.items():
            setattr(claims, name, run)
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        event.remove(OrmSession, "before_commit", self._before_commit)
        event.remove(OrmSession, "after_commit", self._after_commit)


PARTS = ("SELECT", "queue", "INSERT", "pipelined", "commit", "Python")


@dataclass
class ClaimResult:
    cold_ms: float
    runs_ms: list[float]
    statements: int
    executemany: int
    kinds: dict[str, int]
    driver_ms: float
    total_ms: float  # of the instrumented run
    # Where the time goes, per instrumented run (ms): as PARTS.
    parts: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: float = 0.0  # median CPU time of this process in the timed runs
    reference_ms: float = 0.0  # median of the reference workload, run before each timed claim
    gc_ms: float = 0.0  # garbage collection in the timed claims, per claim
    # Each timed run's reference workload, beside `runs_ms`: a slow run on a slow machine.
    references_ms: list[float] = field(default_factory=list)
    # PostgreSQL: the server's own execution of the claim's statements (`server_work`), ms.
    server_ms: dict[str, float] = field(default_factory=dict)
    # Median time to store the claimed people's next nudges in their rows, after the claim.
    store_ms: float = 0.0

    def part_ms(self, part: str) -> float:
        return statistics.median(self.parts.get(part) or [0.0])

    @property
    def min_ms(self) -> float:
        return min(self.runs_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)


STORE_MS: list[float] = []  # each claim's people's rows stored after it (not in the claim)
CPU_MS: list[float] = []  # this process's CPU time in each claim: load on the machine moves it less


def claim_once(db: Database) -> float:
    """One claim, timed; the people's next nudges it worked out are kept in `LAST`."""
    global LAST
    LAST = NextNudges()
    started, cpu = clock.perf_counter(), clock.process_time()
    claims, due, missed = claim_due(db, now=NOW, worker="bench", later=LAST)
    elapsed = clock.perf_counter() - started
    CPU_MS.append((clock.process_time() - cpu) * 1000)
    if (len(claims), due, missed) != (DUE, DUE, 0):
        raise RuntimeError(f"claimed {len(claims)} of {due} due ({missed} missed); want {DUE}")
    return elapsed * 1000


def store_after(db: Database) -> None:
    """After a claim, as a pass does while the first DMs go: each claimed person's row told
    their next nudge (`STORE_MS`; not part of the claim's time)."""
    started = clock.perf_counter()
    stored = store_next_nudges(db, LAST)
    STORE_MS.append((clock.perf_counter() - started) * 1000)
    if stored != DUE:
        raise RuntimeError(f"stored the next nudge of {stored} people; want {DUE}")


def time_claim(db: Database, population: Population, stride: int, repeat: int) -> ClaimResult:
    cold = claim_once(db)
    store_after(db)
    runs = []
    references = []
    CPU_MS.clear()
    STORE_MS.clear()
    pauses = GcPauses()
    for _ in range(repeat):
        restore(db, population, stride)
        references.append(reference_ms(runs=1))
        pauses.install()
        runs.append(claim_once(db))
        pauses.remove()
        store_after(db)
    cpu_ms = statistics.median(CPU_MS)
    store_ms = statistics.median(STORE_MS)
    restore(db, population, stride)
    parts: dict[str, list[float]] = {part: [] for part in PARTS}
    for _ in range(repeat):
        with Statements(db.engine) as statements:
            total = claim_once(db)
        store_after(db)
        restore(db, population, stride)
        for kind in PARTS[:3]:
            parts[kind].append(statements.kind_seconds.get(kind, 0.0) * 1000)
        parts["pipelined"].append(statements.pipelined_seconds * 1000)
        parts["commit"].append(statements.commit_seconds * 1000)
        # The rest: rows to Python objects, schedule math, parameters (any other statement
        # kind would be counted here too; a claim sends none).
        outside = statements.seconds - sum(statements.kind_seconds.get(k, 0.0) for k in PARTS[:3])
        timed = statements.seconds + statements.pipelined_seconds + statements.commit_seconds
        parts["Python"].append(total - timed * 1000 + outside * 1000)
    kinds = dict(statements.kinds)
    if statements.pipelined:
        kinds["pipelined DELETE/INSERT"] = statements.pipelined
    return ClaimResult(
        cold,
        runs,
        statements.count + statements.pipelined,
        statements.executemany,
        kinds,
        statements.seconds * 1000,
        total,
        parts,
        cpu_ms,
        statistics.median(references),
        pauses.total * 1000 / repeat,
        references_ms=references,
        store_ms=store_ms,
    )


EXPLAIN = "EXPLAIN (ANALYZE, FORMAT JSON) "


def explained(driver: Any, sql: str, params: dict[str, Any]) -> tuple[float, float]:
    """(execution ms, planning ms) of one statement, run under EXPLAIN ANALYZE."""
    cursor = driver.cursor()
    cursor.execute(EXPLAIN + sql, params)
    plan = cursor.fetchone()[0][0]
    return plan["Execution Time"], plan["Planning Time"]


# The claim's statements on the server: the SELECT of the due, the DELETE of their wake-ups,
# the INSERT of the next ones, the INSERT of the claims.
SERVER_PARTS = ("SELECT", "DELETE", "enqueue", "INSERT", "planning")


def server_work(db: Database, repeat: int) -> dict[str, float]:
    """On PostgreSQL, how long the server itself takes to run one claim's statements: the
    claim's SELECT, then its DELETE, INSERT and INSERT chunk by chunk, each under EXPLAIN ANALYZE
    in one transaction that is rolled back (so the claim is run, its writes undone). What
    the server does is then told apart from what Python does, which the pipeline overlaps
    with it. The median over `repeat` rounds, per statement kind, and their planning."""
    rounds: dict[str, list[float]] = {kind: [] for kind in SERVER_PARTS}
    for _ in range(repeat):
        settle(db)  # each round from the state a timed claim starts from
        spent = dict.fromkeys(rounds, 0.0)
        with db.session(60.0, fail_fast=False) as session:
            with claims._on_the_driver(session, "explain") as driver:
                params = {"now": NOW, "batch": DUE * 2}
                run, plan = explained(driver, claims._PG_DUE_SQL, params)
                spent["SELECT"] += run
                spent["planning"] += plan
            due = claims._read_due_postgresql(session, now=NOW, batch=DUE * 2)
            assert due is not None and len(due) == DUE
            memos = claims._Memos()
            with claims._on_the_driver(session, "explain") as driver:
                for start in range(0, DUE, claims.PIPELINE_CHUNK):
                    chunk = due[start : start + claims.PIPELINE_CHUNK]
                    dequeue, enqueue, claimed = claims._pg_chunk(
                        chunk, NOW, "explain", memos, claims._Round()
                    )
                    # Every bench row is claimed and has a next nudge.
                    assert enqueue is not None and claimed is not None
                    writes = (
                        ("DELETE", claims._PG_DEQUEUE_SQL, dequeue),
                        ("enqueue", claims._PG_ENQUEUE_SQL, enqueue),
                        ("INSERT", claims._PG_CLAIM_SQL, claimed),
                    )
                    for kind, sql, params in writes:
                        run, plan = explained(driver, sql, params)
                        spent[kind] += run
                        spent["planning"] += plan
            session.rollback()
        for kind, ms in spent.items():
            rounds[kind].append(ms)
    return {kind: statistics.median(values) for kind, values in rounds.items()}


def profile_claim(db: Database, population: Population, stride: int) -> str:
    profile = cProfile.Profile()
    profile.enable()
    claim_once(db)
    profile.disable()
    restore(db, population, stride)
    return profile_report([profile])


@dataclass
class ScanResult:
    ms: float
    rows: int  # rows actually evaluated
    due: int  # due among them
    extrapolated: bool


def full_scan(db: Database, *, now: datetime, limit: int | None = None) -> tuple[int, int]:
    """Evaluate every stored person in Python: (people evaluated, people due at `now`)."""
    evaluated = due = 0
    with db.session(3600.0, fail_fast=False) as session:  # a scan is long by nature
        query = (
            select(Person)
            .join(Workspace, Workspace.team_id == Person.team_id)
            .where(Workspace.active.is_(True))
            .execution_options(yield_per=CHUNK)
        )
        if limit is not None:
            query = query.limit(limit)
        for person in session.scalars(query):
            evaluated += 1
            nudge = next_nudge(
                to_preferences(person),
                after=now - CATCH_UP_LIMIT,
                dnd=dnd_windows_of(person, now),
            )
            if nudge is not None and nudge.send_at <= now:
                due += 1
    return evaluated, due


def time_scan(db: Database, people: int, *, sample: int, limit_s: float) -> ScanResult:
    if people > sample:
        started = clock.perf_counter()
        evaluated, due = full_scan(db, now=NOW, limit=sample)
        seconds = (clock.perf_counter() - started) * people / evaluated
        if seconds > limit_s:
            return ScanResult(seconds * 1000, evaluated, due, extrapolated=True)
        progress(
            f"    full scan estimated at {seconds:.0f} s from {evaluated} rows: running it whole"
        )
    started = clock.perf_counter()
    evaluated, due = full_scan(db, now=NOW)
    elapsed = clock.perf_counter() - started
    if (evaluated, due) != (people, DUE):
        raise RuntimeError(f"full scan: {evaluated} evaluated, {due} due; want {people}, {DUE}")
    return ScanResult(elapsed * 1000, evaluated, due, extrapolated=False)


# ---------------------------------------------------------------- run


@dataclass
class Row:
    backend: str
    people: int
    load_s: float
    claim: ClaimResult
    scan: ScanResult


def bench_backend(
    backend: str, url: str, sizes: Sequence[int], args: argparse.Namespace
) -> tuple[list[Row], str]:
    population = Population.plan(NOW)
    rows: list[Row] = []
    profile_text = ""
    for size in sizes:
        # Each size loaded afresh: its due people are spread through all of its rows.
        progress(f"[{backend}] fresh schema at {shown_url(url)}")
        fresh_database(url)
        db = Database(url)
        try:
            with db.engine.begin() as connection:
                connection.execute(
                    WORKSPACES_TABLE.insert(),
                    [{"team_id": team_id(i), "active": True} for i in range(WORKSPACES)],
                )
            progress(f"[{backend}] loading {size:,} people ...")
            started = clock.perf_counter()
            spread = stride(size, args)
            load_people(db, population, size, spread)
            load_history(db)
            analyze(db)
            load_s = clock.perf_counter() - started
            progress(f"[{backend}]   loaded and analyzed in {load_s:.1f} s; claiming ...")
            # As the real `tick` starts its pass: what the process made before (here the
            # population and the loading) frozen out of the collector's walks.
            freeze_start_up()
            claim = time_claim(db, population, spread, args.repeat)
            if backend == "postgresql":
                claim.server_ms = server_work(db, args.repeat)
            if args.profile and size == sizes[0]:
                profile_text = profile_claim(db, population, spread)
            gc.unfreeze()
            progress(f"[{backend}]   claim median {claim.median_ms:.1f} ms; full scan ...")
            scan = time_scan(db, size, sample=args.scan_sample, limit_s=args.scan_limit)
            rows.append(Row(backend, size, load_s, claim, scan))
        finally:
            db.dispose()
    return rows, profile_text


def report(rows: Sequence[Row], args: argparse.Namespace, load: LoadAverage) -> str:
    lines = [
        title(
            f"claim_due at {NOW.isoformat()} ({DUE:,} due, varied preferences, "
            f"{WORKSPACES} workspaces)"
        ),
        f"claim: 1 cold run + {args.repeat} timed runs, state restored (PostgreSQL: and vacuumed, "
        "then a CHECKPOINT) between runs; "
        "SQL statements and driver time from one more instrumented run",
        "stored: "
        + (
            f"the {DUE:,} due as the first {DUE:,} rows, side by side (--clustered)"
            if args.clustered
            else f"the {DUE:,} due spread evenly through each size's people"
        )
        + f"; the nudge log holds yesterday's {len(HISTORY)} hourly nudges for everyone",
        f"the {DUE:,} due: {DUE:,} distinct profiles, "
        f"{Population.plan(NOW).working_patterns():,} distinct working patterns and slots "
        "(zone, hours, days, interval, slot; the claim's shortcut works each out once)",
        load.line(),
        "",
    ]
    cells = []
    for row in rows:
        claim, scan = row.claim, row.scan
        cells.append(
            [
                row.backend,
                f"{row.people:,}",
                f"{DUE:,}",
                f"{row.load_s:.1f}",
                f"{claim.cold_ms:.1f}",
                f"{claim.min_ms:.1f}",
                f"{claim.median_ms:.1f}",
                f"{claim.cpu_ms:.1f}",
                f"{claim.reference_ms:.1f}",
                f"{claim.gc_ms:.1f}",
                f"{claim.store_ms:.1f}",
                f"{claim.statements}",
                f"{claim.driver_ms:.1f}",
                f"{scan.ms:,.0f}{'*' if scan.extrapolated else ''}",
                f"{scan.ms / claim.median_ms:.1f}x",
            ]
        )
    headers = ["backend", "people", "due", "load s", "cold ms", "min ms", "med ms", "cpu ms"]
    headers += ["ref ms", "gc ms", "then rows ms", "stmts"]
    lines += table([*headers, "in SQL ms", "full scan ms", "scan/claim"], cells)
    lines += ["", "  Statements per claim (instrumented run):"]
    for row in rows:
        kinds = ", ".join(f"{kind} {count}" for kind, count in row.claim.kinds.items())
        lines.append(
            f"  {row.backend} at {row.people:,}: {kinds} ({row.claim.executemany} executemany); "
            f"{row.claim.driver_ms:.1f} of {row.claim.total_ms:.1f} ms inside execute"
        )
    lines += ["", "  Each timed run, in order: claim ms (reference workload ms just before it):"]
    for row in rows:
        runs = zip(row.claim.runs_ms, row.claim.references_ms, strict=True)
        lines.append(
            f"  {row.backend} at {row.people:,}: "
            + ", ".join(f"{claim_ms:.1f} ({ref_ms:.1f})" for claim_ms, ref_ms in runs)
        )
    lines += ["", "  Where a claim's time goes (median of the instrumented runs, ms):"]
    cells = [
        [row.backend, f"{row.people:,}", *(f"{row.claim.part_ms(part):.1f}" for part in PARTS)]
        for row in rows
    ]
    lines += table(["backend", "people", *PARTS], cells)
    with_server = [row for row in rows if row.claim.server_ms]
    if with_server:
        lines += [
            "",
            "  The server's own work in a claim (PostgreSQL; EXPLAIN ANALYZE of each statement,",
            "  rolled back; median of --repeat rounds, ms): the floor of a claim's time however",
            "  little Python it takes (the SELECT comes first, the pipeline overlaps the rest)",
        ]
        kinds = SERVER_PARTS
        cells = [
            [
                row.backend,
                f"{row.people:,}",
                *(f"{row.claim.server_ms[kind]:.1f}" for kind in kinds),
                f"{sum(row.claim.server_ms.values()):.1f}",
            ]
            for row in with_server
        ]
        lines += table(["backend", "people", *kinds, "total"], cells)
    extrapolated = [row for row in rows if row.scan.extrapolated]
    if extrapolated:
        lines.append("")
        for row in extrapolated:
            lines.append(
                f"  * {row.backend} at {row.people:,}: full scan NOT run whole; {row.scan.rows:,} "
                f"rows timed ({row.scan.due} due among them) and extrapolated linearly "
                f"(estimate over --scan-limit {args.scan_limit:g} s)"
            )
    lines += [
        "",
        "  cpu ms: this process's CPU time in a claim (median; the database server's not in it),",
        "  which other work on the machine moves less than the wall-clock times; but a slower",
        "  machine moves it: ref ms is the median CPU time of a fixed pure-Python workload run",
        "  just before each timed claim (the same work every time; see the load line).",
        "  gc ms: garbage collection inside a timed claim (mean), with what the benchmark made",
        "  before frozen out of the collector's sight, as `psoas-bot tick` freezes its start-up.",
        "  On SQLite the three statements run on sqlite3's own cursor; their times include",
        "  fetching the rows and turning their text into instants and clock times.",
        "  stmts: statements sent to the driver (an executemany counts once); in SQL ms: time",
        "  inside the driver's execute calls (round trips, database work) in the instrumented run;",
        "  the rest of the claim is Python (ORM, schedule, SQLAlchemy) and the commit.",
        "  pipelined (PostgreSQL): the schedule math, the DELETE of the due wake-ups, the INSERT",
        "  of the next ones and the INSERT of the claims, chunk by chunk in psycopg's pipeline",
        "  mode, the server writing one chunk while Python works out the next; its statements",
        "  are counted in stmts but not in 'in SQL ms' (they overlap the Python work). On",
        "  PostgreSQL the SELECT runs on psycopg's own cursor: its time includes building the",
        "  rows.",
        "  then rows ms: after the claim, the people's own rows told their next nudges",
        "  (`store_next_nudges`, one statement; a pass runs it while the first DMs go), median;",
        "  not part of the claim's time, which is what a target is checked against.",
    ]
    if tuple(args.sizes) != TARGET_SIZES:
        lines += [
            "",
            f"  NOTE: the targets are for {TARGET_SIZES[0]:,} and {TARGET_SIZES[1]:,} people; "
            f"this run checks them at {args.sizes[0]:,}"
            + (f" and {args.sizes[-1]:,}." if len(args.sizes) > 1 else " only."),
        ]
    return "\n".join(lines)


def targets(rows: Sequence[Row]) -> list[Target]:
    """Per backend: the median claim at the smallest and at the largest size."""
    result = []
    for backend in dict.fromkeys(row.backend for row in rows):
        mine = [row for row in rows if row.backend == backend]
        for row in mine[:1] + mine[1:][-1:]:
            result.append(
                Target(
                    f"{backend} median claim at {row.people:,} people",
                    row.claim.median_ms,
                    CLAIM_TARGET_MS[backend],
                    " ms",
                    digits=1,
                )
            )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_options(__doc__, OPTIONS, argv)
    load = LoadAverage()
    rows: list[Row] = []
    profiles: dict[str, str] = {}
    with scratch_directory("psoas-bench-claim-") as workdir:
        for backend in args.backends:
            url = sqlite_url(workdir) if backend == "sqlite" else args.postgres_url
            backend_rows, profiles[backend] = bench_backend(backend, url, args.sizes, args)
            rows += backend_rows
    print(report(rows, args, load))
    status = finish(targets(rows), check=args.check)
    for backend, text_ in profiles.items():
        if text_:
            print(f"\ncProfile of one claim_due on {backend} at {args.sizes[0]:,} people")
            print(text_)
    return status


if __name__ == "__main__":
    sys.exit(main())
