"""Benchmark: the dispatch of one nudge tick, `--workspaces` x `--per-workspace` due people, through
`bot.engine.sender.Sender` against a stand-in Slack Web API that answers every call after
`--latency-ms` and returns 429 past `--limit` messages per second per workspace.

    python -m tests.bench.bench_dispatch [--workspaces 20] [--per-workspace 500]
        [--latency-ms 100] [--limit 20] [--window sliding|bucket] [--rate 20] [--burst 20]
        [--workers 4] [--threads 256] [--no-memory-pass] [--real-pass] [--database-url URL]
        [--check] [--quick]

By default it calls the sender directly, so it leaves out what a real `psoas-bot tick` does
around it, and says so in its output: no claim (no `claim_due`, no nudge log rows), no database
writes (no outcome recorded, no heartbeat), a stub for `still_mine` that always answers yes (a
tick confirms its claims in the database, a chunk of a lane at a time), and tokens from a dict.

`--real-pass` goes through the real pass instead: `run_tick` on a database (`--database-url`, by
default a SQLite file in a scratch directory) where every person is due, so the timed figures
include the claim in rounds, the rendering, the claim confirmations, the batched outcome
records and the heartbeat; the CPU line is then CPU seconds / DMs over the whole pass. It still
leaves out the process start-up and the team breaks and summaries (none are due); the whole
`psoas-bot tick` process is bench_tick's.

The stand-in (tests/support/standin.py with a `responder`, see `harness.QuietStandIn`) runs in
its own process (spawn), so it shares neither the GIL nor the memory figures of the sender, and
listens with a backlog of 1024. Each workspace has its own bot token (`xoxb-bench-<n>`); the
stand-in limits chat.postMessage per token:

* `sliding` (default): at most `--limit` accepted in any 1-second span, counted when a request
  arrives; the strictest reading of "N per second";
* `bucket`: a token bucket of `--limit` per second holding at most `--limit`.

Past the limit it answers 429, `Retry-After: 1`, `{"ok": false, "error": "ratelimited"}`.
Rejected requests do not count against the limit. Every answer, 429 included, comes after the
latency. The stand-in counts accepted messages per (token, channel) to check exactly-once.

Ideal time: `--per-workspace / --limit` (25 s). Targets: total time at most 1.15 x ideal; every
message delivered exactly once; no 429 beyond what Retry-After handles, that is none that left a
message undelivered and none answering a request that arrived while an earlier 429's Retry-After
was in force for that workspace (the sender did not wait as told). `--check` exits 1 when one is
missed; otherwise it always exits 0. `--quick`: 5 workspaces x 60 people (3 s ideal).

Two passes, each against a fresh stand-in: the timed one, tracemalloc off (tracing every
allocation delays the sender's threads by tens of ms, which alone causes 429s); then one under
tracemalloc for the sending process's peak (`--no-memory-pass` skips it). ru_maxrss is read
after each.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as time_of_day
from typing import Any

from bot.core.content import load_library
from bot.data.database import Database
from bot.engine.sender import Outcome, Outgoing, Sender
from bot.engine.tick import run_tick
from bot.render.nudge import build_nudge
from tests.bench.harness import (
    GcPauses,
    LoadAverage,
    MemoryTrace,
    Option,
    StandInProcess,
    Target,
    finish,
    fresh_database,
    maxrss_kib,
    parse_options,
    progress,
    scratch_directory,
    shown_url,
    sqlite_url,
    title,
)
from tests.support.standin import Call, Responder, rate_limited

RATIO_TARGET = 1.15  # total time against the ideal
EXACTLY_ONCE_TARGET = 0  # messages not delivered exactly once
UNHANDLED_429_TARGET = 0  # 429s beyond what Retry-After handles

RETRY_AFTER_S = 1
SLOT = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)
OPTIONS = (
    Option("--workspaces", 20, "workspaces, each with its own token and lane", quick=5),
    Option("--per-workspace", 500, "due people per workspace", quick=60),
    Option("--latency-ms", 100.0, "stand-in answer delay"),
    Option("--limit", 20, "stand-in messages/s per workspace"),
    Option("--window", "sliding", "stand-in limit", choices=("sliding", "bucket")),
    Option("--rate", 0.0, "Sender rate_per_second (0: --limit)", zero_ok=True),
    Option("--burst", 0, "Sender burst (0: the Sender's own, a second's worth)", zero_ok=True),
    Option("--workers", 4, "Sender workers_per_workspace"),
    Option("--threads", 256, "Sender max_threads"),
    Option("--no-memory-pass", False, "skip the second pass under tracemalloc"),
    Option("--real-pass", False, "go through run_tick on a database, not Sender.send_all"),
    Option("--database-url", "", "for --real-pass (default: SQLite in a scratch directory)"),
)
OMITTED = (
    "Leaves out, against a real `psoas-bot tick`: the claim (no claim_due, no nudge log rows), "
    "database writes (no outcome recorded, no heartbeat), the claim confirmations (a stub "
    "that always says yes), the token lookup (a dict). --real-pass includes them."
)
REAL_PASS = (
    "Through run_tick on {database}: claim in rounds, render, confirm, send, record, "
    "heartbeat. Leaves out the process start-up (bench_tick measures the whole process)."
)
# Every person is due at this instant: a Wednesday inside 09:00-17:00 UTC.
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def token_of(team_index: int) -> str:
    return f"xoxb-bench-{team_index}"


def team_of(team_index: int) -> str:
    return f"T{team_index:02d}"


def user_of(args: argparse.Namespace, team: int, person: int) -> str:
    return f"U{team * args.per_workspace + person:04d}"


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
        # Every 429: (token, when its answer left, on the monotonic clock).
        self.answered_429: list[tuple[str, float]] = []
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

    def leave(self, token: str, ok: bool) -> None:
        with self.lock:
            self.in_flight -= 1
            if not ok:
                self.answered_429.append((token, time.monotonic()))

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {
                "accepted": dict(self.accepted),
                "requests": self.requests,
                "answered_429": self.answered_429,
                "max_in_flight": self.max_in_flight,
                "posts": len(self.requests),
            }


def limiting_responder(
    latency_s: float, limit: int, window: str
) -> tuple[Responder, Callable[[], object]]:
    """For `StandInProcess`: chat.postMessage answered after the latency, 429 past the limit."""
    admission = Admission(limit, window)

    def responder(call: Call) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if call.method != "chat.postMessage":
            return None
        channel, token = str(call.args.get("channel")), str(call.token)
        ok, sequence = admission.admit(token, channel)
        try:
            time.sleep(latency_s)
        finally:
            admission.leave(token, ok)
        if not ok:
            return rate_limited(RETRY_AFTER_S)
        return 200, {"ok": True, "channel": channel, "ts": f"1700000000.{sequence:06d}"}, {}

    return responder, admission.report


# ---------------------------------------------------------------- sending process


def build_items(args: argparse.Namespace) -> list[Outgoing]:
    """Every item shares one rendered nudge: the text and the same blocks list."""
    message = build_nudge(load_library(), SLOT)
    return [
        Outgoing(
            key=team * args.per_workspace + person + 1,
            team_id=team_of(team),
            user_id=user_of(args, team, person),
            text=message.text,
            blocks=message.blocks,
        )
        for team in range(args.workspaces)
        for person in range(args.per_workspace)
    ]


def warm_up(api_url: str, workspaces: int) -> None:
    """Imports and the first connection, paid before the clock starts (auth.test is not limited)."""
    from slack_sdk import WebClient

    for team in range(workspaces):
        WebClient(token=token_of(team), base_url=api_url).auth_test()


def still_mine_stub(_item: Outgoing) -> bool:
    """A tick asks the database whether the claim is still this process's; here it always is."""
    return True


