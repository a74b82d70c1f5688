"""What the benchmarks share: processes driven over a pipe, the WSGI server and the Slack stand-in,
signed requests, fresh databases, the common options, percentiles, memory and profiles, the
load average, and the table and target lines every report ends with.

A benchmark keeps only what is its own (its workload, its figures, its targets) and ends with

    return finish(targets, check=args.check)

which prints one line per target and, under `--check`, returns 1 when any is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import http.client
import io
import logging
import math
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from types import FrameType, TracebackType
from typing import Any, NoReturn, Self, TypeVar

from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url

from tests.support.serving import BackgroundServer
from tests.support.slack import signed_headers
from tests.support.standin import Call, Responder, SlackStandIn

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

N = TypeVar("N", int, float)


def progress(message: str) -> None:
    """A progress line on stderr, so stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


# Time zones around the world, for benchmarks that seed realistic, varied people.
ZONES = (
    "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
    "America/Chicago", "America/Mexico_City", "America/New_York", "America/Bogota",
    "America/Lima", "America/Halifax", "America/Caracas", "America/St_Johns",
    "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Santiago",
    "Atlantic/Azores", "Atlantic/Cape_Verde", "Europe/London", "Europe/Lisbon", "Europe/Dublin",
    "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Warsaw", "Africa/Lagos",
    "Europe/Helsinki", "Europe/Athens", "Africa/Cairo", "Africa/Johannesburg", "Europe/Istanbul",
    "Europe/Moscow", "Asia/Dubai", "Asia/Tehran", "Asia/Karachi", "Asia/Kolkata",
    "Asia/Kathmandu", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
)  # fmt: skip


# ---------------------------------------------------------------- child processes

Answers = Mapping[str, Callable[[], object]]
Setup = Callable[[], tuple[object, Answers]]


def run_child(conn: Connection, setup: Setup) -> NoReturn:
    """The child's side of `ChildProcess`: `setup()` gives the hello sent once ready and the
    answers by request name; the answer to "stop" tidies up and ends the loop. Failures travel
    back as their traceback. Ends with `os._exit`: waitress's worker threads are not daemons,
    and nothing is left to tidy after "stop"."""
    try:
        hello, answers = setup()
        conn.send(("ok", hello))
        while True:
            request = conn.recv()
            try:
                conn.send(("ok", answers[request]()))
            except Exception:
                conn.send(("error", traceback.format_exc()))
            if request == "stop":
                break
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


class ChildProcess:
    """A spawned process (its own interpreter: its own GIL and its own memory figures) running
    `target(conn, *args)`, which calls `run_child`. `hello` is what it sent once ready; `ask`
    sends a request and returns the answer; leaving the block stops it."""

    def __init__(self, target: Callable[..., None], *args: object, name: str) -> None:
        context = get_context("spawn")
        self.conn, self._child = context.Pipe()
        self.process = context.Process(
            target=target, args=(self._child, *args), name=name, daemon=True
        )
        self.name = name
        self.hello: Any = None
        self.final: Any = None  # the answer to "stop"
        self._stopped = False

    def _receive(self, request: str, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.name} did not answer {request!r} within {timeout:g} s")
        status, value = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"{self.name} failed on {request!r}:\n{value}")
        return value

    def ask(self, request: str, timeout: float = START_TIMEOUT_S) -> Any:
        self.conn.send(request)
        return self._receive(request, timeout)

    def stop(self) -> Any:
        """Stop it (once) and return its final answer."""
        if not self._stopped:
            self._stopped = True
            self.final = self.ask("stop", STOP_TIMEOUT_S)
        return self.final

    def start(self) -> Self:
        """Start it without waiting for it to be ready (entering the block waits): several
        processes then import and set up at once."""
        if self.process.pid is None:
            self.process.start()
            self._child.close()
        return self

    def __enter__(self) -> Self:
        self.start()
        self.hello = self._receive("start", START_TIMEOUT_S)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.stop()
            else:  # already failing: do not hide that under a second failure
                with contextlib.suppress(Exception):
                    self.stop()
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout=5)


# ---------------------------------------------------------------- the WSGI server

# (Slack Web API url, a scratch directory) -> the WebApp to serve.
AppFactory = Callable[[str, str], Any]


def _serve_wsgi(conn: Connection, factory: AppFactory, threads: int, profile: bool) -> None:
    def setup() -> tuple[object, Answers]:
        # Under a closed-loop load waitress warns about its task queue on every burst.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        standin = SlackStandIn().start()
        workdir = tempfile.mkdtemp(prefix="psoas-bench-")
        web_app = factory(standin.api_url, workdir)
        # As `psoas-bot run` does once its server is built: what start-up made is moved out
        # of the garbage collector's sight (for either app, so both are served alike).
        from bot.cli import freeze_start_up

        freeze_start_up()
        profiles = ThreadProfiles()
        if profile:
            profiles.install()  # before the server: waitress starts its worker threads there
        server = BackgroundServer(web_app, threads=threads).__enter__()

        def stop() -> str:
            report = profiles.report() if profile else ""
            server.__exit__()
            standin.stop()
            shutil.rmtree(workdir, ignore_errors=True)
            return report

        return int(server.url.rsplit(":", 1)[1]), {"cpu": time.process_time, "stop": stop}

    run_child(conn, setup)


