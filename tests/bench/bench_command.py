"""Benchmark: signed `/psoas half-kneel` over HTTP against the running server, side by side with a
bare Bolt app that acks a constant on the same stack (WebApp + waitress, 8 threads).

    python -m tests.bench.bench_command [--seconds 10] [--rate 200] [--clients 32]

Each server runs in its own process (spawn), so the load generator does not share its GIL.
Two measurements per app:

* open loop: requests sent at fixed instants (`--rate` per second for `--seconds`) whatever the
  responses; latency runs from the *scheduled* send time to the last byte of the response, so a
  stalled server or a late generator both show up in it (no coordinated omission).
* closed loop: `--clients` threads, each with one keep-alive connection, sending back to back for
  `--closed-seconds`; the maximum throughput.

An error is an exception, a status other than 200, or a body without the expected answer.
Targets: p99 at most 50 ms at 200/s, and at least 70% of the bare app's throughput.
Always exits 0: it is a measurement. `--profile` adds a cProfile of the real server's threads.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import io
import itertools
import logging
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from types import FrameType, TracebackType
from typing import Any

from tests.support.slack import BOT_TOKEN, SIGNING_SECRET, command_body, signed_headers

KINDS = ("real", "bare")
PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1_000_000
SERVER_THREADS = 8
TEXT = "half-kneel"
# What a correct answer contains: the exercise's title, or the bare app's constant.
EXPECTED = {"real": b"Half kneel", "bare": b"ok"}
P99_TARGET_MS = 50.0
RATIO_TARGET = 0.70
START_TIMEOUT_S = 60.0


# ---------------------------------------------------------------- server process


def _web_app(kind: str, api_url: str, workdir: str) -> Any:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.settings import load_settings
    from bot.slack.app import build_app
    from bot.slack.wsgi import WebApp

    if kind == "real":
        settings = load_settings(
            slack_signing_secret=SIGNING_SECRET,
            slack_bot_token=BOT_TOKEN,
            slack_api_url=api_url,
            database_url=f"sqlite:///{workdir}/bench.db",
        )
        return WebApp(build_app(settings), max_body_bytes=MAX_BODY_BYTES)
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


class _ThreadProfiles:
    """One cProfile per thread started after `install()` (cProfile only sees its own thread)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def _start(self, frame: FrameType, event: str, arg: object) -> None:
        profile = cProfile.Profile()
        with self.lock:
            self.profiles.append(profile)
        profile.enable()  # replaces this hook for the calling thread

    def install(self) -> None:
        threading.setprofile(self._start)

    def report(self, top: int = 30) -> str:
        threading.setprofile(None)
        out = io.StringIO()
        with self.lock:
            profiles = list(self.profiles)
        if not profiles:
            return "(no profile collected)\n"
        stats = pstats.Stats(profiles[0], stream=out)
        for profile in profiles[1:]:
            stats.add(profile)
        stats.strip_dirs()
        out.write(f"server threads profiled: {len(profiles)}\n")
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        return out.getvalue()


def serve(kind: str, conn: Connection, profile: bool) -> None:
    """Server process: stand-in Slack API, the app under test behind waitress, a control pipe."""
    from bot.slack.wsgi import make_server
    from tests.support.standin import SlackStandIn

    # Under the closed-loop load waitress warns about its task queue on every burst.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    standin = SlackStandIn().start()
    profiles = _ThreadProfiles()
    with tempfile.TemporaryDirectory(prefix="psoas-bench-") as workdir:
        web_app = _web_app(kind, standin.api_url, workdir)
        if profile:
            profiles.install()  # before make_server: waitress starts its workers there
        server = make_server(
            web_app,
            host="127.0.0.1",
            port=0,
            threads=SERVER_THREADS,
            max_body_bytes=MAX_BODY_BYTES,
        )
        threading.Thread(target=_run_quietly, args=(server,), daemon=True).start()
        conn.send(("port", server.effective_port))
        while True:
            message = conn.recv()
            if message == "cpu":
                conn.send(("cpu", time.process_time()))
            elif message == "stop":
                text = profiles.report() if profile else ""
                conn.send(("stopped", text))
                break
        server.close()
        standin.stop()
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # waitress worker threads are not daemons; nothing left to tidy


def _run_quietly(server: Any) -> None:
    with contextlib.suppress(OSError, ValueError):  # the socket closed under the loop at the end
        server.run()