@dataclass
class Checks:
    missing: list[tuple[str, str]] = field(default_factory=list)
    duplicated: list[tuple[tuple[str, str], int]] = field(default_factory=list)
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    not_sent: Counter[str] = field(default_factory=Counter)
    outcome_keys_ok: bool = True
    # Users whose message was not accepted once, or whose item did not end in one "sent".
    faulty: set[str] = field(default_factory=set)

    @property
    def exactly_once(self) -> bool:
        return not self.faulty


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
    gc: GcPauses
    started_mono: float
    standin: dict[str, Any] = field(default_factory=dict)
    checks: Checks = field(default_factory=Checks)


def seed(args: argparse.Namespace, url: str) -> None:
    """A fresh database where every person of every workspace is due at `NOW`."""
    from sqlalchemy import insert

    from bot.data.models import Person, Workspace

    fresh_database(url)
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            connection.execute(
                insert(Workspace), [{"team_id": team_of(t)} for t in range(args.workspaces)]
            )
            connection.execute(
                insert(Person),
                [
                    {
                        "team_id": team_of(team),
                        "user_id": user_of(args, team, person),
                        "opted_in": True,
                        "tz": "UTC",
                        "work_start": time_of_day(9),
                        "work_end": time_of_day(17),
                        "next_slot_at": NOW,
                        "next_nudge_at": NOW,
                    }
                    for team in range(args.workspaces)
                    for person in range(args.per_workspace)
                ],
            )
    finally:
        db.dispose()


