"""Smoke tests for the benchmarks' plumbing: the harness, each benchmark's options, and each
benchmark run end to end at a tiny size. Nothing here asserts on a timing."""

from __future__ import annotations

import math
import os
import sys
from multiprocessing.connection import Connection
from types import ModuleType

import pytest

from tests.bench import bench_claim, bench_command, bench_dispatch, bench_tick, bench_transport
from tests.bench.harness import (
    Answers,
    ChildProcess,
    KeepAliveClient,
    Target,
    finish,
    most_in_window,
    parse_options,
    percentile_ms,
    run_child,
    run_measured,
    scratch_directory,
    table,
)
from tests.support.serving import BackgroundServer
from tests.support.slack import command_body
from tests.support.standin import SlackStandIn


def test_a_missed_target_says_by_how_much_and_fails_only_under_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    slow = Target("p99", 7.5, 5.0, " ms")
    fast = Target("ratio", 0.8, 0.75, "x", at_most=False)
    assert not slow.met and fast.met
    assert "MISSED by 2.50 ms (over, 50%)" in slow.line()
    assert fast.line().endswith("-> MET")
    assert not Target("unmeasured", math.nan, 1.0).met

    assert finish([slow, fast], check=False) == 0
    assert finish([slow, fast], check=True) == 1
    assert finish([fast], check=True) == 0
    captured = capsys.readouterr()
    assert "CHECK FAILED: p99: 7.50 ms (target <= 5.00 ms) -> MISSED" in captured.err
    assert "--check: 1 of 2 targets missed" in captured.out


def test_percentiles_and_tables() -> None:
    seconds = [i / 1000 for i in range(1, 101)]  # 1 .. 100 ms
    assert percentile_ms(seconds, 50) == pytest.approx(50.0)
    assert percentile_ms(seconds, 99) == pytest.approx(99.0)
    assert math.isnan(percentile_ms([], 99))
    lines = table(["", "a", "bb"], [["row", "1", "22"], ["longer row", "333", "4"]])
    assert len({len(line) for line in lines}) == 1  # aligned columns


