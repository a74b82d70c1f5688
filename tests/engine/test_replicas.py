"""Several bot processes on one PostgreSQL database: each nudge exactly once, whether two
passes start together, three replicas run side by side, or one is killed mid-pass.

Real processes on the real clock (they cannot share the test's), kept short: people spread
over several workspaces so the per-workspace pace does not make a pass long, and a pass cut
in two by holding Slack's answers rather than by slowing every message down.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.data.database import Database
from bot.data.models import NudgeLog, Person
from bot.data.people import Who
from tests.support.people import opt_in, utc
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET
from tests.support.standin import Call, SlackStandIn

PEOPLE = 200
WORKSPACES = 4


def everyone(people: int = PEOPLE) -> list[Who]:
    return [Who(f"T{n % WORKSPACES}", f"U{n:04d}") for n in range(people)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def delivered(standin: SlackStandIn) -> Counter[str]:
    return Counter(c.args["channel"] for c in standin.calls_to("chat.postMessage"))


def doubled(counts: Counter[str]) -> list[str]:
    return [channel for channel, n in counts.items() if n > 1]


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    state: Callable[[], str] = lambda: "",
) -> None:
    """Poll for an outcome (messages arriving), not for a slot: the slot is already due.
    On a timeout, `state` says where things stood (a rare failure is read from CI's log)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; {state()}")
        time.sleep(0.05)


def log_state(db: Database) -> str:
    with db.session() as session:
        statuses = session.execute(
            select(NudgeLog.status, func.count()).group_by(NudgeLog.status)
        ).all()
    return f"nudge log by status: {dict((status, n) for status, n in statuses)}"


def test_two_tick_processes_at_once_send_each_once(
    postgres_db: Database, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    for who in everyone(300):
        opt_in(postgres_db, who, "UTC", before)
    env = {
        **os.environ,
        "DATABASE_URL": postgres_db.url,
        "SLACK_API_URL": standin.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "unused-here",
        "NUDGE_RATE_PER_SECOND": "50",
    }
    command = [sys.executable, "-m", "bot.cli", "tick", "--at", "2026-11-25T10:00:00+00:00"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    counts = delivered(standin)
    assert len(counts) == 300 and set(counts.values()) == {1}, (
        f"{len(counts)} of 300 got a DM, {doubled(counts)} more than one; "
        f"the ticks said: {[out.decode() for out, _ in outputs]}"
    )


def due_now(db: Database) -> None:
    """Everyone opted in, each with a nudge due half a minute ago on the real clock."""
    now = datetime.now(UTC)
    for who in everyone():
        opt_in(db, who, "UTC", now)
    slot = now - timedelta(seconds=30)
    with db.session() as session:
        session.execute(update(Person).values(next_slot_at=slot, next_nudge_at=slot))


class Replicas:
    """`psoas-bot run` processes, as a Deployment with several replicas runs them."""

    def __init__(self, db: Database, standin: SlackStandIn, logs: Path, count: int) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": db.url,
            "SLACK_API_URL": standin.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "TICK_SECONDS": "5",  # the shortest the settings allow
            "CLAIM_LEASE_SECONDS": "2",
            "NUDGE_RATE_PER_SECOND": "50",
        }
        self.logs = [logs / f"replica-{i}.log" for i in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []
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
    due_now(postgres_db)
    group = Replicas(postgres_db, standin, tmp_path, count=3)
    yield group
    codes = group.stop()
    logs = group.log_text()
    # Every running replica stopped cleanly on SIGTERM.
    assert set(codes) == {0}, f"exit codes {codes}; replicas' logs:\n{logs[-4000:]}"
    assert SIGNING_SECRET not in logs and BOT_TOKEN not in logs


def all_sent(db: Database) -> bool:
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(NudgeLog))
        sent = session.scalar(select(func.count()).where(NudgeLog.status == "sent"))
    return total == sent == PEOPLE


def test_three_replicas_send_each_nudge_once(
    replicas: Replicas, postgres_db: Database, standin: SlackStandIn
) -> None:
    wait_until(
        lambda: all_sent(postgres_db),
        60,
        f"{PEOPLE} nudges recorded as sent",
        lambda: f"{log_state(postgres_db)}; replicas' logs:\n{replicas.log_text()[-4000:]}",
    )
    counts = delivered(standin)
    assert len(counts) == PEOPLE and set(counts.values()) == {1}, (
        f"{len(counts)} of {PEOPLE} got a DM, {doubled(counts)} more than one"
    )
    with postgres_db.session() as session:
        # Nothing is left due: no later pass can send any of them again.
        assert session.scalar(select(func.min(Person.next_nudge_at))) > datetime.now(UTC)


class Hold:
    """Slack that stops answering chat.postMessage after the first `after` messages until
    released: whoever is sending is caught mid-pass with messages in flight."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.seen = 0
        self.lock = threading.Lock()
        self.holding = threading.Event()
        self.released = threading.Event()

    def __call__(self, call: Call) -> None:
        if call.method != "chat.postMessage":
            return None
        with self.lock:
            self.seen += 1
            hold = self.seen > self.after
        if hold:
            self.holding.set()
            self.released.wait(timeout=60)
        return None  # then answer as Slack does: the message is posted


def test_a_replica_killed_mid_pass_still_sends_each_nudge_once(
    replicas: Replicas, postgres_db: Database, standin: SlackStandIn
) -> None:
    # One bot token for every replica: an internal single-workspace app, which Slack exempts
    # from the 2025 limit of one conversations.history call a minute
    # (https://docs.slack.dev/reference/methods/conversations.history), so every survivor's
    # check of a DM can be read.
    standin.history_limited = False
    hold = Hold(after=40)
    standin.responder = hold
    assert hold.holding.wait(timeout=60), "no pass got under way"
    with postgres_db.session() as session:
        owner = session.scalar(
            select(NudgeLog.claimed_by).where(NudgeLog.status == "claimed").limit(1)
        )
    assert owner is not None, log_state(postgres_db)
    pid = int(owner.split(":")[1])  # host:pid:process id
    victim = next(p for p in replicas.processes if p.pid == pid)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    with postgres_db.session() as session:
        unsent = session.scalar(select(func.count()).where(NudgeLog.status == "claimed"))
    assert unsent > 0  # it really died with work in hand
    # Slack still posts what reached it before the process died; the process never heard.
    hold.released.set()
    wait_until(
        lambda: all_sent(postgres_db),
        60,
        "the survivors to finish the pass",
        lambda: f"{log_state(postgres_db)}; replicas' logs:\n{replicas.log_text()[-4000:]}",
    )
    counts = delivered(standin)
    assert len(counts) == PEOPLE, f"{len(counts)} of {PEOPLE} got a DM"
    assert doubled(counts) == [], replicas.log_text()[-4000:]
    # The survivors looked in the DMs before resending what the dead process had claimed.
    assert standin.calls_to("conversations.history")