def dispatch(args: argparse.Namespace, api_url: str, *, trace: bool) -> Run:
    tokens = {team_of(n): token_of(n) for n in range(args.workspaces)}
    db = Database(args.url) if args.real_pass else None
    with MemoryTrace(trace) as memory:
        items = [] if args.real_pass else build_items(args)
        input_bytes = memory.mark()
        sender = Sender(
            api_url=api_url,
            token_for=tokens.get,
            rate_per_second=args.rate if args.rate else float(args.limit),
            burst=args.burst or None,
            workers_per_workspace=args.workers,
            max_threads=args.threads,
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

        if db is not None:
            outcomes: list[Outcome] = []
            record = on_outcome

            def on_outcome(outcome: Outcome) -> None:
                record(outcome)
                outcomes.append(outcome)  # list.append is atomic

            run_tick(db, sender, load_library(), now=NOW, worker="bench", on_outcome=on_outcome)
        else:
            outcomes = sender.send_all(items, on_outcome=on_outcome, still_mine=still_mine_stub)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu0
        gc_pauses.remove()
    if db is not None:
        db.dispose()
    return Run(
        traced=trace,
        seconds=seconds,
        outcomes=outcomes,
        recorded=recorded,
        finished_at=finished_at,
        rate_limit_waits=sender.stats.rate_limit_waits,
        retries=sender.stats.retries,
        input_bytes=input_bytes,
        peak_bytes=memory.peak,
        maxrss_kib=maxrss_kib(),
        cpu_seconds=cpu_seconds,
        gc=gc_pauses,
        started_mono=started_mono,
    )


def check(args: argparse.Namespace, run: Run, accepted: dict[tuple[str, str], int]) -> Checks:
    checks = Checks()
    expected = {
        (token_of(team), user_of(args, team, person))
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
    sent: Counter[str] = Counter()
    for outcome in run.outcomes:
        if outcome.kind == "sent":
            sent[outcome.user_id] += 1
        else:
            checks.not_sent[f"{outcome.kind}:{outcome.error}"] += 1
    keys = [outcome.key for outcome in run.outcomes]
    total = args.workspaces * args.per_workspace
    # A real pass's keys are its nudge log rows: one outcome for each, whatever their ids.
    expected_keys = set(keys) if args.real_pass else set(range(1, total + 1))
    checks.outcome_keys_ok = len(keys) == total == len(set(keys)) and set(keys) == expected_keys
    checks.faulty = {channel for _token, channel in checks.missing + checks.unexpected}
    checks.faulty |= {channel for (_token, channel), _count in checks.duplicated}
    checks.faulty |= {user for _token, user in expected if sent[user] != 1}
    checks.faulty |= set(sent) - {user for _token, user in expected}
    return checks


def one_pass(args: argparse.Namespace, *, trace: bool) -> Run:
    """A fresh stand-in process, a warm-up, the dispatch, and the checks."""
    with StandInProcess(
        limiting_responder,
        args.latency_ms / 1000,
        args.limit,
        args.window,
        name="bench-standin",
    ) as standin:
        if args.real_pass:
            seed(args, args.url)
        warm_up(standin.api_url, args.workspaces)
        run = dispatch(args, standin.api_url, trace=trace)
        run.standin = standin.stop()
    run.checks = check(args, run, run.standin["report"]["accepted"])
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
    # Requests that arrived while an earlier 429's Retry-After was in force for their token.
    inside_retry_after: int
    inside_retry_after_429: int

    @classmethod
    def of(cls, run: Run) -> Seen:
        seen = run.standin["report"]
        pauses: dict[str, list[float]] = {}  # token -> when each 429's answer left
        for token, answered in seen["answered_429"]:
            pauses.setdefault(token, []).append(answered)
        accept_times: dict[str, list[float]] = {}
        rejected: Counter[str] = Counter()
        first: float | None = None
        inside = inside_429 = 0
        for token, _channel, arrival, ok in seen["requests"]:
            if ok:
                accept_times.setdefault(token, []).append(arrival)
            else:
                rejected[token] += 1
                first = arrival if first is None else min(first, arrival)
            told = pauses.get(token, ())
            if any(answered < arrival < answered + RETRY_AFTER_S for answered in told):
                inside += 1
                inside_429 += not ok
        return cls(
            accept_times,
            rejected,
            None if first is None else first - run.started_mono,
            inside,
            inside_429,
        )

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def unrecovered_429s(run: Run) -> int:
    """Messages that ended as rate limited: their 429s were not handled by waiting."""
    return sum(count for key, count in run.checks.not_sent.items() if "ratelimited" in key)


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


def report(args: argparse.Namespace, run: Run, memory: Run | None, load: LoadAverage) -> str:
    total = args.workspaces * args.per_workspace
    ideal = args.per_workspace / args.limit
    ratio = run.seconds / ideal
    seen = Seen.of(run)
    spans = [times[-1] - times[0] for times in seen.accept_times.values() if times]
    window_max = max((max_in_window(times) for times in seen.accept_times.values()), default=0)
    done = sorted(run.finished_at.values())
    rate = args.rate if args.rate else float(args.limit)
    standin = run.standin
    posts = standin["report"]
    lines = [
        title(
            f"dispatch of {args.workspaces} workspaces x {args.per_workspace} due people "
            f"= {total} DMs"
        ),
        load.line(),
        f"  stand-in: {args.latency_ms:g} ms latency, 429 (Retry-After: {RETRY_AFTER_S}) past "
        f"{args.limit}/s per workspace ({args.window} window), own process",
        f"  Sender: rate_per_second={rate:g}, burst={args.burst or max(1, int(rate))}, "
        f"workers_per_workspace={args.workers}, max_threads={args.threads}; "
        + ("run_tick" if args.real_pass else "Sender.send_all called directly"),
        "  " + (REAL_PASS.format(database=shown_url(args.url)) if args.real_pass else OMITTED),
        "",
        "Time (tracemalloc off)",
        f"  total                        {run.seconds:9.2f} s",
        f"  ideal ({args.per_workspace} / {args.limit}/s)            {ideal:9.2f} s",
        f"  ratio                        {ratio:9.3f}",
        f"  workspaces done, first/last  {done[0]:9.2f} s / {done[-1]:.2f} s"
        if done
        else "  workspaces done              none",
        f"  first to last accept, per workspace: min {min(spans, default=0):.2f} s, "
        f"max {max(spans, default=0):.2f} s",
        "",
        "Slack stand-in",
        f"  chat.postMessage calls       {posts['posts']:9d}",
        f"  accepted                     {sum(posts['accepted'].values()):9d}",
        f"  429 returned                 {seen.rejected_total:9d}"
        + (
            f"  (in {len(seen.rejected)} workspaces, at most {max(seen.rejected.values())} in "
            f"one; first at {seen.first_429:.2f} s)"
            if seen.rejected and seen.first_429 is not None
            else ""
        ),
        f"  sent inside a Retry-After    {seen.inside_retry_after:9d}"
        f"  (of them answered 429: {seen.inside_retry_after_429})",
        f"  most accepted in 1 s, one workspace {window_max:4d}",
        f"  most requests in flight      {posts['max_in_flight']:9d}",
        f"  CPU                          {standin['cpu']:9.2f} s",
        f"  GC                           {standin['gc'].line()}",
        "",
        "Sender",
        f"  outcomes                     {dict(run.recorded)}",
        f"  rate_limit_waits             {run.rate_limit_waits:9d}",
        f"  retries                      {run.retries:9d}",
        f"  CPU                          {run.cpu_seconds:9.2f} s "
        f"({100 * run.cpu_seconds / run.seconds:.0f}% of a core), "
        f"{1000 * run.cpu_seconds / max(1, run.recorded['sent']):.2f} ms per DM sent",
        f"  DMs sent per second          {run.recorded['sent'] / run.seconds:9.1f}",
        f"  GC                           {run.gc.line()}",
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
    return "\n".join(lines)


def targets(args: argparse.Namespace, run: Run) -> list[Target]:
    ideal = args.per_workspace / args.limit
    seen = Seen.of(run)
    return [
        Target(
            f"total time / ideal ({ideal:g} s)", run.seconds / ideal, RATIO_TARGET, "x", digits=3
        ),
        Target(
            "messages not delivered exactly once",
            len(run.checks.faulty),
            EXACTLY_ONCE_TARGET,
            digits=0,
        ),
        Target(
            f"429s beyond what Retry-After handles (of {seen.rejected_total} 429s: "
            f"{seen.inside_retry_after_429} inside a Retry-After, "
            f"{unrecovered_429s(run)} left a message unsent)",
            seen.inside_retry_after_429 + unrecovered_429s(run),
            UNHANDLED_429_TARGET,
            digits=0,
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_options(__doc__, OPTIONS, argv)
    load = LoadAverage()
    with scratch_directory("bench-dispatch-") as directory:
        args.url = args.database_url or sqlite_url(directory)
        return measure(args, load)


def measure(args: argparse.Namespace, load: LoadAverage) -> int:
    progress("timed pass (tracemalloc off) ...")
    run = one_pass(args, trace=False)
    memory = None
    if not args.no_memory_pass:
        progress("memory pass (tracemalloc on) ...")
        memory = one_pass(args, trace=True)
    print(report(args, run, memory, load))
    return finish(targets(args, run), check=args.check)


if __name__ == "__main__":
    sys.exit(main())
