"""Team stretch breaks with several passes at once on one PostgreSQL database: each channel's
break is posted once, by whichever pass inserted its log row for that day.

Three `psoas-bot tick` processes at the same instant, as three replicas' schedulers would
run them, and three passes in threads of one process; many channels, so the passes really
overlap instead of one finishing before the next starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import time

import pytest
from sqlalchemy import func, select

from bot.core.content import Library
from bot.core.team import SetTeam
from bot.data.database import Database
from bot.data.models import TeamBreakLog
from bot.data.people import Who
from bot.data.team_breaks import set_break
from bot.engine.tick import run_tick
from tests.support.people import utc
from tests.support.slack import BOT_TOKEN
from tests.support.standin import SlackStandIn
from tests.support.team import team_breaks_in, team_sender

CHANNELS = 40
WORKSPACES = 4
SET_AT = utc(2026, 11, 25, 14)
BREAK_AT = utc(2026, 11, 25, 15)


def channels_with_breaks(db: Database, standin: SlackStandIn) -> list[str]:
    """A 15:00 UTC break in each of CHANNELS channels over WORKSPACES workspaces."""
    channels = []
    for n in range(CHANNELS):
        channel = f"C{n:04d}"
        standin.join(channel)
        who = Who(f"T{n % WORKSPACES}", "U0001")
        set_break(db, who, channel, SetTeam(time(15)), tz="UTC", now=SET_AT)
        channels.append(channel)
    return channels


def posts_per_channel(standin: SlackStandIn, channels: list[str]) -> Counter[str]:
    return Counter({c: len(team_breaks_in(standin, c)) for c in channels})


def test_three_tick_processes_at_once_post_each_break_once(
    postgres_db: Database, standin: SlackStandIn
) -> None:
    channels = channels_with_breaks(postgres_db, standin)
    env = {
        **os.environ,
        "DATABASE_URL": postgres_db.url,
        "SLACK_API_URL": standin.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "unused-here",
        "NUDGE_RATE_PER_SECOND": "50",
    }
    command = [sys.executable, "-m", "bot.cli", "tick", "--at", BREAK_AT.isoformat()]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    counts = posts_per_channel(standin, channels)
    assert set(counts.values()) == {1}, counts
    with postgres_db.session() as session:
        statuses = session.execute(
            select(TeamBreakLog.status, func.count()).group_by(TeamBreakLog.status)
        ).all()
    assert dict(statuses) == {"sent": CHANNELS}


def test_three_passes_in_threads_post_each_break_once(
    postgres_db: Database,
    standin: SlackStandIn,
    library: Library,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channels = channels_with_breaks(postgres_db, standin)
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def one_pass(worker: str) -> None:
        try:
            start.wait(timeout=10)
            run_tick(postgres_db, team_sender(standin), library, now=BREAK_AT, worker=worker)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=one_pass, args=(f"replica-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert not [r for r in caplog.records if "team breaks failed" in r.getMessage()]
    assert set(posts_per_channel(standin, channels).values()) == {1}
    with postgres_db.session() as session:
        claimed_by = session.scalars(select(TeamBreakLog.claimed_by)).all()
    assert len(claimed_by) == CHANNELS
