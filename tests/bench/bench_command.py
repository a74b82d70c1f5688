"""Benchmark: two signed `/psoas` commands over HTTP against the real app, each side by side with
a bare Bolt app doing the least an honest hand-written app would, on the same server stack
(WebApp + waitress, 8 threads), driven round by round in turns.

    python -m tests.bench.bench_command [--seconds 10] [--rate 200] [--clients 32]
        [--closed-seconds 2.5] [--rounds 10] [--open-workers 32] [--warm-up 1]
        [--database sqlite|postgresql] [--postgres-url URL] [--people 64]
        [--profile] [--check] [--quick]

The commands:

* `half-kneel`: an exercise from the library; no database, no Slack call. The bare app acks a
  constant ("ok").
* `every 45` / `every 90` (in turns, so every request changes the row), from seeded people who
  are opted in and whose Do Not Disturb window is known, so the answer comes in the ack. The
  real app reads the person's row, applies the change, reschedules the next nudge, writes the
  columns that moved with one UPDATE guarded by the row as read, and answers with the
  person's settings. The bare app parses the minutes with a regular expression, writes
  them with one SQLAlchemy Core UPDATE in one transaction and acks a one-line ephemeral message.
  It leaves out what a correct change cannot: it reads nothing (so it neither knows whether
  the person exists nor checks N against their working hours) and moves no next nudge (one
  indexed instant: a second page per commit on SQLite, and on PostgreSQL an update that
  cannot be HOT, so every index of the row gets an entry). The real app's read is a statement
  more than the bare app's write; it runs both in autocommit, where the bare app's
  transaction adds a BEGIN and a COMMIT (on PostgreSQL: two round trips to its three).
  Each app has a database of its own, migrated and seeded alike: a SQLite file (WAL, commits
  synced at checkpoints rather than one by one, as the real app sets it, for both), or with
  `--database postgresql` two databases beside `--postgres-url`'s (`<name>_real`,
  `<name>_bare`), created if missing. Each closed-loop client
  is one person, so rows are not fought over.

Both apps verify every request's signature (Bolt does, for both; WebApp checks it once more
before Bolt, for both). Both servers run at once, each in its own process (spawn), so the load
generator shares the GIL of neither. Two measurements per command and app:

* closed loop: `--clients` threads, each with one keep-alive connection, sending back to back;
  the maximum throughput. It runs in `--rounds` rounds of `--closed-seconds` per app and command;
  in each round the apps take turns (real then bare, then bare then real in the next round,
  and the other way round for the other command): drift of the machine (other work starting or
  stopping) then weighs on both alike and does not move their ratio. The figures are over all
  rounds; the ratio real/bare is pooled over them, and shown per round. Ten rounds: on a
  2-core machine whose pace swings within seconds, one round's ratio moved from 0.66 to 1.38,
  and a pool of four went from 0.77 to 0.99 between two runs of the same code.
* open loop: requests sent at fixed instants (`--rate` per second for `--seconds`) whatever the
  responses; latency runs from the *scheduled* send time to the last byte of the response, so a
  stalled server or a late generator both show up in it (no coordinated omission).

An error is an exception, a status other than 200, or a body without the expected answer.
Targets (the real app): closed-loop throughput at least 0.85 x the bare app's for each command,
no errors, and p99 at most 5 ms for `half-kneel` at 200/s. `--check` exits 1 when one is missed;
otherwise it always exits 0. `--quick` is a 2 s open loop and 2 rounds of 1 s. `--profile` adds
a cProfile of the real server's threads (it slows them: ratios under it mean nothing).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from tests.bench.harness import (
    HEALTH_PATH,
    KeepAliveClient,
    LoadAverage,
    Option,
    ServerProcess,
    Target,
    finish,
    fresh_database,
    parse_options,
    percentile_ms,
    progress,
    scratch_directory,
    shown_url,
    sqlite_url,
    table,
    title,
)
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET, TEAM, command_body, signed_headers

P99_TARGET_MS = 5.0  # real app, open loop at OFFERED_RATE, `half-kneel`
OFFERED_RATE = 200.0
RATIO_TARGET = 0.85  # real app's closed-loop throughput against the bare app's, per command
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/psoas_bench_command"

KINDS = ("real", "bare")
DATABASES = ("sqlite", "postgresql")
MAX_BODY_BYTES = 1_000_000
SERVER_THREADS = 8


@dataclass(frozen=True)
class Command:
    name: str
    texts: tuple[str, ...]  # sent in turns by each client
    expected: dict[str, bytes]  # what a correct answer contains, per app
    p99_target: bool  # the open loop's p99 target applies


EXERCISE = Command(
    "half-kneel", ("half-kneel",), {"real": b"Half kneel", "bare": b"ok"}, p99_target=True
)
SETTING = Command(
    "every 45 | every 90",
    ("every 45", "every 90"),
    {"real": b"Interval saved.", "bare": b"Saved: nudges every"},
    p99_target=False,
)
COMMANDS = (EXERCISE, SETTING)

OPTIONS = (
    Option("--seconds", 10.0, "open-loop duration, per app and command", quick=2.0),
    Option("--rate", OFFERED_RATE, "open-loop requests offered per second"),
    Option("--clients", 32, "closed-loop clients (each one person)"),
    Option("--closed-seconds", 2.5, "closed-loop round, per app and command", quick=1.0),
    Option("--rounds", 10, "closed-loop rounds", quick=2),
    Option("--open-workers", 32, "sender threads for the open loop"),
    Option("--warm-up", 1.0, "seconds of closed loop per app and command before measuring"),
    Option("--database", "sqlite", "where the settings are written", choices=DATABASES),
    Option("--postgres-url", DEFAULT_POSTGRES_URL, "with --database postgresql: base database"),
    Option("--people", 64, "people seeded in each database (at least --clients)"),
    Option("--profile", False, "print a cProfile of the real app's server threads"),
)


def user_of(index: int) -> str:
    return f"UBENCH{index:05d}"


# ---------------------------------------------------------------- databases (this process)


def database_urls(args: argparse.Namespace, workdir: str) -> dict[str, str]:
    """Each app's own database, named after it."""
    if args.database == "sqlite":
        return {kind: sqlite_url(workdir, f"{kind}.db") for kind in KINDS}
    base = make_url(args.postgres_url)
    return {
        kind: base.set(database=f"{base.database}_{kind}").render_as_string(hide_password=False)
        for kind in KINDS
    }