class ServerProcess(ChildProcess):
    """The WebApp that `factory` builds (a module-level function, so that spawn can pickle it),
    behind waitress on an ephemeral loopback port, with the Slack stand-in beside it, all in a
    process of its own so that the load generator does not share its GIL. `final` is the text
    of a cProfile of the server's threads when `profile` is on."""

    def __init__(
        self, factory: AppFactory, *, threads: int, profile: bool = False, name: str
    ) -> None:
        super().__init__(_serve_wsgi, factory, threads, profile, name=name)

    @property
    def port(self) -> int:
        return int(self.hello)

    def cpu(self) -> float:
        """CPU seconds the server process has used so far."""
        return float(self.ask("cpu"))


# ---------------------------------------------------------------- the Slack stand-in


class QuietStandIn(SlackStandIn):
    """A stand-in whose `responder` answers chat.postMessage without the call being kept.

    Thousands of recorded calls with their blocks are about a million objects; each full garbage
    collection over them stalls every handler thread by tens of milliseconds: the stand-in would
    be causing the delays (and the 429s) it reports.
    """

    def answer(self, call: Call) -> tuple[int, dict[str, Any], dict[str, str]]:
        if call.method == "chat.postMessage" and self.responder is not None:
            custom = self.responder(call)
            if custom is not None:
                return custom
        return super().answer(call)


# (*args) -> (the responder, a report of what it saw: sent back when the process stops).
StandInFactory = Callable[..., tuple[Responder, Callable[[], object]]]


def _serve_standin(
    conn: Connection, factory: StandInFactory, args: tuple[object, ...], backlog: int
) -> None:
    def setup() -> tuple[object, Answers]:
        gc_pauses = GcPauses().install()
        responder, report = factory(*args)
        standin = QuietStandIn(responder=responder).start()
        assert standin.server is not None
        # ThreadingHTTPServer listens with a backlog of 5; at hundreds of new connections a
        # second (urllib opens one per request) the overflow costs a 1 s SYN retransmit. Linux
        # lets a listening socket raise its backlog by calling listen() again.
        standin.server.socket.listen(backlog)

        def stop() -> dict[str, object]:
            final = {
                "report": report(),
                "cpu": time.process_time(),
                "gc": gc_pauses,
                "maxrss_kib": maxrss_kib(),
            }
            standin.stop()
            return final

        return standin.api_url, {"report": report, "stop": stop}

    run_child(conn, setup)


class StandInProcess(ChildProcess):
    """The Slack stand-in in a process of its own, answering chat.postMessage with the responder
    that `factory(*args)` makes (module-level, for spawn). `report()` asks for the factory's
    report meanwhile; `final` holds the last one, the process's CPU seconds, its garbage
    collections and its ru_maxrss."""

    def __init__(
        self, factory: StandInFactory, *args: object, backlog: int = 1024, name: str
    ) -> None:
        super().__init__(_serve_standin, factory, args, backlog, name=name)

    @property
    def api_url(self) -> str:
        return str(self.hello)

    def report(self) -> Any:
        """The factory's report now, the stand-in still serving (a report that drains what it
        saw lets one stand-in serve several passes)."""
        return self.ask("report")


# ---------------------------------------------------------------- a command, measured


@dataclass(frozen=True)
class CommandRun:
    """One run of a command as its own process: its wall time, and the CPU and peak memory
    the kernel counted for that process alone (os.wait4), not for every child reaped so far
    as RUSAGE_CHILDREN would."""

    returncode: int
    started: float  # time.monotonic() when it was started: CLOCK_MONOTONIC is system-wide
    seconds: float
    user_seconds: float
    system_seconds: float
    maxrss_kib: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds


