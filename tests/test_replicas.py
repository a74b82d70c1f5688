"""Several `psoas-bot run` processes on one PostgreSQL database: each nudge exactly once,
even when one of them is killed in the middle of a pass."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.core.changes import TurnOn
from bot.data.database import Database
from bot.data.models import NudgeLog, Person
from bot.data.people import Who, change_preferences
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET
from tests.support.standin import SlackStandIn

PEOPLE = 500


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def due_now(db: Database, people: int) -> None:
    """`people` opted in, each with a nudge due half a minute ago (real time: the processes
    run on the real clock)."""
    now = datetime.now(UTC)
    for n in range(people):
        change_preferences(db, Who("T1", f"U{n:04d}"), TurnOn(), now=now, timezone_of=lambda: "UTC")
    slot = now - timedelta(seconds=30)
    with db.session() as session:
        session.execute(update(Person).values(next_slot_at=slot, next_nudge_at=slot))


class Replicas:
    def __init__(self, db: Database, standin: SlackStandIn, logs: Path, count: int) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": db.url,
            "SLACK_API_URL": standin.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "TICK_SECONDS": "5",
            "CLAIM_LEASE_SECONDS": "3",
            "NUDGE_RATE_PER_SECOND": "25",
        }
        self.logs = [logs / f"replica-{i}.log" for i in range(count)]
        self.processes = []
        for log_path in self.logs:
            with log_path.open("w") as log_file:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot.cli", "run", "--host", "127.0.0.1"],
                        env={**env, "PORT": str(free_port())},
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                    )
                )

    def stop(self) -> list[int | None]:
        """SIGTERM, as Kubernetes stops a pod; the exit codes of those that were running."""
        running = [p for p in self.processes if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        return [p.returncode for p in running]

    def log_text(self) -> str:
        return "\n".join(path.read_text() for path in self.logs)


@pytest.fixture
def replicas(postgres_db: Database, standin: SlackStandIn, tmp_path: Path) -> Iterator[Replicas]:
    due_now(postgres_db, PEOPLE)
    group = Replicas(postgres_db, standin, tmp_path, count=3)
    yield group
    assert set(group.stop()) == {0}  # every running replica stopped cleanly on SIGTERM
    logs = group.log_text()
    assert SIGNING_SECRET not in logs and BOT_TOKEN not in logs


def wait_until(condition, timeout: float, what: str) -> None:
    """Poll for an outcome (messages arriving), not for a slot: the slot is already due."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def all_sent(db: Database) -> bool:
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(NudgeLog))
        sent = session.scalar(select(func.count()).where(NudgeLog.status == "sent"))
    return total == sent == PEOPLE


def delivered(standin: SlackStandIn) -> Counter[str]:
    return Counter(c.args["channel"] for c in standin.calls_to("chat.postMessage"))


def test_three_replicas_send_each_nudge_once(
    replicas: Replicas, postgres_db: Database, standin: SlackStandIn
) -> None:
    wait_until(lambda: all_sent(postgres_db), 90, "500 nudges recorded as sent")
    counts = delivered(standin)
    assert len(counts) == PEOPLE and set(counts.values()) == {1}
    with postgres_db.session() as session:
        # Nothing is left due: no later pass can send any of them again.
        assert session.scalar(select(func.min(Person.next_nudge_at))) > datetime.now(UTC)


def test_a_replica_killed_mid_pass_still_sends_each_nudge_once(
    replicas: Replicas, postgres_db: Database, standin: SlackStandIn
) -> None:
    def slow(call):  # Slack at 40 ms a message: a pass of 500 takes a while
        if call.method == "chat.postMessage":
            time.sleep(0.04)
        return None

    standin.responder = slow
    wait_until(lambda: len(standin.calls_to("chat.postMessage")) >= 100, 60, "a pass under way")
    with postgres_db.session() as session:
        owner = session.scalar(select(NudgeLog.claimed_by).limit(1))
    pid = int(owner.split(":")[1])  # host:pid:process id
    victim = next(p for p in replicas.processes if p.pid == pid)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    with postgres_db.session() as session:
        unsent = session.scalar(select(func.count()).where(NudgeLog.status == "claimed"))
    assert unsent > 0  # it really died with work in hand
    wait_until(lambda: all_sent(postgres_db), 120, "the survivors to finish the pass")
    counts = delivered(standin)
    assert len(counts) == PEOPLE
    assert [user for user, n in counts.items() if n > 1] == []