def seed(url: str, people: int) -> None:
    """A fresh database with `people` people in the bench's workspace, opted in, their Do Not
    Disturb window known (so a settings change needs no Slack call), every 60 minutes."""
    from bot.core.changes import TurnOn
    from bot.core.schedule import DndStatus
    from bot.data.database import Database
    from bot.data.people import Who, change_preferences

    fresh_database(url)
    db = Database(url)
    now = datetime.now(UTC)
    for index in range(people):
        change_preferences(
            db,
            Who(TEAM, user_of(index)),
            TurnOn(),
            now=now,
            timezone_of=lambda: "Europe/London",
            dnd_of=lambda: DndStatus(start=None, end=None),
        )
    db.dispose()


# ---------------------------------------------------------------- the two apps (server process)


def real_app(api_url: str, workdir: str, database_url: str | None = None) -> Any:
    from bot.settings import load_settings
    from bot.slack.app import build_app
    from bot.slack.wsgi import WebApp

    if database_url is None:
        database_url = sqlite_url(workdir)
        fresh_database(database_url)
    settings = load_settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=api_url,
        database_url=database_url,
    )
    return WebApp(build_app(settings), max_body_bytes=MAX_BODY_BYTES)


EVERY = re.compile(r"every (\d+)")


def bare_app(api_url: str, workdir: str, database_url: str | None = None) -> Any:
    """What an honest hand-written Bolt app does for the two commands: a constant for anything
    but `every N`; for that, N parsed, one Core UPDATE of the person's row in one transaction
    (SQLite with the real app's pragmas: WAL, commits not synced one by one, and a busy
    timeout; a pooled connection per server thread), one line of answer."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient
    from sqlalchemy import create_engine, event, update

    from bot.data.models import Person
    from bot.slack.wsgi import WebApp

    if database_url is None:
        database_url = sqlite_url(workdir)
        fresh_database(database_url)
    # A connection for each server thread, as the real app's pool has (SQLAlchemy's default
    # of 5 would open and close the others' on every request).
    engine = create_engine(database_url, pool_size=SERVER_THREADS)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=2000")
            cursor.close()

    people = Person.__table__
    # The token travels in the client, as in build_app; giving `token=` as well only makes
    # Bolt log "client prioritized, token skipped".
    # Same Bolt mode as build_app: listeners answer in the request thread.
    bare = App(
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
        process_before_response=True,
        client=WebClient(token=BOT_TOKEN, base_url=api_url),
    )

    @bare.command("/psoas")
    def _answer(ack: Ack, command: dict[str, Any]) -> None:
        found = EVERY.fullmatch(command.get("text") or "")
        if found is None:
            ack("ok")
            return
        minutes = int(found[1])
        with engine.begin() as connection:
            connection.execute(
                update(people)
                .where(people.c.team_id == command["team_id"])
                .where(people.c.user_id == command["user_id"])
                .values(interval_minutes=minutes)
            )
        ack(response_type="ephemeral", text=f"Saved: nudges every {minutes} minutes.")

    return WebApp(bare, max_body_bytes=MAX_BODY_BYTES)


FACTORIES = {"real": real_app, "bare": bare_app}


# ---------------------------------------------------------------- load generator


class Requests:
    """The bodies one person sends, in turns (built once: the generator's CPU is shared)."""

    def __init__(self, command: Command, user: str) -> None:
        self.bodies = [command_body(text, user=user, team=TEAM) for text in command.texts]
        self.turn = itertools.cycle(range(len(self.bodies)))

    def next(self) -> str:
        return self.bodies[next(self.turn)]


def send_one(client: KeepAliveClient, body: str, expected: bytes) -> bool:
    """True if the answer is a 200 with the expected body."""
    try:
        status, data = client.request("POST", "/slack/events", body.encode(), signed_headers(body))
    except Exception:
        return False
    return status == 200 and expected in data


@dataclass
class OpenResult:
    offered: float
    sent: int
    achieved: float  # requests per second actually sent
    p50: float
    p99: float
    max: float
    errors: int
    lag_p99: float  # how late the generator sent, against the schedule
    server_cpu: float  # percent of one core
    client_cpu: float


@dataclass
class ClosedRound:
    latencies: list[float]
    errors: int
    elapsed: float
    server_cpu_s: float
    client_cpu_s: float

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed


@dataclass
class ClosedResult:
    """Every round of one app and command, together."""

    clients: int
    rounds: list[ClosedRound] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return sum(len(r.latencies) for r in self.rounds)

    @property
    def elapsed(self) -> float:
        return sum(r.elapsed for r in self.rounds)

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed if self.elapsed else float("nan")

    def percentile(self, pct: float) -> float:
        return percentile_ms([value for r in self.rounds for value in r.latencies], pct)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    @property
    def server_cpu(self) -> float:
        return 100 * sum(r.server_cpu_s for r in self.rounds) / self.elapsed

    @property
    def client_cpu(self) -> float:
        return 100 * sum(r.client_cpu_s for r in self.rounds) / self.elapsed

    @property
    def server_cpu_per_request_us(self) -> float:
        done = self.completed
        return 1e6 * sum(r.server_cpu_s for r in self.rounds) / done if done else float("nan")


def _cpu_meter(server: ServerProcess) -> Callable[[], tuple[float, float, float]]:
    """Start now; the returned function gives (wall, server CPU, client CPU) seconds since."""
    wall0, server0, client0 = time.perf_counter(), server.cpu(), time.process_time()

    def stop() -> tuple[float, float, float]:
        return (
            time.perf_counter() - wall0,
            server.cpu() - server0,
            time.process_time() - client0,
        )

    return stop


def open_loop(
    server: ServerProcess,
    kind: str,
    command: Command,
    *,
    rate: float,
    seconds: float,
    workers: int,
    people: int,
) -> OpenResult:
    total = max(2, round(rate * seconds))
    expected = command.expected[kind]
    senders = [Requests(command, user_of(i)) for i in range(min(people, total))]
    latencies: list[float] = [0.0] * total
    lags: list[float] = [0.0] * total
    oks: list[bool] = [False] * total
    sent_at: list[float] = [0.0] * total
    counter = itertools.count()  # next() on it is atomic under the GIL
    meter = _cpu_meter(server)
    start = time.perf_counter() + 0.1

    def worker() -> None:
        client = KeepAliveClient(server.port)
        while (index := next(counter)) < total:
            body = senders[index % len(senders)].next()
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            oks[index] = send_one(client, body, expected)
            latencies[index] = time.perf_counter() - due
            lags[index] = sent - due
            sent_at[index] = sent
        client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, server_cpu, client_cpu = meter()
    span = max(sent_at) - start
    return OpenResult(
        offered=rate,
        sent=total,
        achieved=(total - 1) / span if span > 0 else float("nan"),
        p50=percentile_ms(latencies, 50),
        p99=percentile_ms(latencies, 99),
        max=max(latencies) * 1000,
        errors=oks.count(False),
        lag_p99=percentile_ms(lags, 99),
        server_cpu=100 * server_cpu / wall,
        client_cpu=100 * client_cpu / wall,
    )


def closed_round(
    server: ServerProcess, kind: str, command: Command, *, clients: int, seconds: float
) -> ClosedRound:
    expected = command.expected[kind]
    per_client: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    finished = [0.0] * clients
    ready = threading.Barrier(clients + 1)
    times: dict[str, float] = {}

    def worker(slot: int) -> None:
        requests = Requests(command, user_of(slot))
        client = KeepAliveClient(server.port)
        client.request("GET", HEALTH_PATH)  # open the connection before the clock starts
        ready.wait()
        deadline = times["deadline"]
        own = per_client[slot]
        while (began := time.perf_counter()) < deadline:
            if not send_one(client, requests.next(), expected):
                errors[slot] += 1
            own.append(time.perf_counter() - began)
        finished[slot] = time.perf_counter()
        client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    meter = _cpu_meter(server)
    start = time.perf_counter()
    times["deadline"] = start + seconds
    ready.wait()
    for thread in threads:
        thread.join()
    _wall, server_cpu, client_cpu = meter()
    return ClosedRound(
        latencies=[value for own in per_client for value in own],
        errors=sum(errors),
        elapsed=max(finished) - start,
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
    )


def round_order(index: int) -> tuple[str, ...]:
    """real, bare; bare, real; real, bare; ...: linear drift weighs on both alike."""
    return KINDS if index % 2 == 0 else KINDS[::-1]


# ---------------------------------------------------------------- report


@dataclass
class Measured:
    opened: dict[str, OpenResult] = field(default_factory=dict)
    closed: dict[str, ClosedResult] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.closed["real"].throughput / self.closed["bare"].throughput


Row = tuple[str, Callable[[Any], float], str]


def _rows(pairs: Sequence[Row], a: Any, b: Any) -> list[list[str]]:
    return [[label, format(get(a), fmt), format(get(b), fmt)] for label, get, fmt in pairs]


OPEN_ROWS: Sequence[Row] = (
    ("requests sent", lambda r: r.sent, "d"),
    ("achieved rate (req/s)", lambda r: r.achieved, ".1f"),
    ("p50 (ms)", lambda r: r.p50, ".2f"),
    ("p99 (ms)", lambda r: r.p99, ".2f"),
    ("max (ms)", lambda r: r.max, ".2f"),
    ("errors", lambda r: r.errors, "d"),
    ("generator send lag p99 (ms)", lambda r: r.lag_p99, ".2f"),
    ("server CPU (% of a core)", lambda r: r.server_cpu, ".0f"),
    ("client CPU (% of a core)", lambda r: r.client_cpu, ".0f"),
)
CLOSED_ROWS: Sequence[Row] = (
    ("requests completed", lambda r: r.completed, "d"),
    ("throughput (req/s)", lambda r: r.throughput, ".1f"),
    ("p50 (ms)", lambda r: r.percentile(50), ".2f"),
    ("p99 (ms)", lambda r: r.percentile(99), ".2f"),
    ("errors", lambda r: r.errors, "d"),
    ("server CPU per request (µs)", lambda r: r.server_cpu_per_request_us, ".0f"),
    ("server CPU (% of a core)", lambda r: r.server_cpu, ".0f"),
    ("client CPU (% of a core)", lambda r: r.client_cpu, ".0f"),
)


def report(
    args: argparse.Namespace,
    measured: dict[str, Measured],
    load: LoadAverage,
    databases: dict[str, str],
) -> str:
    headers = ["", "real app", "bare app"]
    lines = [
        title(
            f"signed `/psoas` commands over HTTP, WebApp + waitress ({SERVER_THREADS} threads), "
            "the real and a bare Bolt app each in its own process, in turns round by round"
        ),
        load.line(),
        "settings written to: "
        + ", ".join(f"{kind} {shown_url(url)}" for kind, url in databases.items()),
        "bare app: Bolt verifies the signature; `every N`: N by a regular expression, one Core "
        "UPDATE of the person's row in one transaction, a one-line ephemeral answer; anything "
        "else: a constant ack",
        "real app: `every N` reads the row, applies the change, reschedules the next nudge, "
        "writes what moved guarded by the row as read, and answers with the person's "
        "settings; `half-kneel` answers the exercise",
        "NOTE: for `every N` the bare app skips what a correct change must do: read the row "
        "(does the person exist, does N fit their hours) and move their next nudge",
    ]
    for command in COMMANDS:
        result = measured[command.name]
        real_c, bare_c = result.closed["real"], result.closed["bare"]
        per_round = " ".join(
            f"{real.throughput / bare.throughput:.2f}"
            for real, bare in zip(real_c.rounds, bare_c.rounds, strict=True)
        )
        cpu_ratio = bare_c.server_cpu_per_request_us / real_c.server_cpu_per_request_us
        lines += [
            "",
            f"`/psoas {command.name}`",
            f"Closed loop: {args.clients} clients, keep-alive, back to back, {args.rounds} "
            f"rounds of {args.closed_seconds:g} s per app, in turns",
            *table(headers, _rows(CLOSED_ROWS, real_c, bare_c)),
            f"  throughput real/bare: {result.ratio:.2f} (per round: {per_round}); "
            f"server CPU per request bare/real: {cpu_ratio:.2f}",
        ]
        if not result.opened:
            continue
        lines += [
            f"Open loop: {args.rate:g}/s offered for {args.seconds:g} s "
            "(latency from the scheduled send time)",
            *table(headers, _rows(OPEN_ROWS, result.opened["real"], result.opened["bare"])),
        ]
        for kind, opened in result.opened.items():
            if opened.achieved < 0.95 * opened.offered or opened.lag_p99 > 5.0:
                lines.append(
                    f"  NOTE: the load generator fell behind the schedule for the {kind} app "
                    f"(achieved {opened.achieved:.1f}/s, send lag p99 {opened.lag_p99:.1f} ms); "
                    "its latencies include that lag."
                )
    if args.rate != OFFERED_RATE:
        lines.append(
            f"  NOTE: the p99 target is for {OFFERED_RATE:g}/s; this run offered {args.rate:g}/s."
        )
    if args.profile:
        lines.append("  NOTE: the real app ran under cProfile: its ratios mean nothing here.")
    return "\n".join(lines)


def targets(measured: dict[str, Measured]) -> list[Target]:
    found: list[Target] = []
    for command in COMMANDS:
        result = measured[command.name]
        real_o = result.opened.get("real")
        if real_o is not None:
            found.append(
                Target(
                    f"`{command.name}`: real app p99 at {real_o.offered:g}/s",
                    real_o.p99,
                    P99_TARGET_MS,
                    " ms",
                )
            )
        found += [
            Target(
                f"`{command.name}`: real app errors",
                (real_o.errors if real_o else 0) + result.closed["real"].errors,
                0,
                digits=0,
            ),
            Target(
                f"`{command.name}`: real app throughput / bare app's",
                result.ratio,
                RATIO_TARGET,
                "x",
                at_most=False,
                digits=3,
            ),
        ]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_options(__doc__, OPTIONS, argv)
    if args.people < args.clients:
        args.people = args.clients
    load = LoadAverage()
    with scratch_directory("psoas-bench-command-") as workdir:
        databases = database_urls(args, workdir)
        progress(f"seeding {args.people} people in each database ...")
        for url in databases.values():
            seed(url, args.people)
        progress("starting both server processes ...")
        servers = {
            kind: ServerProcess(
                functools.partial(FACTORIES[kind], database_url=databases[kind]),
                threads=SERVER_THREADS,
                profile=args.profile and kind == "real",
                name=f"bench-{kind}",
            )
            for kind in KINDS
        }
        real, bare = servers["real"], servers["bare"]
        with real.start(), bare.start():
            measured = {command.name: Measured() for command in COMMANDS}
            for command in COMMANDS:
                for kind, server in servers.items():
                    # Imports, Bolt's lazy auth.test, waitress's threads, the pools: paid
                    # here, not measured.
                    closed_round(server, kind, command, clients=4, seconds=args.warm_up)
            for index in range(args.rounds):
                for position, command in enumerate(COMMANDS):
                    for kind in round_order(index + position):
                        progress(
                            f"[{kind}] `{command.name}` closed loop, "
                            f"round {index + 1} of {args.rounds} ..."
                        )
                        closed = measured[command.name].closed
                        closed.setdefault(kind, ClosedResult(args.clients)).rounds.append(
                            closed_round(
                                servers[kind],
                                kind,
                                command,
                                clients=args.clients,
                                seconds=args.closed_seconds,
                            )
                        )
            for position, command in enumerate(c for c in COMMANDS if c.p99_target):
                for kind in round_order(position):
                    progress(f"[{kind}] `{command.name}` open loop ...")
                    measured[command.name].opened[kind] = open_loop(
                        servers[kind],
                        kind,
                        command,
                        rate=args.rate,
                        seconds=args.seconds,
                        workers=args.open_workers,
                        people=args.people,
                    )
    print(report(args, measured, load, databases))
    status = finish(targets(measured), check=args.check)
    if args.profile:
        print("\ncProfile of the real app's server threads (warm-up, closed and open loop)")
        print(real.final)
    return status


if __name__ == "__main__":
    sys.exit(main())
