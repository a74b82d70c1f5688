"""Benchmark: the whole `psoas-bot tick`, run as an operator runs it (the installed command, its
own process, PostgreSQL, the Slack stand-in in a process of its own), for issue 13's targets 1-5.

    python -m tests.bench.bench_tick [--scenarios floor,cpu,fairness,many,memory]
        [--workspaces 10] [--per-workspace 500] [--latency-ms 100] [--limit 20]
        [--fair-big 10000] [--fair-small 100] [--fair-others 9]
        [--many-workspaces 1000] [--many-per-workspace 20]
        [--memory-sizes 10000,100000] [--memory-workspaces 100] [--memory-rate 50]
        [--postgres-url URL] [--timeout 3600] [--no-empty-tick] [--check] [--quick]

Each pass: the benchmark's database emptied (migrated once, `bot.data.schema`), workspaces and
people seeded, the stand-in's record emptied (one stand-in process per latency and limit, shared
by the passes that use it), then `psoas-bot tick --at <the pass's instant>` with
DATABASE_URL, SLACK_API_URL (the stand-in) and NUDGE_RATE_PER_SECOND in its environment, and
either SLACK_BOT_TOKEN (single-token mode: one token, every workspace) or SLACK_CLIENT_ID,
SLACK_CLIENT_SECRET and TOKEN_ENCRYPTION_KEY (OAuth mode: one installation per workspace, saved
by the app's own `EncryptedInstallationStore`, so every bot token is stored encrypted).

The people: everyone seeded is due at the pass's instant (a Wednesday, 14:00:05 UTC), with
varied preferences (40 time zones, work hours from 07:00 to 19:00, intervals from 30 to 120
minutes, four kinds of work week, lunch and afternoon quiet hours, a nightly scheduled Do Not
Disturb for some), a few thousand distinct rows in all, each stored as the engine leaves it
(`next_slot_at`/`next_nudge_at` from `bot.core.schedule`, the weekly summary later in the week).

Measured for each pass: the tick process's wall time (start to exit), its CPU seconds and peak
RSS (os.wait4: that process alone), PostgreSQL's commits and rollbacks in the database meanwhile,
and what the stand-in saw: every chat.postMessage, accepted or answered 429 (`Retry-After: 1`)
when its workspace (read from the DM's user id) already had `--limit` accepted in the last
second, each answer after the latency. Exactly once: every due person got one DM accepted,
nobody two, nobody unseeded, and in OAuth mode each DM came with its own workspace's token.

Scenarios (each a section; `--scenarios` picks, all by default):

1. floor: `--workspaces` x `--per-workspace` due, `--latency-ms`, `--limit` DMs/s per workspace
   (NUDGE_RATE_PER_SECOND the same), single-token and OAuth: wall / floor (per-workspace / limit)
   at most 1.15, exactly once.
2. cpu: the same passes: the tick's CPU seconds / DMs at most 2 ms (the whole process; a pass
   with nothing due, run right after, shows the fixed cost).
3. fairness: one workspace with `--fair-big` due (seeded first) and `--fair-others` with
   `--fair-small`, OAuth: each small workspace done (all its people sent) within 1.15 x its own
   floor (small / limit) after the pass's first DM; exactly once.
4. many: `--many-workspaces` x `--many-per-workspace`, OAuth, same latency and limit: DMs / wall
   at least 300/s, and the most chat.postMessage requests any workspace made in any 1 s at most
   its limit.
5. memory: `--memory-sizes` due over `--memory-workspaces`, OAuth, an instant stand-in with no
   limit, NUDGE_RATE_PER_SECOND `--memory-rate`: peak RSS of the largest / of the smallest at
   most 1.2 (not measured unless both passes sent everyone), each pass exactly once.

`--check` exits 1 when a target is missed; otherwise it always exits 0. `--quick` shrinks every
size (for a smoke run in well under a minute; its figures mean little).
PostgreSQL: the database of `--postgres-url` (created if missing, its tables dropped and migrated
anew: never point it at one you keep).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import shutil
import statistics
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from itertools import islice
from pathlib import Path
from typing import Any, cast

from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine, MetaData, Table, create_engine, text

from bot.core.preferences import Preferences
from bot.core.schedule import CATCH_UP_LIMIT, DndWindow, catch_up, next_nudge, next_summary
from bot.data.installations import EncryptedInstallationStore, parse_keys
from bot.data.models import Base, Workspace
from bot.data.people import preference_columns
from tests.bench.harness import (
    ZONES,
    CommandRun,
    LoadAverage,
    Option,
    StandInProcess,
    Target,
    finish,
    fresh_database,
    most_in_window,
    parse_options,
    progress,
    run_measured,
    shown_url,
    table,
    title,
)
from tests.support.standin import Call, Responder, rate_limited

SCENARIOS = ("floor", "cpu", "fairness", "many", "memory")
FLOOR_TARGET = 1.15  # wall / floor
CPU_TARGET_MS = 2.0  # CPU per DM, the whole tick process
FAIR_TARGET = 1.15  # a small workspace done, against its own floor, after the first DM
MANY_TARGET = 300.0  # DMs/s
MEMORY_TARGET = 1.2  # peak RSS, largest pass / smallest

NOW = datetime(2026, 12, 2, 14, 0, 5, tzinfo=UTC)  # a Wednesday, 5 s after a 14:00 slot
RETRY_AFTER_S = 1
CLIENT_ID = "1111.2222"
SINGLE_TOKEN = "xoxb-bench-single"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/psoas_bench_tick"
WORKSPACE_DIGITS = 5  # user ids are U<workspace:05d><person:06d>
COPY_CHUNK = 10_000


def sizes(text_: str) -> list[int]:
    values = [int(size) for size in text_.split(",")]
    if values != sorted(set(values)) or values[0] < 1:
        raise argparse.ArgumentTypeError(f"{text_!r}: sizes must increase, from at least 1")
    return values


def scenarios(text_: str) -> list[str]:
    names = [name.strip() for name in text_.split(",") if name.strip()]
    if not names or not set(names) <= set(SCENARIOS):
        raise argparse.ArgumentTypeError(f"{text_!r}: some of {','.join(SCENARIOS)}")
    return names


def modes(text_: str) -> list[str]:
    names = [name.strip() for name in text_.split(",") if name.strip()]
    if not names or not set(names) <= {"single", "oauth"}:
        raise argparse.ArgumentTypeError(f"{text_!r}: single, oauth or both")
    return names


OPTIONS = (
    Option("--scenarios", ",".join(SCENARIOS), "which sections to run", kind=scenarios),
    Option("--modes", "single,oauth", "token modes of scenarios 1 and 2", kind=modes),
    Option("--workspaces", 10, "1-2: workspaces", quick=2),
    Option("--per-workspace", 500, "1-2: due people per workspace", quick=20),
    Option("--latency-ms", 100.0, "stand-in answer delay (1-4)", zero_ok=True),
    Option("--limit", 20, "stand-in DMs/s per workspace, and NUDGE_RATE_PER_SECOND (1-4)"),
    Option("--fair-big", 10_000, "3: due people in the big workspace", quick=40),
    Option("--fair-small", 100, "3: due people in each small workspace", quick=10),
    Option("--fair-others", 9, "3: small workspaces", quick=3),
    Option("--many-workspaces", 1_000, "4: workspaces", quick=30),
    Option("--many-per-workspace", 20, "4: due people per workspace", quick=3),
    Option(
        "--memory-sizes", "10000,100000", "5: due people, increasing", quick="100,400", kind=sizes
    ),
    Option("--memory-workspaces", 100, "5: workspaces", quick=4),
    Option("--memory-rate", 50.0, "5: NUDGE_RATE_PER_SECOND (the most the settings allow)"),
    Option("--postgres-url", DEFAULT_POSTGRES_URL, "a database of the benchmark's own"),
    Option("--timeout", 3600.0, "seconds before a tick is killed", quick=120.0),
    Option("--no-empty-tick", False, "2: skip the tick with nothing due", quick=True),
)


# ---------------------------------------------------------------- the stand-in's side


class Ledger:
    """What the stand-in saw of chat.postMessage, per workspace (from the DM's user id): a
    sliding 1 s window of accepted DMs (None: no limit), and every request."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.recent: dict[str, deque[float]] = {}
        self.accepted: Counter[tuple[str, str]] = Counter()  # (token, channel)
        # (workspace, arrival on the monotonic clock, accepted)
        self.requests: list[tuple[str, float, bool]] = []
        self.sequence = 0
        self.cpu_mark = time.process_time()

    def admit(self, token: str, channel: str) -> tuple[bool, int]:
        now = time.monotonic()
        workspace = channel[: WORKSPACE_DIGITS + 1]
        with self.lock:
            ok = True
            if self.limit is not None:
                recent = self.recent.setdefault(workspace, deque())
                while recent and recent[0] <= now - 1.0:
                    recent.popleft()
                ok = len(recent) < self.limit
                if ok:
                    recent.append(now)
            self.requests.append((workspace, now, ok))
            if ok:
                self.accepted[(token, channel)] += 1
                self.sequence += 1
            return ok, self.sequence

    def drain(self) -> dict[str, Any]:
        """What it saw since the last drain, and its CPU seconds meanwhile; then it starts
        afresh (the limit's windows too) for the next pass."""
        with self.lock:
            cpu = time.process_time()
            seen = {
                "accepted": dict(self.accepted),
                "requests": self.requests,
                "cpu": cpu - self.cpu_mark,
            }
            self.accepted, self.requests, self.cpu_mark = Counter(), [], cpu
            self.recent.clear()
            return seen


def ledger_responder(latency_s: float, limit: int | None) -> tuple[Responder, Callable[[], object]]:
    """For `StandInProcess`: chat.postMessage answered after the latency (429s too), 429 past
    the limit per workspace. Its report drains the ledger, so passes can share the process."""
    ledger = Ledger(limit)

    def responder(call: Call) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if call.method != "chat.postMessage":
            return None
        channel, token = str(call.args.get("channel")), str(call.token)
        ok, sequence = ledger.admit(token, channel)
        if latency_s:
            time.sleep(latency_s)
        if not ok:
            return rate_limited(RETRY_AFTER_S)
        return 200, {"ok": True, "channel": channel, "ts": f"1700000000.{sequence:06d}"}, {}

    return responder, ledger.drain


# ---------------------------------------------------------------- the people


STARTS = tuple(clock_time(h, m) for h, m in ((7, 0), (7, 30), (8, 0), (8, 30), (9, 0), (9, 0),
                                              (9, 30), (10, 0)))  # fmt: skip
ENDS = tuple(clock_time(h, m) for h, m in ((16, 0), (16, 30), (17, 0), (17, 0), (17, 30),
                                            (18, 0), (19, 0)))  # fmt: skip
INTERVALS = (30, 45, 60, 60, 60, 90, 120)
WEEKS = (frozenset(range(5)), frozenset(range(5)), frozenset(range(4)),
         frozenset({6, 0, 1, 2, 3}), frozenset({1, 2, 3, 4, 5}))  # fmt: skip
LUNCH = (clock_time(12), clock_time(13))
LATE_LUNCH = (clock_time(12, 30), clock_time(13, 30))
AFTERNOON = (clock_time(15, 30), clock_time(16))
QUIET = (None, None, None, LUNCH, LATE_LUNCH, AFTERNOON)
POOL_SIZE = 1500  # distinct due rows: a claim's per-row schedule work is not one cached row
# The person's columns as the app writes them (`preference_columns`), then the schedule;
# their next weekly summary's row (`summary_schedule`).
COLUMNS = (
    "team_id", "user_id", *preference_columns(Preferences()),
    "next_slot_at", "next_nudge_at", "dnd_start", "dnd_end", "dnd_checked_at",
)  # fmt: skip
SUMMARY_COLUMNS = ("team_id", "user_id", "next_summary_at")


def nightly_dnd(zone: str, now: datetime) -> tuple[datetime, datetime]:
    """A scheduled Do Not Disturb from 22:00 to 07:00 local, its next start after `now`, as
    Slack's dnd.info gives it."""
    prefs = Preferences(tz=zone)
    local = now.astimezone(prefs.zone)
    start = datetime.combine(local.date(), clock_time(22), tzinfo=prefs.zone)
    if start <= now:
        start += timedelta(days=1)
    return start.astimezone(UTC), (start + timedelta(hours=9)).astimezone(UTC)


def due_rows(now: datetime, count: int = POOL_SIZE, seed: int = 13) -> list[dict[str, Any]]:
    """`count` distinct preference rows, each due at `now` by the app's own schedule, stored as
    the engine leaves a person: their slot, when to send it, and next week's summary ahead."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for _ in range(count * 50):
        if len(rows) == count:
            break
        quiet = rng.choice(QUIET)
        zone = rng.choice(ZONES)
        dnd = nightly_dnd(zone, now) if rng.random() < 0.4 else None
        prefs = Preferences(
            opted_in=True,
            tz=zone,
            work_start=rng.choice(STARTS),
            work_end=rng.choice(ENDS),
            work_days=rng.choice(WEEKS),
            interval_minutes=rng.choice(INTERVALS),
            quiet_start=quiet[0] if quiet else None,
            quiet_end=quiet[1] if quiet else None,
        )
        key = (prefs, dnd)
        if key in seen:
            continue
        seen.add(key)
        windows = [DndWindow(*dnd)] if dnd else []
        nudge = next_nudge(prefs, after=now - CATCH_UP_LIMIT, dnd=windows)
        if nudge is None or nudge.send_at > now:
            continue
        send, _after = catch_up(prefs, nudge, now=now, dnd=windows)
        if send != nudge:
            continue
        rows.append(
            {
                **preference_columns(prefs),
                "next_summary_at": next_summary(prefs, after=now),
                "next_slot_at": nudge.slot,
                "next_nudge_at": nudge.send_at,
                "dnd_start": dnd[0] if dnd else None,
                "dnd_end": dnd[1] if dnd else None,
                "dnd_checked_at": now - timedelta(hours=3) if dnd else None,
            }
        )
    if len(rows) < count:
        raise RuntimeError(f"only {len(rows)} distinct due rows found at {now}")
    return rows


def team_of(workspace: int) -> str:
    return f"TB{workspace:0{WORKSPACE_DIGITS}d}"


def user_of(workspace: int, person: int) -> str:
    return f"U{workspace:0{WORKSPACE_DIGITS}d}{person:06d}"


def token_of(workspace: int) -> str:
    return f"xoxb-bench-{workspace}"


def workspace_of_channel(channel: str) -> int:
    return int(channel[1 : WORKSPACE_DIGITS + 1])


# ---------------------------------------------------------------- a pass


@dataclass(frozen=True)
class Workload:
    scenario: str
    label: str
    due: tuple[int, ...]  # due people per workspace, in seeding order
    mode: str  # "single" or "oauth"
    latency_s: float
    limit: int | None  # the stand-in's per-workspace limit; None: none
    rate: float  # NUDGE_RATE_PER_SECOND

    @property
    def total(self) -> int:
        return sum(self.due)


@dataclass
class Pass:
    workload: Workload
    run: CommandRun
    seen: dict[str, Any]  # the stand-in's report
    standin_cpu: float
    commits: int
    rollbacks: int
    statuses: dict[str, int]  # nudge log rows by status after the pass
    missing: int = 0
    duplicated: int = 0
    unexpected: int = 0
    wrong_token: int = 0
    sent: int = 0  # DMs accepted
    rejected: int = 0  # 429s answered
    # workspace -> seconds from the tick's start to its first / last accepted DM
    first_dm: dict[int, float] = field(default_factory=dict)
    last_dm: dict[int, float] = field(default_factory=dict)
    done_at: dict[int, float] = field(default_factory=dict)  # all of its people sent
    most_requests_in_1s: int = 0
    empty: CommandRun | None = None  # a tick right after, with nothing due

    @property
    def faulty(self) -> int:
        return self.missing + self.duplicated + self.unexpected + self.wrong_token

    @property
    def said(self) -> str:
        lines = [line for line in self.run.stdout.splitlines() if line.startswith("tick at")]
        return lines[-1] if lines else "(no summary line)"

    @property
    def first_dm_s(self) -> float:
        return min(self.first_dm.values(), default=math.nan)

    @property
    def last_dm_s(self) -> float:
        return max(self.last_dm.values(), default=math.nan)


def psoas_bot() -> str:
    """The installed console script beside this interpreter (the project's environment)."""
    beside = Path(sys.executable).with_name("psoas-bot")
    found = str(beside) if beside.exists() else shutil.which("psoas-bot")
    if not found:
        raise RuntimeError("psoas-bot is not installed: pip install -e '.[test]'")
    return found


def compile_package() -> str:
    """The package's modules compiled to bytecode beside their sources, as `pip install .`
    leaves an installed package (the container image's too: its build stage installs with
    pip's default compile). This checkout is installed editable, and under
    PYTHONDONTWRITEBYTECODE (as on this machine) each tick process would otherwise compile
    every module of the package from source again: about 0.15 s of its start-up here.
    Returns what was done, for the report."""
    import compileall

    import bot

    package = Path(bot.__file__).parent
    if not compileall.compile_dir(package, quiet=1):
        raise RuntimeError(f"could not compile {package} to bytecode")
    return f"{package} compiled to bytecode first, as `pip install .` leaves it"


def tick_environment(url: str, api_url: str, workload: Workload, key: str) -> dict[str, str]:
    """The inherited environment without any of the bot's settings, then the pass's own."""
    from bot.cli import settings_variables

    ours = set(settings_variables())
    env = {name: value for name, value in os.environ.items() if name not in ours}
    env |= {
        "DATABASE_URL": url,
        "SLACK_API_URL": api_url,
        "NUDGE_RATE_PER_SECOND": f"{workload.rate:g}",
        "LOG_FORMAT": "json",
    }
    if workload.mode == "single":
        env["SLACK_BOT_TOKEN"] = SINGLE_TOKEN
    else:
        env |= {
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": "bench-client-secret",
            "TOKEN_ENCRYPTION_KEY": key,
        }
    return env


def empty_tables(engine: Engine) -> None:
    """Every table of the migrated schema emptied; the schema's own records kept."""
    keep = {"alembic_version", "schema_compatibility"}
    existing = MetaData()
    existing.reflect(engine)
    names = [name for name in existing.tables if name not in keep]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in names)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(existing.sorted_tables):
                if table.name not in keep:
                    connection.execute(table.delete())


def people_rows(workload: Workload, pool: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    index = 0
    for workspace, due in enumerate(workload.due):
        for person in range(due):
            row = pool[index % len(pool)]
            index += 1
            yield {**row, "team_id": team_of(workspace), "user_id": user_of(workspace, person)}


def seed(engine: Engine, workload: Workload, pool: Sequence[dict[str, Any]], key: str) -> None:
    """The workspaces (with their installations, in OAuth mode) and their due people."""
    workspaces = cast(Table, Workspace.__table__)
    with engine.begin() as connection:
        connection.execute(
            workspaces.insert(),
            [{"team_id": team_of(w), "active": True} for w in range(len(workload.due))],
        )
    if workload.mode == "oauth":
        store = EncryptedInstallationStore(CLIENT_ID, engine, parse_keys(key))
        for workspace in range(len(workload.due)):
            store.save(
                Installation(
                    app_id="A0BENCH", team_id=team_of(workspace), user_id="UINSTALLER",
                    bot_token=token_of(workspace), bot_id=f"B{workspace:06d}",
                    bot_user_id=f"UBOT{workspace:06d}", bot_scopes=["chat:write", "im:write"],
                    installed_at=(NOW - timedelta(days=30)).timestamp(),
                )
            )  # fmt: skip
    for name, columns in (("people", COLUMNS), ("summary_schedule", SUMMARY_COLUMNS)):
        copy_rows(engine, name, columns, people_rows(workload, pool))
    with engine.connect() as connection:  # as a database in use would have them
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def copy_rows(
    engine: Engine, table: str, columns: Sequence[str], rows: Iterator[dict[str, Any]]
) -> None:
    """`columns` of `rows` into `table`: COPY on PostgreSQL, chunked INSERTs elsewhere."""
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row([row[name] for name in columns])
            driver.commit()
        finally:
            raw.close()
        return
    target = Base.metadata.tables[table]
    with engine.begin() as connection:
        while chunk := [{name: row[name] for name in columns} for row in islice(rows, COPY_CHUNK)]:
            connection.execute(target.insert(), chunk)


def transactions(engine: Engine) -> tuple[int, int]:
    """PostgreSQL's count of commits and rollbacks in this database (0, 0 elsewhere)."""
    if engine.dialect.name != "postgresql":
        return 0, 0
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_stat_clear_snapshot()"))
        row = connection.execute(
            text(
                "SELECT xact_commit, xact_rollback FROM pg_stat_database "
                "WHERE datname = current_database()"
            )
        ).one()
        connection.rollback()
    return int(row[0]), int(row[1])


def log_statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, count(*) FROM nudge_log GROUP BY status"))
        return {str(status): int(count) for status, count in rows}


class StandIns:
    """A stand-in process per (latency, limit), started on first use and shared by the passes
    that use it (each pass drains its ledger): a process start is seconds on a loaded machine."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.running: dict[tuple[float, int | None], StandInProcess] = {}

    def __enter__(self) -> StandIns:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stack.__exit__(*exc)

    def get(self, latency_s: float, limit: int | None) -> StandInProcess:
        key = (latency_s, limit)
        if key not in self.running:
            process = StandInProcess(ledger_responder, latency_s, limit, name="bench-standin")
            self.running[key] = self.stack.enter_context(process)
            process.report()  # what its start-up cost is no pass's
        return self.running[key]


def run_pass(
    args: argparse.Namespace,
    engine: Engine,
    standins: StandIns,
    workload: Workload,
    pool: Sequence[dict[str, Any]],
    *,
    empty_after: bool = False,
) -> Pass:
    """Seed, run the tick against the stand-in, and check what the stand-in saw."""
    progress(f"{workload.scenario}: {workload.label}: seeding {workload.total:,} due ...")
    key = Fernet.generate_key().decode()
    empty_tables(engine)
    seed(engine, workload, pool, key)
    standin = standins.get(workload.latency_s, workload.limit)
    env = tick_environment(args.postgres_url, standin.api_url, workload, key)
    command = [psoas_bot(), "tick", "--at", NOW.isoformat()]
    commits0, rollbacks0 = transactions(engine)
    progress(f"{workload.scenario}: {workload.label}: psoas-bot tick ...")
    run = run_measured(command, env=env, timeout=args.timeout)
    time.sleep(0.3)  # the tick's connections' statistics reach pg_stat_database on exit
    commits1, rollbacks1 = transactions(engine)
    empty = None
    if empty_after and not args.no_empty_tick:
        # Everyone is rescheduled now: the same command with nothing to do. A DM it sent
        # would count as a second one.
        empty = run_measured(command, env=env, timeout=args.timeout)
    seen = standin.report()
    if run.timed_out or run.returncode != 0:
        progress(f"tick exited {run.returncode}{' (timed out)' if run.timed_out else ''}:\n"
                 f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}")  # fmt: skip
    result = Pass(
        workload,
        run,
        seen,
        float(seen["cpu"]),
        commits1 - commits0,
        rollbacks1 - rollbacks0,
        log_statuses(engine),
        empty=empty,
    )
    check(result)
    progress(f"{workload.scenario}: {workload.label}: {run.seconds:.1f} s, "
             f"{result.sent:,} DMs, {result.faulty} not exactly once")  # fmt: skip
    return result


def check(result: Pass) -> None:
    """Exactly once, per person, from what the stand-in accepted; when each workspace began
    and finished; the most requests any workspace made within 1 s."""
    workload = result.workload
    accepted: dict[tuple[str, str], int] = result.seen["accepted"]
    per_channel: Counter[str] = Counter()
    for (token, channel), count in accepted.items():
        per_channel[channel] += count
        if workload.mode == "oauth" and token != token_of(workspace_of_channel(channel)):
            result.wrong_token += count
        if workload.mode == "single" and token != SINGLE_TOKEN:
            result.wrong_token += count
    expected = {
        user_of(workspace, person)
        for workspace, due in enumerate(workload.due)
        for person in range(due)
    }
    result.missing = sum(1 for user in expected if per_channel[user] == 0)
    result.duplicated = sum(1 for user in expected if per_channel[user] > 1)
    result.unexpected = sum(1 for channel in per_channel if channel not in expected)
    result.sent = sum(per_channel.values())
    arrivals: dict[str, list[float]] = {}
    accepted_times: dict[int, list[float]] = {}
    for workspace_key, arrival, ok in result.seen["requests"]:
        arrivals.setdefault(workspace_key, []).append(arrival)
        if ok:
            accepted_times.setdefault(int(workspace_key[1:]), []).append(arrival)
        else:
            result.rejected += 1
    result.most_requests_in_1s = max(
        (most_in_window(sorted(times)) for times in arrivals.values()), default=0
    )
    sent_per_workspace: Counter[int] = Counter()
    for user, count in per_channel.items():
        if user in expected:
            sent_per_workspace[workspace_of_channel(user)] += min(count, 1)
    start = result.run.started
    for workspace, times in accepted_times.items():
        result.first_dm[workspace] = min(times) - start
        result.last_dm[workspace] = max(times) - start
        if sent_per_workspace[workspace] == workload.due[workspace]:
            result.done_at[workspace] = max(times) - start


# ---------------------------------------------------------------- report


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def once(result: Pass) -> str:
    if not result.faulty:
        return "yes"
    parts = [
        f"{result.missing} missing" if result.missing else "",
        f"{result.duplicated} doubled" if result.duplicated else "",
        f"{result.unexpected} unexpected" if result.unexpected else "",
        f"{result.wrong_token} wrong token" if result.wrong_token else "",
    ]
    return "NO: " + ", ".join(part for part in parts if part)


def log_summary(stderr: str, top: int = 5) -> list[str]:
    """The tick's warnings and errors (JSON log lines), counted by logger, message and the
    last line of any exception: what went wrong inside the pass, without reading its log."""
    counted: Counter[str] = Counter()
    for line in stderr.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"level": "stderr", "logger": "-", "message": line}
        if not isinstance(entry, dict) or entry.get("level") in ("debug", "info"):
            continue
        exception = str(entry.get("exception") or "").strip().splitlines()
        cause = f" [{exception[-1][:120]}]" if exception else ""
        message = re.sub(r"\d+", "N", str(entry.get("message", "")))[:120]
        counted[f"{entry.get('level')} {entry.get('logger')}: {message}{cause}"] += 1
    return [f"{count:,} x {what}" for what, count in counted.most_common(top)]


def per_dm_ms(seconds: float, dms: int) -> float:
    return seconds / dms * 1000 if dms else math.nan


def pass_lines(results: Sequence[Pass], floor: float | None = None) -> list[str]:
    headers = ["", "wall s", "first DM s", "last DM s", "DMs", "DMs/s", "exactly once",
               "429s", "CPU s", "CPU ms/DM", "peak RSS MiB", "commits/DM"]  # fmt: skip
    if floor is not None:
        headers.insert(2, "wall/floor")
    rows = []
    for result in results:
        run = result.run
        row = [
            result.workload.label,
            f"{run.seconds:.2f}" + (" (killed)" if run.timed_out else ""),
            f"{result.first_dm_s:.2f}",
            f"{result.last_dm_s:.2f}",
            f"{result.sent:,}/{result.workload.total:,}",
            f"{result.sent / run.seconds:.1f}",
            once(result),
            f"{result.rejected:,}",
            f"{run.cpu_seconds:.2f}",
            f"{per_dm_ms(run.cpu_seconds, result.sent):.2f}",
            mib(run.maxrss_kib),
            f"{result.commits / result.sent:.2f}" if result.sent else "-",
        ]
        if floor is not None:
            row.insert(2, f"{run.seconds / floor:.3f}")
        rows.append(row)
    lines = table(headers, rows)
    for result in results:
        lines.append(f"  {result.workload.label}: the tick said: {result.said}")
        lines.append(
            f"  {result.workload.label}: DMs per due person: {result.missing} missing, "
            f"{result.duplicated} doubled; {result.unexpected} to someone not due, "
            f"{result.wrong_token} with another workspace's token"
        )
        lines.append(
            f"  {result.workload.label}: nudge log {result.statuses or 'empty'}; PostgreSQL "
            f"{result.commits:,} commits, {result.rollbacks:,} rollbacks; stand-in CPU "
            f"{result.standin_cpu:.1f} s; exit {result.run.returncode}"
        )
        for logged in log_summary(result.run.stderr):
            lines.append(f"  {result.workload.label}: logged {logged}")
    return lines


def section(number: int, heading: str, lines: Sequence[str]) -> None:
    print(f"\n{number}. {heading}")
    for line in lines:
        print(line)
    one, five, fifteen = os.getloadavg()
    print(f"  load average now (1/5/15 min): {one:.2f}/{five:.2f}/{fifteen:.2f}")
    sys.stdout.flush()


def floor_passes(
    args: argparse.Namespace,
    engine: Engine,
    standins: StandIns,
    pool: Sequence[dict[str, Any]],
    cache: dict[str, Any],
) -> list[Pass]:
    """Scenario 1's passes, one per mode (scenario 2 reads the same ones)."""
    if "floor" not in cache:
        due = (args.per_workspace,) * args.workspaces
        label = {"single": "single-token", "oauth": "OAuth, encrypted"}
        cache["floor"] = [
            run_pass(
                args,
                engine,
                standins,
                Workload(
                    "floor",
                    label[mode],
                    due,
                    mode,
                    args.latency_ms / 1000,
                    args.limit,
                    float(args.limit),
                ),
                pool,
                empty_after=True,
            )
            for mode in args.modes
        ]
    return cast(list[Pass], cache["floor"])


def scenario_floor(args: argparse.Namespace, results: list[Pass]) -> list[Target]:
    floor = args.per_workspace / args.limit
    section(
        1,
        f"End to end at the floor: {args.workspaces} workspaces x {args.per_workspace} due, "
        f"{args.latency_ms:g} ms latency, {args.limit} DMs/s per workspace "
        f"(floor {args.per_workspace} / {args.limit} = {floor:g} s)",
        [
            "  wall: the tick process from start to exit (start-up, claim, render, send, "
            "record); DM times are seconds after its start",
            *pass_lines(results, floor),
        ],
    )
    targets = []
    for result in results:
        name = result.workload.label
        targets.append(
            Target(
                f"1. {name}: wall / floor ({floor:g} s)",
                result.run.seconds / floor,
                FLOOR_TARGET,
                "x",
                digits=3,
            )
        )
        targets.append(Target(f"1. {name}: DMs not exactly once", result.faulty, 0, digits=0))
    return targets


def scenario_cpu(results: list[Pass]) -> list[Target]:
    headers = ["", "DMs", "CPU s", "user s", "system s", "CPU ms/DM", "empty tick CPU s",
               "(CPU - empty) ms/DM"]  # fmt: skip
    rows = []
    targets = []
    for result in results:
        run, empty = result.run, result.empty
        empty_cpu = empty.cpu_seconds if empty else math.nan
        rows.append(
            [
                result.workload.label,
                f"{result.sent:,}",
                f"{run.cpu_seconds:.2f}",
                f"{run.user_seconds:.2f}",
                f"{run.system_seconds:.2f}",
                f"{per_dm_ms(run.cpu_seconds, result.sent):.3f}",
                f"{empty_cpu:.2f}",
                f"{per_dm_ms(run.cpu_seconds - empty_cpu, result.sent):.3f}",
            ]
        )
        targets.append(
            Target(f"2. {result.workload.label}: CPU per DM (the whole tick process)",
                   per_dm_ms(run.cpu_seconds, result.sent), CPU_TARGET_MS, " ms", digits=3)
        )  # fmt: skip
    section(
        2,
        "CPU per DM: the tick process's CPU seconds (os.wait4) / DMs accepted, scenario 1's passes",
        [
            *table(headers, rows),
            "  empty tick: the same command right after, everyone rescheduled (start-up, "
            "imports, an empty claim)",
        ],
    )
    return targets


def scenario_fairness(
    args: argparse.Namespace, engine: Engine, standins: StandIns, pool: Sequence[dict[str, Any]]
) -> list[Target]:
    due = (args.fair_big,) + (args.fair_small,) * args.fair_others
    result = run_pass(
        args,
        engine,
        standins,
        Workload(
            "fairness",
            "1 big + small",
            due,
            "oauth",
            args.latency_ms / 1000,
            args.limit,
            float(args.limit),
        ),
        pool,
    )
    small = range(1, len(due))
    first = result.first_dm_s
    after_first = [result.done_at.get(w, math.inf) - first for w in small]
    not_done = [w for w in small if w not in result.done_at]
    own_floor = args.fair_small / args.limit
    worst = max(after_first, default=math.nan)
    big_done = result.done_at.get(0, math.inf) - first
    lines = [
        f"  the big workspace ({args.fair_big:,} due) is seeded first: with equal due times it "
        "comes first in the index, the worst case for a claim ordered by due time",
        *pass_lines([result]),
        f"  small workspaces done (all their people sent), s after the pass's first DM "
        f"(at {first:.2f} s): min {min(after_first, default=math.nan):.2f}, median "
        f"{statistics.median(after_first) if after_first else math.nan:.2f}, max {worst:.2f}; "
        f"their own floor {args.fair_small} / {args.limit} = {own_floor:g} s",
        f"  small workspaces not done in this pass: {len(not_done)} of {args.fair_others}"
        + (
            f" (they got {sum(1 for w in not_done if w in result.first_dm)} started)"
            if not_done
            else ""
        ),
        f"  big workspace done {big_done:.2f} s after the first DM"
        + ("" if math.isfinite(big_done) else " (not done in this pass)"),
    ]
    section(
        3,
        f"Fairness: 1 workspace with {args.fair_big:,} due and {args.fair_others} with "
        f"{args.fair_small}, OAuth, {args.latency_ms:g} ms latency, {args.limit} DMs/s each",
        lines,
    )
    return [
        Target(
            f"3. small workspaces all done, s after the first DM (1.15 x {own_floor:g} s)",
            worst,
            FAIR_TARGET * own_floor,
            " s",
        ),
        Target("3. fairness pass: DMs not exactly once", result.faulty, 0, digits=0),
    ]


def scenario_many(
    args: argparse.Namespace, engine: Engine, standins: StandIns, pool: Sequence[dict[str, Any]]
) -> list[Target]:
    due = (args.many_per_workspace,) * args.many_workspaces
    result = run_pass(
        args,
        engine,
        standins,
        Workload(
            "many",
            f"{args.many_workspaces} x {args.many_per_workspace}",
            due,
            "oauth",
            args.latency_ms / 1000,
            args.limit,
            float(args.limit),
        ),
        pool,
    )
    rate = result.sent / result.run.seconds
    span = result.last_dm_s - result.first_dm_s
    section(
        4,
        f"Many workspaces: {args.many_workspaces:,} x {args.many_per_workspace} due, OAuth, "
        f"{args.latency_ms:g} ms latency, {args.limit} DMs/s per workspace",
        [
            *pass_lines([result]),
            f"  DMs/s over the whole process {rate:.1f}; first to last DM {span:.2f} s "
            f"({result.sent / span if span > 0 else math.nan:.1f} DMs/s)",
            f"  most chat.postMessage requests (accepted or not) by one workspace in any 1 s: "
            f"{result.most_requests_in_1s} (limit {args.limit})",
        ],
    )
    return [
        Target(
            "4. many workspaces: DMs/s, whole process",
            rate,
            MANY_TARGET,
            "/s",
            at_most=False,
            digits=1,
        ),
        Target(
            "4. most requests by one workspace in any 1 s",
            result.most_requests_in_1s,
            args.limit,
            digits=0,
        ),
        Target("4. many workspaces: DMs not exactly once", result.faulty, 0, digits=0),
    ]


def spread(total: int, workspaces: int) -> tuple[int, ...]:
    """`total` due people over `workspaces`, as evenly as whole people allow."""
    base, extra = divmod(total, workspaces)
    return tuple(base + (1 if w < extra else 0) for w in range(workspaces))


def scenario_memory(
    args: argparse.Namespace, engine: Engine, standins: StandIns, pool: Sequence[dict[str, Any]]
) -> list[Target]:
    results = [
        run_pass(
            args,
            engine,
            standins,
            Workload(
                "memory",
                f"{total:,} due",
                spread(total, args.memory_workspaces),
                "oauth",
                0.0,
                None,
                args.memory_rate,
            ),
            pool,
        )
        for total in args.memory_sizes
    ]
    smallest, largest = results[0], results[-1]
    ratio = largest.run.maxrss_kib / smallest.run.maxrss_kib
    # A pass that did not send everyone did not hold everyone: its peak says nothing.
    complete = all(r.sent == r.workload.total and not r.faulty for r in results)
    section(
        5,
        f"Flat memory: {' and '.join(f'{n:,}' for n in args.memory_sizes)} due over "
        f"{args.memory_workspaces} workspaces, OAuth, an instant stand-in with no limit, "
        f"NUDGE_RATE_PER_SECOND={args.memory_rate:g}",
        [
            *pass_lines(results),
            f"  peak RSS {largest.workload.label} / {smallest.workload.label}: {ratio:.3f}"
            + (
                ""
                if complete
                else " (not the target's figure: a pass did not send everyone it was given)"
            ),
        ],
    )
    targets = [
        Target(
            f"5. peak RSS, {largest.workload.label} / {smallest.workload.label}",
            ratio if complete else math.nan,
            MEMORY_TARGET,
            "x",
            digits=3,
        )
    ]
    targets += [
        Target(f"5. {r.workload.label}: DMs not exactly once", r.faulty, 0, digits=0)
        for r in results
    ]
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_options(__doc__, OPTIONS, argv)
    load = LoadAverage()
    progress(f"database {shown_url(args.postgres_url)}: fresh schema ...")
    fresh_database(args.postgres_url)
    engine = create_engine(args.postgres_url)
    pool = due_rows(NOW)
    compiled = compile_package()
    print(title("the whole `psoas-bot tick` (issue 13, targets 1-5)"))
    print(f"  database: {shown_url(args.postgres_url)} ({engine.dialect.name})")
    print(f"  command: {psoas_bot()} tick --at {NOW.isoformat()}, its own process; {compiled}")
    print(
        f"  stand-in: its own process; 429 (Retry-After: {RETRY_AFTER_S}) when a workspace "
        "already had --limit DMs accepted in the last 1 s (sliding window); every answer after "
        "the latency"
    )
    print(
        "  single-token mode: the one SLACK_BOT_TOKEN for every workspace (the sender paces per "
        "workspace), the stand-in's limit per workspace all the same; OAuth mode: one "
        "encrypted installation per workspace"
    )
    print(
        f"  people: {len(pool):,} distinct due preference rows, repeated; every person "
        "seeded is due at the tick's instant"
    )
    sys.stdout.flush()
    targets: list[Target] = []
    cache: dict[str, Any] = {}
    try:
        with StandIns() as standins:
            if "floor" in args.scenarios:
                passes = floor_passes(args, engine, standins, pool, cache)
                targets += scenario_floor(args, passes)
            if "cpu" in args.scenarios:
                targets += scenario_cpu(floor_passes(args, engine, standins, pool, cache))
            if "fairness" in args.scenarios:
                targets += scenario_fairness(args, engine, standins, pool)
            if "many" in args.scenarios:
                targets += scenario_many(args, engine, standins, pool)
            if "memory" in args.scenarios:
                targets += scenario_memory(args, engine, standins, pool)
    finally:
        engine.dispose()
    print()
    print(load.line())
    return finish(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
