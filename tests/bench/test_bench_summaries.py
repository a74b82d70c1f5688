"""Smoke test of the weekly summaries benchmark: its options, and a run at a tiny size where both
ways claim and render the same summaries. Nothing here asserts on a timing."""

from __future__ import annotations

import pytest

from tests.bench import bench_summaries
from tests.bench.harness import parse_options


def test_options() -> None:
    def parsed(*argv: str) -> dict[str, object]:
        args = parse_options(bench_summaries.__doc__, bench_summaries.OPTIONS, list(argv))
        return {name: getattr(args, name) for name in ("due", "people", "rounds", "backends")}

    assert parsed() == {
        "due": 2000,
        "people": 10_000,
        "rounds": 3,
        "backends": ["sqlite", "postgresql"],
    }
    assert parsed("--quick") == {
        "due": 300,
        "people": 1500,
        "rounds": 2,
        "backends": ["sqlite", "postgresql"],
    }
    with pytest.raises(SystemExit):
        parsed("--backends", "mysql")


def test_it_runs_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--backends", "sqlite", "--due", "30", "--people", "60", "--rounds", "1"]
    assert bench_summaries.main(argv) == 0  # no --check: always 0
    out = capsys.readouterr().out
    assert "load average (1/5/15 min" in out
    assert "sqlite set-based" in out and "sqlite person by person" in out
    assert "sqlite statements to claim and render 30 summaries" in out
