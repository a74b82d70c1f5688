"""Benchmark: the dispatch of one nudge tick, `--workspaces` x `--per-workspace` due people, through
`bot.sender.Sender` against a stand-in Slack Web API that answers every call after
`--latency-ms` and returns 429 past `--limit` messages per second per workspace.

    python -m tests.bench.bench_dispatch [--workspaces 20] [--per-workspace 500]
        [--latency-ms 100] [--limit 20] [--window sliding|bucket] [--rate 20] [--burst 1]
        [--workers 4] [--no-memory-pass]

The stand-in (tests/support/standin.py with a `responder`; a subclass that does not keep the
10,000 calls, see `QuietStandIn`) runs in its own process (spawn), so it shares neither the GIL
nor the memory figures of the sender, and listens with a backlog of 1024. Each workspace has its
own bot token (`xoxb-bench-<n>`); the stand-in limits chat.postMessage per token:

* `sliding` (default): at most `--limit` accepted in any 1-second span, counted when a request
  arrives; the strictest reading of "N per second";
* `bucket`: a token bucket of `--limit` per second holding at most `--limit`.

Past the limit it answers 429, `Retry-After: 1`, `{"ok": false, "error": "ratelimited"}`.
Rejected requests do not count against the limit. Every answer, 429 included, comes after the
latency. The stand-in counts accepted messages per (token, channel) to check exactly-once.

The nudge is rendered once with `bot.blocks.build_nudge` and the same text and blocks are shared
by every `Outgoing` (as a tick does for people in the same slot), so the input stays small.
Ideal time: `--per-workspace / --limit` (25 s); target: total time at most 1.15 x ideal, every
message delivered exactly once.

Two passes, each against a fresh stand-in: the timed one, tracemalloc off (tracing every
allocation delays the sender's threads by tens of ms, which alone causes 429s); then one under
tracemalloc for the sending process's peak (`--no-memory-pass` skips it). ru_maxrss is read
after each. Always exits 0: it is a measurement.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import threading
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from bot.core.content import load_library
from bot.engine.sender import Outcome, Outgoing, Sender
from bot.render.nudge import build_nudge
from tests.support.standin import Call, SlackStandIn, rate_limited

RATIO_TARGET = 1.15
LISTEN_BACKLOG = 1024
START_TIMEOUT_S = 60.0
SLOT = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)


def token_of(team_index: int) -> str:
    return f"xoxb-bench-{team_index}"


def team_of(team_index: int) -> str:
    return f"T{team_index:02d}"


class GcPauses:
    """The longest garbage collection, and their total, in this process while installed."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.total = 0.0
        self.count = 0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        took = time.perf_counter() - self._began
        self.longest = max(self.longest, took)
        self.total += took
        self.count += 1

    def install(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def remove(self) -> None:
        gc.callbacks.remove(self)


# ---------------------------------------------------------------- stand-in process


class Admission:
    """Per-token limit for chat.postMessage, and the record of what was accepted."""

    def __init__(self, limit: int, window: str) -> None:
        self.limit = limit
        self.window = window
        self.lock = threading.Lock()
        self.recent: dict[str, deque[float]] = {}  # sliding: accept times in the last second
        self.buckets: dict[str, tuple[float, float]] = {}  # bucket: (tokens, last refill)
        self.accepted: Counter[tuple[str, str]] = Counter()
        # Every chat.postMessage: (token, channel, arrival on the monotonic clock, accepted).
        self.requests: list[tuple[str, str, float, bool]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.sequence = 0

    def _admit(self, token: str, now: float) -> bool:
        if self.window == "sliding":
            recent = self.recent.setdefault(token, deque())
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= self.limit:
                return False
            recent.append(now)
            return True
        tokens, last = self.buckets.get(token, (float(self.limit), now))
        tokens = min(float(self.limit), tokens + (now - last) * self.limit)
        if tokens < 1.0:
            self.buckets[token] = (tokens, now)
            return False
        self.buckets[token] = (tokens - 1.0, now)
        return True

    def admit(self, token: str, channel: str) -> tuple[bool, int]:
        now = time.monotonic()
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            ok = self._admit(token, now)
            self.requests.append((token, channel, now, ok))
            if ok:
                self.accepted[(token, channel)] += 1
                self.sequence += 1
            return ok, self.sequence

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


class QuietStandIn(SlackStandIn):
    """SlackStandIn that does not keep chat.postMessage calls (`Admission` logs them compactly).

    10,000 recorded calls with their blocks are about a million objects; each full garbage
    collection over them stalled every handler thread by 60-80 ms, enough to squeeze 21 arrivals
    into one second: the stand-in would be causing the 429s it reports.
    """

    def answer(self, call: Call) -> tuple[int, dict[str, Any], dict[str, str]]:
        if call.method == "chat.postMessage" and self.responder is not None:
            custom = self.responder(call)
            if custom is not None:
                return custom
        return super().answer(call)


def serve_standin(conn: Connection, latency_s: float, limit: int, window: str) -> None:
    """Stand-in process: SlackStandIn with a limiting responder, driven over a pipe."""
    gc_pauses = GcPauses().install()
    admission = Admission(limit, window)

    def responder(call: Call) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if call.method != "chat.postMessage":
            return None
        channel = str(call.args.get("channel"))
        ok, sequence = admission.admit(str(call.token), channel)
        try:
            time.sleep(latency_s)
        finally:
            admission.leave()
        if not ok:
            return rate_limited(1)
        return 200, {"ok": True, "channel": channel, "ts": f"1700000000.{sequence:06d}"}, {}

    standin = QuietStandIn(responder=responder).start()
    assert standin.server is not None
    # ThreadingHTTPServer listens with a backlog of 5; at hundreds of new connections a second
    # (urllib opens one per request) the overflow costs a 1 s SYN retransmit. Linux lets a
    # listening socket raise its backlog by calling listen() again.
    standin.server.socket.listen(LISTEN_BACKLOG)
    conn.send(("url", standin.api_url))
    while True:
        message = conn.recv()
        if message == "stop":
            with admission.lock:
                report = {
                    "accepted": dict(admission.accepted),
                    "requests": admission.requests,
                    "max_in_flight": admission.max_in_flight,
                    "posts": len(admission.requests),
                    "cpu": time.process_time(),
                    "gc_longest": gc_pauses.longest,
                    "gc_count": gc_pauses.count,
                    "gc_total": gc_pauses.total,
                    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                }
            conn.send(("report", report))
            break
    standin.stop()
    conn.close()
    sys.stdout.flush()
    os._exit(0)  # handler threads are daemons; nothing left to tidy


class StandInProcess:
    def __init__(self, *, latency_s: float, limit: int, window: str) -> None:
        context = get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=serve_standin,
            args=(child, latency_s, limit, window),
            name="bench-standin",
            daemon=True,
        )
        self._child = child
        self.api_url = ""

    def _ask(self, message: str, expect: str) -> Any:
        if message:
            self.conn.send(message)
        if not self.conn.poll(START_TIMEOUT_S):
            raise RuntimeError(f"stand-in process did not answer {message or 'start'!r}")
        tag, value = self.conn.recv()
        if tag != expect:
            raise RuntimeError(f"stand-in process sent {tag!r}, expected {expect!r}")
        return value

    def report(self) -> dict[str, Any]:
        return dict(self._ask("stop", "report"))

    def __enter__(self) -> StandInProcess:
        self.process.start()
        self._child.close()
        self.api_url = str(self._ask("", "url"))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


# ---------------------------------------------------------------- sending process


def build_items(workspaces: int, per_workspace: int) -> list[Outgoing]:
    """Every item shares one rendered nudge: the text and the same blocks list."""
    message, _slug = build_nudge(load_library(), SLOT)
    return [
        Outgoing(
            key=team * per_workspace + person + 1,
            team_id=team_of(team),
            user_id=f"U{team * per_workspace + person:04d}",
            text=message.text,
            blocks=message.blocks,
        )
        for team in range(workspaces)
        for person in range(per_workspace)
    ]


def warm_up(api_url: str, workspaces: int) -> None:
    """Imports and the first connection, paid before the clock starts (auth.test is not limited)."""
    from slack_sdk import WebClient

    for team in range(workspaces):
        WebClient(token=token_of(team), base_url=api_url).auth_test()


@dataclass
class Checks:
    missing: list[tuple[str, str]] = field(default_factory=list)
    duplicated: list[tuple[tuple[str, str], int]] = field(default_factory=list)
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    not_sent: Counter[str] = field(default_factory=Counter)
    outcome_keys_ok: bool = True

    @property
    def exactly_once(self) -> bool:
        return not (
            self.missing
            or self.duplicated
            or self.unexpected
            or self.not_sent
            or not self.outcome_keys_ok
        )


@dataclass
class Run:
    traced: bool  # tracemalloc on: memory figures, but every allocation is slower
    seconds: float
    outcomes: list[Outcome]
    recorded: Counter[str]
    finished_at: dict[str, float]  # team -> seconds from the start to its last outcome
    rate_limit_waits: int
    retries: int
    input_bytes: int  # tracemalloc: the items, once built (0 untraced)
    peak_bytes: int  # tracemalloc: peak while building and sending (0 untraced)
    maxrss_kib: int
    cpu_seconds: float
    gc_longest: float
    gc_count: int
    gc_total: float
    started_mono: float
    standin: dict[str, Any] = field(default_factory=dict)
    checks: Checks = field(default_factory=Checks)


def dispatch(args: argparse.Namespace, api_url: str, *, trace: bool) -> Run:
    tokens = {team_of(n): token_of(n) for n in range(args.workspaces)}
    if trace:
        tracemalloc.start()
    items = build_items(args.workspaces, args.per_workspace)
    input_bytes = tracemalloc.get_traced_memory()[0] if trace else 0
    sender = Sender(
        api_url=api_url,
        token_for=tokens.get,
        rate_per_second=args.rate if args.rate else float(args.limit),
        burst=args.burst,
        workers_per_workspace=args.workers,
    )
    recorded: Counter[str] = Counter()
    finished_at: dict[str, float] = {}
    lock = threading.Lock()
    gc_pauses = GcPauses().install()
    cpu0 = time.process_time()
    started_mono = time.monotonic()
    start = time.perf_counter()

    def on_outcome(outcome: Outcome) -> None:
        elapsed = time.perf_counter() - start
        key = outcome.kind if outcome.kind == "sent" else f"{outcome.kind}:{outcome.error}"
        with lock:
            recorded[key] += 1
            finished_at[outcome.team_id] = elapsed

    outcomes = sender.send_all(items, on_outcome=on_outcome)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu0
    gc_pauses.remove()
    peak_bytes = 0
    if trace:
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Run(
        traced=trace,
        seconds=seconds,
        outcomes=outcomes,
        recorded=recorded,
        finished_at=finished_at,
        rate_limit_waits=sender.stats.rate_limit_waits,
        retries=sender.stats.retries,
        input_bytes=input_bytes,
        peak_bytes=peak_bytes,
        maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        cpu_seconds=cpu_seconds,
        gc_longest=gc_pauses.longest,
        gc_count=gc_pauses.count,
        gc_total=gc_pauses.total,
        started_mono=started_mono,
    )


def check(args: argparse.Namespace, run: Run, accepted: dict[tuple[str, str], int]) -> Checks:
    checks = Checks()
    expected = {
        (token_of(team), f"U{team * args.per_workspace + person:04d}")
        for team in range(args.workspaces)
        for person in range(args.per_workspace)
    }
    for pair in sorted(expected):
        count = accepted.get(pair, 0)
        if count == 0:
            checks.missing.append(pair)
        elif count > 1:
            checks.duplicated.append((pair, count))
    checks.unexpected = sorted(set(accepted) - expected)
    for outcome in run.outcomes:
        if outcome.kind != "sent":
            checks.not_sent[f"{outcome.kind}:{outcome.error}"] += 1
    keys = [outcome.key for outcome in run.outcomes]
    total = args.workspaces * args.per_workspace
    checks.outcome_keys_ok = len(keys) == total and set(keys) == set(range(1, total + 1))
    return checks


def one_pass(args: argparse.Namespace, *, trace: bool) -> Run:
    """A fresh stand-in process, a warm-up, the dispatch, and the checks."""
    with StandInProcess(
        latency_s=args.latency_ms / 1000, limit=args.limit, window=args.window
    ) as standin:
        warm_up(standin.api_url, args.workspaces)
        run = dispatch(args, standin.api_url, trace=trace)
        run.standin = standin.report()
    run.checks = check(args, run, run.standin["accepted"])
    return run


def max_in_window(times: Sequence[float], span: float = 1.0) -> int:
    """The most accept times within any half-open `span` (the stand-in's own rule)."""
    best, low = 0, 0
    for high, now in enumerate(times):
        while times[low] <= now - span:
            low += 1
        best = max(best, high - low + 1)
    return best


# ---------------------------------------------------------------- report


@dataclass
class Seen:
    """What the stand-in saw, per workspace."""

    accept_times: dict[str, list[float]]
    rejected: Counter[str]
    first_429: float | None  # seconds after the start

    @classmethod
    def of(cls, run: Run) -> Seen:
        accept_times: dict[str, list[float]] = {}
        rejected: Counter[str] = Counter()
        first: float | None = None
        for token, _channel, arrival, ok in run.standin["requests"]:
            if ok:
                accept_times.setdefault(token, []).append(arrival)
            else:
                rejected[token] += 1
                first = arrival if first is None else min(first, arrival)
        return cls(accept_times, rejected, None if first is None else first - run.started_mono)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def exactly_once_lines(args: argparse.Namespace, checks: Checks) -> list[str]:
    total = args.workspaces * args.per_workspace
    once = total - len(checks.missing) - len(checks.duplicated)
    lines = [
        f"  (token, channel) accepted once: {once}/{total}; missing {len(checks.missing)}, "
        f"duplicated {len(checks.duplicated)}, unexpected {len(checks.unexpected)}",
        f"  outcomes other than sent: {dict(checks.not_sent) or 0}; "
        f"one outcome per item: {'yes' if checks.outcome_keys_ok else 'NO'}",
    ]
    lines += [f"  duplicated: {pair} x{count}" for pair, count in checks.duplicated[:5]]
    lines += [f"  missing: {pair}" for pair in checks.missing[:5]]
    return lines


def report(args: argparse.Namespace, run: Run, memory: Run | None) -> str:
    total = args.workspaces * args.per_workspace
    ideal = args.per_workspace / args.limit
    ratio = run.seconds / ideal
    seen = Seen.of(run)
    spans = [times[-1] - times[0] for times in seen.accept_times.values() if times]
    window_max = max((max_in_window(times) for times in seen.accept_times.values()), default=0)
    finish = sorted(run.finished_at.values())
    rate = args.rate if args.rate else float(args.limit)
    standin = run.standin
    lines = [
        f"psoas-bot benchmark: dispatch of {args.workspaces} workspaces x {args.per_workspace} "
        f"due people = {total} DMs, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        f"  stand-in: {args.latency_ms:g} ms latency, 429 (Retry-After: 1) past {args.limit}/s "
        f"per workspace ({args.window} window), own process",
        f"  Sender: rate_per_second={rate:g}, burst={args.burst}, "
        f"workers_per_workspace={args.workers}; one nudge rendered, shared by every item",
        "",
        "Time (tracemalloc off)",
        f"  total                        {run.seconds:9.2f} s",
        f"  ideal ({args.per_workspace} / {args.limit}/s)            {ideal:9.2f} s",
        f"  ratio                        {ratio:9.3f}",
        f"  workspaces done, first/last  {finish[0]:9.2f} s / {finish[-1]:.2f} s"
        if finish
        else "  workspaces done              none",
        f"  first to last accept, per workspace: min {min(spans, default=0):.2f} s, "
        f"max {max(spans, default=0):.2f} s",
        "",
        "Slack stand-in",
        f"  chat.postMessage calls       {standin['posts']:9d}",
        f"  accepted                     {sum(standin['accepted'].values()):9d}",
        f"  429 returned                 {seen.rejected_total:9d}"
        + (
            f"  (in {len(seen.rejected)} workspaces, at most {max(seen.rejected.values())} in "
            f"one; first at {seen.first_429:.2f} s)"
            if seen.rejected and seen.first_429 is not None
            else ""
        ),
        f"  most accepted in 1 s, one workspace {window_max:4d}",
        f"  most requests in flight      {standin['max_in_flight']:9d}",
        f"  CPU                          {standin['cpu']:9.2f} s",
        f"  GC                           {standin['gc_count']:9d} collections, longest "
        f"{standin['gc_longest'] * 1000:.1f} ms, total {standin['gc_total'] * 1000:.0f} ms",
        "",
        "Sender",
        f"  outcomes                     {dict(run.recorded)}",
        f"  rate_limit_waits             {run.rate_limit_waits:9d}",
        f"  retries                      {run.retries:9d}",
        f"  CPU                          {run.cpu_seconds:9.2f} s "
        f"({100 * run.cpu_seconds / run.seconds:.0f}% of a core)",
        f"  GC                           {run.gc_count:9d} collections, longest "
        f"{run.gc_longest * 1000:.1f} ms, total {run.gc_total * 1000:.0f} ms",
        "",
        "Exactly once",
        *exactly_once_lines(args, run.checks),
        "",
        "Memory (sending process)",
        f"  ru_maxrss after the timed pass {run.maxrss_kib / 1024:7.2f} MiB "
        f"(stand-in process: {standin['maxrss_kib'] / 1024:.2f} MiB)",
    ]
    if memory is not None:
        memory_seen = Seen.of(memory)
        lines += [
            "  second pass, tracemalloc on (slows every allocation: its time is not the result)",
            f"    tracemalloc, items built   {memory.input_bytes / 2**20:9.2f} MiB",
            f"    tracemalloc peak           {memory.peak_bytes / 2**20:9.2f} MiB",
            f"    ru_maxrss after it         {memory.maxrss_kib / 1024:9.2f} MiB",
            f"    took {memory.seconds:.2f} s (ratio {memory.seconds / ideal:.3f}), "
            f"{memory_seen.rejected_total} 429s, exactly once "
            f"{'yes' if memory.checks.exactly_once else 'NO'}",
        ]
    met = ratio <= RATIO_TARGET and run.checks.exactly_once
    lines += [
        "",
        "Target",
        f"  every message exactly once, total <= {RATIO_TARGET:g} x ideal "
        f"({RATIO_TARGET * ideal:.2f} s): {run.seconds:.2f} s, ratio {ratio:.3f}, "
        f"exactly once {'yes' if run.checks.exactly_once else 'NO'} -> "
        f"{'MET' if met else 'MISSED'}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--per-workspace", type=int, default=500, help="due people per workspace")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="stand-in answer delay")
    parser.add_argument("--limit", type=int, default=20, help="stand-in messages/s per workspace")
    parser.add_argument("--window", choices=("sliding", "bucket"), default="sliding")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="Sender rate_per_second (default: --limit)"
    )
    parser.add_argument("--burst", type=int, default=1, help="Sender burst")
    parser.add_argument("--workers", type=int, default=4, help="Sender workers_per_workspace")
    parser.add_argument(
        "--no-memory-pass", action="store_true", help="skip the second pass under tracemalloc"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print("timed pass (tracemalloc off) ...", file=sys.stderr, flush=True)
    run = one_pass(args, trace=False)
    memory = None
    if not args.no_memory_pass:
        print("memory pass (tracemalloc on) ...", file=sys.stderr, flush=True)
        memory = one_pass(args, trace=True)
    print(report(args, run, memory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
