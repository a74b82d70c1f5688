"""bench_tick end to end at its --quick sizes: the real `psoas-bot tick` against PostgreSQL and
the stand-in, every section printed and every DM delivered exactly once. Nothing here asserts
on a timing: whether a target is met depends on the machine."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import make_url

from tests.bench import bench_tick


@pytest.mark.postgres
def test_bench_tick_runs_every_scenario_and_each_dm_goes_out_once(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A database of its own beside the tests' one: the benchmark drops every table in it.
    parsed = make_url(postgres_url)
    own = parsed.set(database=f"{parsed.database}_bench_tick").render_as_string(False)

    # One token mode for scenarios 1-2 (each pass is a whole process start); 3-5 run in OAuth.
    argv = ["--quick", "--modes", "single", "--postgres-url", own]
    assert bench_tick.main(argv) == 0  # no --check: always 0

    out = capsys.readouterr().out
    for heading in (
        "\n1. End to end at the floor",
        "\n2. CPU per DM",
        "\n3. Fairness",
        "\n4. Many workspaces",
        "\n5. Flat memory",
    ):
        assert heading in out
    assert "load average (1/5/15 min" in out
    assert "\nTargets\n" in out
    # The tick ran at the seeded instant and found everyone seeded due; in OAuth mode (3-5)
    # each DM came with its own workspace's token, or it would not count as exactly once.
    assert "single-token: the tick said: tick at 2026-12-02T14:00:05+00:00: 40 due" in out
    assert "the tick said: tick at 2026-12-02T14:00:05+00:00: 70 due" in out  # fairness
    # Never a second DM, one to someone not due, or one with another workspace's token. A DM
    # may be missing only as the delivery rule allows: the tick gave up on it because its
    # database did not answer in time (a loaded machine), and logged why.
    passes = re.findall(
        r": DMs per due person: (\d+) missing, (\d+) doubled; (\d+) to someone not due, "
        r"(\d+) with another workspace's token",
        out,
    )
    assert len(passes) == 5  # the floor pass, fairness, many, two memory passes
    assert all(found[1:] == ("0", "0", "0") for found in passes)
    if any(found[0] != "0" for found in passes):
        assert "DatabaseUnavailableError" in out