def run_measured(argv: Sequence[str], *, env: Mapping[str, str], timeout: float) -> CommandRun:
    """Run `argv` to its end (killed after `timeout` seconds), its output kept in files so a
    chatty child never blocks on a full pipe."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(list(argv), env=dict(env), stdout=out, stderr=err)
        reaped: list[tuple[float, int, resource.struct_rusage]] = []

        def reap() -> None:
            _pid, status, usage = os.wait4(process.pid, 0)
            reaped.append((time.monotonic(), status, usage))

        reaper = threading.Thread(target=reap, name="bench-reaper", daemon=True)
        reaper.start()
        reaper.join(timeout)
        timed_out = reaper.is_alive()
        if timed_out:
            process.kill()
            reaper.join()
        ended, status, usage = reaped[0]
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return CommandRun(
            returncode=process.returncode,
            started=started,
            seconds=ended - started,
            user_seconds=usage.ru_utime,
            system_seconds=usage.ru_stime,
            maxrss_kib=usage.ru_maxrss,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timed_out=timed_out,
        )


# ---------------------------------------------------------------- signed requests


class KeepAliveClient:
    """One keep-alive HTTP/1.1 connection to the loopback port; reconnects after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def post_signed(self, body: str, path: str = EVENTS_PATH) -> tuple[int, bytes]:
        """Signed freshly, as Slack signs every request (about 2 µs), then sent."""
        return self.request("POST", path, body.encode(), signed_headers(body))

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


# ---------------------------------------------------------------- databases


def sqlite_url(directory: str, name: str = "bench.db") -> str:
    return f"sqlite:///{directory}/{name}"


def fresh_database(url: str) -> None:
    """The database migrated to head from nothing: on PostgreSQL it is created if missing; then
    every table an earlier run left is dropped (alembic_version and tables of other metadata
    included: the database must be the benchmark's own)."""
    from bot.data.schema import upgrade

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).scalar()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    engine = create_engine(url)
    with engine.begin() as connection:
        existing = MetaData()
        existing.reflect(connection)
        existing.drop_all(connection)
    engine.dispose()
    upgrade(url)


@contextlib.contextmanager
def scratch_directory(prefix: str) -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix=prefix)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """One option of a benchmark. Its type is its default's: a bool is a flag, a number must be
    above 0 (or 0 too, with `zero_ok`), a string is read by `kind` when given. `quick` is its
    value under --quick."""

    flag: str
    default: object
    help: str
    quick: object = None
    choices: tuple[str, ...] | None = None
    kind: Callable[[str], Any] | None = None
    zero_ok: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        help_ = self.help + (f" (--quick: {self.quick})" if self.quick is not None else "")
        if isinstance(self.default, bool):
            parser.add_argument(self.flag, action="store_true", help=help_)
            return
        kind: Callable[[str], Any] = self.kind or str
        if isinstance(self.default, int | float):
            kind = number(type(self.default), zero_ok=self.zero_ok)
        parser.add_argument(
            self.flag, type=kind, default=self.default, choices=self.choices, help=help_
        )


def number(kind: type[N], *, zero_ok: bool = False) -> Callable[[str], N]:
    """An option's type: an int or a float above 0 (or at least 0, with `zero_ok`)."""

    def convert(text_: str) -> N:
        value = kind(text_)
        if value < 0 or (value == 0 and not zero_ok):
            raise argparse.ArgumentTypeError(f"{text_!r}: must be {'0 or ' * zero_ok}above 0")
        return value

    convert.__name__ = kind.__name__  # what argparse names in its "invalid ... value" message
    return convert


def parse_options(
    doc: str | None, options: Sequence[Option], argv: Sequence[str] | None
) -> argparse.Namespace:
    """The benchmark's options, described by its docstring's first paragraph, and those every
    benchmark has: --check and --quick (whose values yield to options given explicitly)."""
    parser = argparse.ArgumentParser(
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1, naming the target and by how much, when a target is missed",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes, to try it in under a minute",
    )
    for option in options:
        option.add_to(parser)
    args = parser.parse_args(argv)
    if args.quick:
        parser.set_defaults(**{o.dest: o.quick for o in options if o.quick is not None})
        args = parser.parse_args(argv)
    return args


# ---------------------------------------------------------------- measurements