@pytest.mark.parametrize(
    ("module", "argv", "expected"),
    [
        (bench_command, ["--quick"], {"seconds": 2.0, "rounds": 2, "check": False}),
        (bench_command, ["--quick", "--seconds", "3", "--check"], {"seconds": 3.0, "check": True}),
        (bench_command, [], {"seconds": 10.0, "rate": 200.0, "clients": 32, "rounds": 10}),
        (bench_claim, ["--quick"], {"sizes": [10_000, 50_000], "repeat": 3}),
        (bench_claim, [], {"sizes": [100_000, 1_000_000], "backends": ["sqlite", "postgresql"]}),
        (bench_dispatch, ["--quick", "--check"], {"workspaces": 5, "per_workspace": 60}),
        (bench_dispatch, [], {"workspaces": 20, "per_workspace": 500, "limit": 20}),
        (
            bench_tick,
            [],
            {
                "workspaces": 10,
                "per_workspace": 500,
                "limit": 20,
                "fair_big": 10_000,
                "many_workspaces": 1_000,
                "memory_sizes": [10_000, 100_000],
            },
        ),
        (bench_tick, ["--quick", "--scenarios", "cpu,floor"], {"scenarios": ["cpu", "floor"]}),
        (bench_transport, [], {"calls": 400, "rounds": 3}),
        (bench_transport, ["--quick"], {"calls": 100, "rounds": 2}),
    ],
)
def test_options(module: ModuleType, argv: list[str], expected: dict[str, object]) -> None:
    args = parse_options(module.__doc__, module.OPTIONS, argv)
    assert {name: getattr(args, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        (bench_claim, ["--sizes", "1000000,100000"]),
        (bench_claim, ["--backends", "mysql"]),
        (bench_command, ["--rounds", "0"]),
        (bench_dispatch, ["--workspaces", "0"]),
        (bench_tick, ["--scenarios", "floor,speed"]),
        (bench_tick, ["--memory-sizes", "100000,10000"]),
        (bench_tick, ["--modes", "bot"]),
        (bench_transport, ["--calls", "0"]),
    ],
)
def test_bad_options_are_refused(module: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options(module.__doc__, module.OPTIONS, argv)


def test_most_in_window_counts_a_half_open_second() -> None:
    assert most_in_window([]) == 0
    assert most_in_window([0.0, 0.2, 0.5, 0.999]) == 4
    assert most_in_window([0.0, 0.5, 0.999, 1.0, 1.5]) == 3  # (0.0, 1.0] holds three
    assert most_in_window([0.0, 1.0, 2.0]) == 1


def test_a_measured_command_reports_its_own_exit_cpu_and_memory() -> None:
    burn = "import sys; block = bytearray(64 * 2**20); sum(range(3_000_000)); sys.exit(3)"
    run = run_measured([sys.executable, "-c", burn], env=os.environ, timeout=60)
    assert run.returncode == 3 and not run.timed_out
    assert run.maxrss_kib > 64 * 1024  # the child's peak, not this process's
    assert run.cpu_seconds > 0
    slow = run_measured(
        [sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(30)"],
        env=os.environ,
        timeout=2,
    )
    assert slow.timed_out and slow.returncode != 0 and slow.stdout == "hi\n"


def test_requests_are_signed_as_slack_signs_them() -> None:
    standin = SlackStandIn().start()
    try:
        with scratch_directory("psoas-bench-test-") as workdir:
            web_app = bench_command.bare_app(standin.api_url, workdir)
            with BackgroundServer(web_app, threads=2) as server:
                client = KeepAliveClient(int(server.url.rsplit(":", 1)[1]))
                body = command_body("half-kneel")
                assert client.post_signed(body) == (200, b"ok")
                tampered = client.request("POST", "/slack/events", body.encode() + b"&x=1", {})
                assert tampered[0] == 401
                client.close()
    finally:
        standin.stop()


def _failing_child(conn: Connection) -> None:
    def setup() -> tuple[object, Answers]:
        raise ValueError("set-up went wrong")

    run_child(conn, setup)


def test_a_child_that_fails_says_why() -> None:
    with (
        pytest.raises(RuntimeError, match="set-up went wrong"),
        ChildProcess(_failing_child, name="failing"),
    ):
        pass


def test_each_benchmark_runs_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    runs = {
        "command": bench_command.main(
            [
                *("--seconds", "0.1", "--rate", "20", "--closed-seconds", "0.1"),
                *("--rounds", "1", "--clients", "2", "--open-workers", "2", "--warm-up", "0.1"),
            ]
        ),
        "claim": bench_claim.main(
            ["--backends", "sqlite", "--sizes", "2000,2100", "--repeat", "1"]
        ),
        "dispatch": bench_dispatch.main(
            [
                *("--workspaces", "2", "--per-workspace", "3", "--latency-ms", "1"),
                *("--limit", "50", "--no-memory-pass"),
            ]
        ),
        "transport": bench_transport.main(["--calls", "5", "--rounds", "1"]),
    }
    out = capsys.readouterr().out
    assert runs == {"command": 0, "claim": 0, "dispatch": 0, "transport": 0}  # no --check
    assert out.count("load average (1/5/15 min") == 4
    assert out.count("CPU time taken by the host (steal): ") == 4  # Linux: /proc/stat
    assert out.count("\nTargets\n") == 4
    assert "TLS, KeepAliveWebClient" in out and "over TLS, CPU per call kept-alive" in out
    assert "throughput real/bare" in out
    assert "sqlite" in out and "2,100" in out
    assert "Leaves out, against a real `psoas-bot tick`" in out
    assert "accepted once: 6/6" in out


def test_the_claim_benchmark_runs_on_postgresql_at_a_tiny_size(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its PostgreSQL side (COPY, the nudge log's history, the vacuums and checkpoints between
    runs, the server's own work under EXPLAIN) end to end, in a database of its own beside
    the tests' one."""
    from sqlalchemy.engine import make_url

    base = make_url(postgres_url)
    own = base.set(database=f"{base.database}_bench_claim").render_as_string(hide_password=False)
    code = bench_claim.main(
        ["--backends", "postgresql", "--sizes", "2000,4000", "--repeat", "2", "--postgres-url", own]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "state restored (PostgreSQL: and vacuumed, then a CHECKPOINT) between runs" in out
    assert "the 2,000 due spread evenly through each size's people" in out
    assert "the nudge log holds yesterday's 8 hourly nudges for everyone" in out
    assert "The server's own work in a claim" in out
    assert "postgresql median claim at 4,000 people" in out