class ServerProcess:
    def __init__(self, kind: str, *, profile: bool = False) -> None:
        context = get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=serve, args=(kind, child, profile), name=f"bench-{kind}", daemon=True
        )
        self._child = child
        self.port = 0
        self.profile_text = ""

    def _ask(self, message: str, expect: str, timeout: float = START_TIMEOUT_S) -> Any:
        if message:
            self.conn.send(message)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"server process did not answer {message or 'start'!r}")
        tag, value = self.conn.recv()
        if tag != expect:
            raise RuntimeError(f"server process sent {tag!r}, expected {expect!r}")
        return value

    def cpu(self) -> float:
        return float(self._ask("cpu", "cpu"))

    def __enter__(self) -> ServerProcess:
        self.process.start()
        self._child.close()
        self.port = int(self._ask("", "port"))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.profile_text = str(self._ask("stop", "stopped", timeout=30))
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout=5)


# ---------------------------------------------------------------- load generator


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return self.request("POST", PATH, body, headers)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
        except Exception:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def send_one(client: Client, body: str, expected: bytes) -> bool:
    """Sign freshly (about 2 µs) and send; True if the answer is a 200 with the expected body."""
    try:
        status, data = client.post(body.encode(), signed_headers(body))
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
class ClosedResult:
    clients: int
    completed: int
    throughput: float
    p50: float
    p99: float
    errors: int
    server_cpu: float
    client_cpu: float


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


def _cpu_meter(server: ServerProcess) -> Callable[[], tuple[float, float]]:
    """Start now; the returned function gives (server %, client %) of one core since then."""
    wall0, server0, client0 = time.perf_counter(), server.cpu(), time.process_time()

    def stop() -> tuple[float, float]:
        wall = time.perf_counter() - wall0
        return (
            100 * (server.cpu() - server0) / wall,
            100 * (time.process_time() - client0) / wall,
        )

    return stop


def open_loop(
    server: ServerProcess, kind: str, *, rate: float, seconds: float, workers: int
) -> OpenResult:
    total = round(rate * seconds)
    body, expected = command_body(TEXT), EXPECTED[kind]
    latencies: list[float] = [0.0] * total
    lags: list[float] = [0.0] * total
    oks: list[bool] = [False] * total
    sent_at: list[float] = [0.0] * total
    counter = itertools.count()  # next() on it is atomic under the GIL
    meter = _cpu_meter(server)
    start = time.perf_counter() + 0.1

    def worker() -> None:
        client = Client(server.port)
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
    server_cpu, client_cpu = meter()
    span = max(sent_at) - start
    return OpenResult(
        offered=rate,
        sent=total,
        achieved=(total - 1) / span if span > 0 else float("nan"),
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        max=max(latencies) * 1000,
        errors=oks.count(False),
        lag_p99=percentile(lags, 99),
        server_cpu=server_cpu,
        client_cpu=client_cpu,
    )


def closed_loop(server: ServerProcess, kind: str, *, clients: int, seconds: float) -> ClosedResult:
    body, expected = command_body(TEXT), EXPECTED[kind]
    per_client: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    finished = [0.0] * clients
    ready = threading.Barrier(clients + 1)
    times: dict[str, float] = {}

    def worker(slot: int) -> None:
        client = Client(server.port)
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
    server_cpu, client_cpu = meter()
    latencies = [value for own in per_client for value in own]
    elapsed = max(finished) - start
    return ClosedResult(
        clients=clients,
        completed=len(latencies),
        throughput=len(latencies) / elapsed,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        errors=sum(errors),
        server_cpu=server_cpu,
        client_cpu=client_cpu,
    )


def warm_up(server: ServerProcess, kind: str) -> None:
    """Imports, Bolt's lazy auth.test, waitress's threads: paid here, not in the measurement."""
    closed_loop(server, kind, clients=4, seconds=1.0)


# ---------------------------------------------------------------- report


def _row(label: str, real: str, bare: str) -> str:
    return f"  {label:<28}{real:>12}{bare:>12}"