def percentile_ms(seconds: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of durations in seconds, in milliseconds."""
    if not seconds:
        return float("nan")
    ordered = sorted(seconds)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1] * 1000


def most_in_window(times: Sequence[float], span: float = 1.0) -> int:
    """The most of the sorted instants `times` inside any half-open `span` of time."""
    best, low = 0, 0
    for high, now in enumerate(times):
        while times[low] <= now - span:
            low += 1
        best = max(best, high - low + 1)
    return best


def maxrss_kib() -> int:
    """This process's peak resident set size (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class MemoryTrace:
    """tracemalloc over a block, when `enabled` (it slows every allocation): `mark()` the bytes
    held now, `peak` once the block is over. Disabled, every figure is 0."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.peak = 0

    def __enter__(self) -> MemoryTrace:
        if self.enabled:
            tracemalloc.start()
        return self

    def mark(self) -> int:
        return tracemalloc.get_traced_memory()[0] if self.enabled else 0

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


class GcPauses:
    """The longest garbage collection, and their count and total, in this process while
    installed."""

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

    def __getstate__(self) -> dict[str, float]:  # sent over a pipe: the figures only
        return {"longest": self.longest, "total": self.total, "count": self.count}

    def __setstate__(self, state: dict[str, float]) -> None:
        self.longest, self.total, self.count = state["longest"], state["total"], int(state["count"])
        self._began = 0.0

    def line(self) -> str:
        return (
            f"{self.count:9d} collections, longest {self.longest * 1000:.1f} ms, "
            f"total {self.total * 1000:.0f} ms"
        )


def profile_report(profiles: Sequence[cProfile.Profile], top: int = 25) -> str:
    """The profiles merged, the `top` functions by own time and then by cumulative time."""
    if not profiles:
        return "(no profile collected)\n"
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for profile in profiles[1:]:
        stats.add(profile)
    stats.strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


class ThreadProfiles:
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
        with self.lock:
            profiles = list(self.profiles)
        return f"threads profiled: {len(profiles)}\n" + profile_report(profiles, top)


# ---------------------------------------------------------------- report


def _reference_work() -> int:
    total = 0
    for i in range(200_000):
        total += i * i % 7
    return total


def reference_ms(runs: int = 5) -> float:
    """The median CPU time of a fixed pure-Python workload: the same work every time, so a
    higher figure means a slower machine at that moment (shared or throttled CPUs swing by
    half here), not slower code."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        _reference_work()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def cpu_ticks() -> tuple[int, int] | None:
    """(all, stolen) CPU time of the machine so far, in clock ticks, from Linux's /proc/stat:
    on a virtual machine, "steal" is the time its CPUs were ready to run and the host ran
    something else. None where there is no /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    # counted in user time already.
    values = [int(value) for value in fields[1:9]]
    return sum(values), values[7]


class LoadAverage:
    """The 1, 5 and 15 minute load averages when made and when shown: other work on the machine
    (tests, other benchmarks) shows here, and moves every timing. Beside them, the machine's
    pace then (`reference_ms`), and the share of its CPU time the host took (steal): tail
    latencies on a virtual machine swing with it."""

    def __init__(self) -> None:
        self.start = os.getloadavg()
        self.ticks_start = cpu_ticks()
        self.reference_start = reference_ms()

    def stolen_percent(self) -> float | None:
        now = cpu_ticks()
        if now is None or self.ticks_start is None or now[0] <= self.ticks_start[0]:
            return None
        return 100 * (now[1] - self.ticks_start[1]) / (now[0] - self.ticks_start[0])

    @staticmethod
    def _text(values: tuple[float, float, float]) -> str:
        return "/".join(f"{value:.2f}" for value in values)

    def line(self) -> str:
        stolen = self.stolen_percent()
        steal = "" if stolen is None else f"; CPU time taken by the host (steal): {stolen:.1f}%"
        return (
            f"load average (1/5/15 min, {os.cpu_count()} CPUs): {self._text(self.start)} "
            f"at the start, {self._text(os.getloadavg())} at the end; reference workload "
            f"{self.reference_start:.1f} ms at the start, {reference_ms():.1f} ms at the end"
            f"{steal}"
        )


def title(what: str) -> str:
    return f"psoas-bot benchmark: {what}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 2) -> list[str]:
    """Columns as wide as their widest cell: the first left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(" " * indent + "  ".join(cells).rstrip())
    return lines


@dataclass(frozen=True)
class Target:
    """One target: `measured` against `limit`, at most (or, with at_most=False, at least)."""

    name: str
    measured: float
    limit: float
    unit: str = ""
    at_most: bool = True
    digits: int = 2

    @property
    def met(self) -> bool:
        if math.isnan(self.measured):
            return False
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit

    def _value(self, value: float) -> str:
        return f"{value:,.{self.digits}f}{self.unit}"

    def line(self) -> str:
        bound = f"{'<=' if self.at_most else '>='} {self._value(self.limit)}"
        head = f"{self.name}: {self._value(self.measured)} (target {bound})"
        if self.met:
            return f"{head} -> MET"
        if math.isnan(self.measured):
            return f"{head} -> MISSED: not measured"
        miss = abs(self.measured - self.limit)
        relative = f", {miss / abs(self.limit):.0%}" if self.limit else ""
        way = "over" if self.at_most else "under"
        return f"{head} -> MISSED by {self._value(miss)} ({way}{relative})"


def finish(targets: Sequence[Target], *, check: bool) -> int:
    """Print the targets; under --check, name each one missed on stderr too and return 1."""
    print("\nTargets")
    for target in targets:
        print(f"  {target.line()}")
    missed = [target for target in targets if not target.met]
    if not check:
        return 0
    for target in missed:
        print(f"CHECK FAILED: {target.line()}", file=sys.stderr)
    verdict = f"{len(missed)} of {len(targets)} targets missed" if missed else "all targets met"
    print(f"\n--check: {verdict}")
    return 1 if missed else 0
