"""Benchmark: signed `/psoas half-kneel` over HTTP against the running server, side by side with a
bare Bolt app that acks a constant on the same stack (WebApp + waitress, 8 threads).

    python -m tests.bench.bench_command [--seconds 10] [--rate 200] [--clients 32]
        [--closed-seconds 2.5] [--rounds 4] [--open-workers 32] [--warm-up 1]
        [--profile] [--check] [--quick]

Both servers run at once, each in its own process (spawn), so the load generator shares the GIL
of neither. Two measurements per app:

* open loop: requests sent at fixed instants (`--rate` per second for `--seconds`) whatever the
  responses; latency runs from the *scheduled* send time to the last byte of the response, so a
  stalled server or a late generator both show up in it (no coordinated omission).
* closed loop: `--clients` threads, each with one keep-alive connection, sending back to back;
  the maximum throughput. It runs in `--rounds` rounds of `--closed-seconds` per app, the apps
  taking turns in the order real, bare, bare, real, real, bare...: drift of the machine (other
  work starting or stopping) then weighs on both alike and does not move their ratio. The
  figures are over all rounds.

An error is an exception, a status other than 200, or a body without the expected answer.
Targets (the real app): p99 at most 5 ms at 200/s with no errors, and closed-loop throughput at
least 0.75 x the bare app's. `--check` exits 1 when one is missed; otherwise it always exits 0.
`--quick` is a 2 s open loop and 2 rounds of 1 s. `--profile` adds a cProfile of the real
server's threads.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
    sqlite_url,
    table,
    title,
)
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET, command_body

P99_TARGET_MS = 5.0  # real app, open loop at OFFERED_RATE
OFFERED_RATE = 200.0
RATIO_TARGET = 0.75  # real app's closed-loop throughput against the bare app's

KINDS = ("real", "bare")
MAX_BODY_BYTES = 1_000_000
SERVER_THREADS = 8
TEXT = "half-kneel"
# What a correct answer contains: the exercise's title, or the bare app's constant.
EXPECTED = {"real": b"Half kneel", "bare": b"ok"}
OPTIONS = (
    Option("--seconds", 10.0, "open-loop duration", quick=2.0),
    Option("--rate", OFFERED_RATE, "open-loop requests offered per second"),
    Option("--clients", 32, "closed-loop clients"),
    Option("--closed-seconds", 2.5, "closed-loop round, per app", quick=1.0),
    Option("--rounds", 4, "closed-loop rounds per app", quick=2),
    Option("--open-workers", 32, "sender threads for the open loop"),
    Option("--warm-up", 1.0, "seconds of closed loop per app before measuring"),
    Option("--profile", False, "print a cProfile of the real app's server threads"),
)


# ---------------------------------------------------------------- the two apps (server process)


def real_app(api_url: str, workdir: str) -> Any:
    from bot.settings import load_settings
    from bot.slack.app import build_app
    from bot.slack.wsgi import WebApp

    database_url = sqlite_url(workdir)
    fresh_database(database_url)
    settings = load_settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=api_url,
        database_url=database_url,
    )
    return WebApp(build_app(settings), max_body_bytes=MAX_BODY_BYTES)


def bare_app(api_url: str, workdir: str) -> Any:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.slack.wsgi import WebApp

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
    def _constant(ack: Ack) -> None:
        ack("ok")

    return WebApp(bare, max_body_bytes=MAX_BODY_BYTES)


FACTORIES = {"real": real_app, "bare": bare_app}


# ---------------------------------------------------------------- load generator


def send_one(client: KeepAliveClient, body: str, expected: bytes) -> bool:
    """True if the answer is a 200 with the expected body."""
    try:
        status, data = client.post_signed(body)
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
    """Every round of one app, together."""

    clients: int
    rounds: list[ClosedRound]

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
    server: ServerProcess, kind: str, *, rate: float, seconds: float, workers: int
) -> OpenResult:
    total = max(2, round(rate * seconds))
    body, expected = command_body(TEXT), EXPECTED[kind]
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


def closed_round(server: ServerProcess, kind: str, *, clients: int, seconds: float) -> ClosedRound:
    body, expected = command_body(TEXT), EXPECTED[kind]
    per_client: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    finished = [0.0] * clients
    ready = threading.Barrier(clients + 1)
    times: dict[str, float] = {}

    def worker(slot: int) -> None:
        client = KeepAliveClient(server.port)
        client.request("GET", HEALTH_PATH)  # open the connection before the clock starts
        ready.wait()
        deadline = times["deadline"]
        own = per_client[slot]
        while (began := time.perf_counter()) < deadline:
            if not send_one(client, body, expected):
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


def report(
    args: argparse.Namespace,
    opened: dict[str, OpenResult],
    closed: dict[str, ClosedResult],
    load: LoadAverage,
) -> str:
    real_o, bare_o, real_c, bare_c = opened["real"], opened["bare"], closed["real"], closed["bare"]

    def rows(
        pairs: Sequence[tuple[str, Callable[[Any], float], str]], a: Any, b: Any
    ) -> list[list[str]]:
        return [[label, format(get(a), fmt), format(get(b), fmt)] for label, get, fmt in pairs]

    open_rows = rows(
        [
            ("requests sent", lambda r: r.sent, "d"),
            ("achieved rate (req/s)", lambda r: r.achieved, ".1f"),
            ("p50 (ms)", lambda r: r.p50, ".2f"),
            ("p99 (ms)", lambda r: r.p99, ".2f"),
            ("max (ms)", lambda r: r.max, ".2f"),
            ("errors", lambda r: r.errors, "d"),
            ("generator send lag p99 (ms)", lambda r: r.lag_p99, ".2f"),
            ("server CPU (% of a core)", lambda r: r.server_cpu, ".0f"),
            ("client CPU (% of a core)", lambda r: r.client_cpu, ".0f"),
        ],
        real_o,
        bare_o,
    )
    closed_rows = rows(
        [
            ("requests completed", lambda r: r.completed, "d"),
            ("throughput (req/s)", lambda r: r.throughput, ".1f"),
            ("p50 (ms)", lambda r: r.percentile(50), ".2f"),
            ("p99 (ms)", lambda r: r.percentile(99), ".2f"),
            ("errors", lambda r: r.errors, "d"),
            ("server CPU (% of a core)", lambda r: r.server_cpu, ".0f"),
            ("client CPU (% of a core)", lambda r: r.client_cpu, ".0f"),
        ],
        real_c,
        bare_c,
    )
    per_round = " ".join(
        f"{real.throughput / bare.throughput:.2f}"
        for real, bare in zip(real_c.rounds, bare_c.rounds, strict=True)
    )
    headers = ["", "real app", "bare app"]
    lines = [
        title(
            f"signed `/psoas {TEXT}` over HTTP, WebApp + waitress ({SERVER_THREADS} threads), "
            "each server in its own process"
        ),
        load.line(),
        "",
        f"Open loop: {args.rate:g}/s offered for {args.seconds:g} s "
        "(latency from the scheduled send time)",
        *table(headers, open_rows),
        "",
        f"Closed loop: {args.clients} clients, keep-alive, back to back, {args.rounds} rounds "
        f"of {args.closed_seconds:g} s per app, taking turns",
        *table(headers, closed_rows),
        "",
        f"  throughput real/bare: {real_c.throughput / bare_c.throughput:.2f} "
        f"(per round: {per_round})",
    ]
    for kind, result in opened.items():
        if result.achieved < 0.95 * result.offered or result.lag_p99 > 5.0:
            lines.append(
                f"  NOTE: the load generator fell behind the schedule for the {kind} app "
                f"(achieved {result.achieved:.1f}/s, send lag p99 {result.lag_p99:.1f} ms); "
                "its latencies include that lag."
            )
    if args.rate != OFFERED_RATE:
        lines.append(
            f"  NOTE: the p99 target is for {OFFERED_RATE:g}/s; this run offered {args.rate:g}/s."
        )
    return "\n".join(lines)


def targets(opened: dict[str, OpenResult], closed: dict[str, ClosedResult]) -> list[Target]:
    real_o = opened["real"]
    ratio = closed["real"].throughput / closed["bare"].throughput
    return [
        Target(f"real app p99 at {real_o.offered:g}/s", real_o.p99, P99_TARGET_MS, " ms"),
        Target(
            "real app errors (open and closed loop)",
            real_o.errors + closed["real"].errors,
            0,
            digits=0,
        ),
        Target(
            "real app throughput / bare app's", ratio, RATIO_TARGET, "x", at_most=False, digits=3
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_options(__doc__, OPTIONS, argv)
    load = LoadAverage()
    progress("starting both server processes ...")
    real = ServerProcess(real_app, threads=SERVER_THREADS, profile=args.profile, name="bench-real")
    bare = ServerProcess(bare_app, threads=SERVER_THREADS, name="bench-bare")
    with real.start(), bare.start():
        servers = {"real": real, "bare": bare}
        for kind, server in servers.items():
            # Imports, Bolt's lazy auth.test, waitress's threads: paid here, not measured.
            closed_round(server, kind, clients=4, seconds=args.warm_up)
        opened: dict[str, OpenResult] = {}
        for kind, server in servers.items():
            progress(f"[{kind}] open loop ...")
            opened[kind] = open_loop(
                server, kind, rate=args.rate, seconds=args.seconds, workers=args.open_workers
            )
        closed = {kind: ClosedResult(args.clients, []) for kind in KINDS}
        for index in range(args.rounds):
            for kind in round_order(index):
                progress(f"[{kind}] closed loop, round {index + 1} of {args.rounds} ...")
                closed[kind].rounds.append(
                    closed_round(
                        servers[kind], kind, clients=args.clients, seconds=args.closed_seconds
                    )
                )
    print(report(args, opened, closed, load))
    status = finish(targets(opened, closed), check=args.check)
    if args.profile:
        print("\ncProfile of the real app's server threads (warm-up, open and closed loop)")
        print(real.final)
    return status


if __name__ == "__main__":
    sys.exit(main())