def report(
    args: argparse.Namespace,
    opened: dict[str, OpenResult],
    closed: dict[str, ClosedResult],
) -> str:
    real_o, bare_o, real_c, bare_c = opened["real"], opened["bare"], closed["real"], closed["bare"]
    lines = [
        f"psoas-bot benchmark: signed `/psoas {TEXT}` over HTTP, WebApp + waitress "
        f"({SERVER_THREADS} threads), server in its own process, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}",
        "",
        f"Open loop: {args.rate:g}/s offered for {args.seconds:g} s "
        f"(latency from the scheduled send time)",
        _row("", "real app", "bare app"),
    ]

    def both(label: str, get: Callable[[Any], float], fmt: str) -> None:
        lines.append(_row(label, format(get(real_o), fmt), format(get(bare_o), fmt)))

    both("requests sent", lambda r: r.sent, "d")
    both("achieved rate (req/s)", lambda r: r.achieved, ".1f")
    both("p50 (ms)", lambda r: r.p50, ".2f")
    both("p99 (ms)", lambda r: r.p99, ".2f")
    both("max (ms)", lambda r: r.max, ".2f")
    both("errors", lambda r: r.errors, "d")
    both("generator send lag p99 (ms)", lambda r: r.lag_p99, ".2f")
    both("server CPU (% of a core)", lambda r: r.server_cpu, ".0f")
    both("client CPU (% of a core)", lambda r: r.client_cpu, ".0f")

    lines += [
        "",
        f"Closed loop: {args.clients} clients, keep-alive, back to back for "
        f"{args.closed_seconds:g} s",
        _row("", "real app", "bare app"),
    ]

    def both_c(label: str, get: Callable[[Any], float], fmt: str) -> None:
        lines.append(_row(label, format(get(real_c), fmt), format(get(bare_c), fmt)))

    both_c("requests completed", lambda r: r.completed, "d")
    both_c("throughput (req/s)", lambda r: r.throughput, ".1f")
    both_c("p50 (ms)", lambda r: r.p50, ".2f")
    both_c("p99 (ms)", lambda r: r.p99, ".2f")
    both_c("errors", lambda r: r.errors, "d")
    both_c("server CPU (% of a core)", lambda r: r.server_cpu, ".0f")
    both_c("client CPU (% of a core)", lambda r: r.client_cpu, ".0f")

    ratio = real_c.throughput / bare_c.throughput if bare_c.throughput else float("nan")
    p99_met = real_o.p99 <= P99_TARGET_MS and real_o.errors == 0
    ratio_met = ratio >= RATIO_TARGET
    lines += [
        "",
        f"  throughput real/bare: {ratio:.2f}",
        "",
        "Targets (real app)",
        f"  p99 <= {P99_TARGET_MS:g} ms at {args.rate:g}/s, no errors: "
        f"{real_o.p99:.2f} ms, {real_o.errors} errors -> {'MET' if p99_met else 'MISSED'}",
        f"  throughput >= {RATIO_TARGET:.0%} of bare: {ratio:.0%} -> "
        f"{'MET' if ratio_met else 'MISSED'}",
    ]
    for kind, result in opened.items():
        if result.achieved < 0.95 * result.offered or result.lag_p99 > 5.0:
            lines.append(
                f"  NOTE: the load generator fell behind the schedule for the {kind} app "
                f"(achieved {result.achieved:.1f}/s, send lag p99 {result.lag_p99:.1f} ms); "
                "its latencies include that lag."
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop offered req/s")
    parser.add_argument("--clients", type=int, default=32, help="closed-loop clients")
    parser.add_argument("--closed-seconds", type=float, default=5.0, help="closed-loop duration")
    parser.add_argument(
        "--open-workers", type=int, default=32, help="sender threads for the open loop"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the real app's server"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    opened: dict[str, OpenResult] = {}
    closed: dict[str, ClosedResult] = {}
    profile_text = ""
    for kind in KINDS:
        print(f"[{kind}] starting server process ...", file=sys.stderr, flush=True)
        with ServerProcess(kind, profile=args.profile and kind == "real") as server:
            warm_up(server, kind)
            print(f"[{kind}] open loop ...", file=sys.stderr, flush=True)
            opened[kind] = open_loop(
                server, kind, rate=args.rate, seconds=args.seconds, workers=args.open_workers
            )
            print(f"[{kind}] closed loop ...", file=sys.stderr, flush=True)
            closed[kind] = closed_loop(
                server, kind, clients=args.clients, seconds=args.closed_seconds
            )
        if kind == "real":
            profile_text = server.profile_text
    print(report(args, opened, closed))
    if profile_text:
        print("\ncProfile of the real app's server threads (warm-up, open and closed loop)")
        print(profile_text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
