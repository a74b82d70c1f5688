"""What an operator sees: metrics, start-up while the database is down, a clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import requests

from bot.core.changes import TurnOn
from bot.data.people import Who, change_preferences
from bot.engine.sender import Sender
from bot.engine.tick import run_tick
from tests.conftest import RunningBot
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_metrics_count_commands_nudges_and_the_backlog(bot: RunningBot, db, library) -> None:
    before = bot.session.get(bot.url + "/metrics").text
    bot.command("half-kneel")
    now = datetime(2026, 11, 25, 10, tzinfo=UTC)
    change_preferences(
        db, Who("T1", "U1"), TurnOn(), now=now - timedelta(minutes=30), timezone_of=lambda: "UTC"
    )
    sender = Sender(api_url=bot.standin.api_url, token_for=lambda _: BOT_TOKEN)
    run_tick(db, sender, library, now=now)
    response = bot.session.get(bot.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = response.text
    command = ("psoas_slack_request_seconds_count", '{kind="command"}')
    assert metric(after, *command) == metric(before, *command) + 1
    sent = ("psoas_nudges_sent_total", '{kind="nudge"}')
    assert metric(after, *sent) == metric(before, *sent) + 1
    assert metric(after, "psoas_due_backlog") == 0
    assert metric(after, "psoas_tick_duration_seconds_count") >= 1


def run_bot(env: dict[str, str], **kwargs) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE"))}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--host", "127.0.0.1"],
        env={**clean, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_start_up_waits_for_the_database_then_says_it_cannot_reach_it() -> None:
    process = run_bot(
        {
            "DATABASE_URL": "postgresql+psycopg://psoas@127.0.0.1:1/psoas",
            "DATABASE_WAIT_SECONDS": "2",
        }
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 3
    assert "waiting for the database" in output
    assert "cannot reach the database" in output
    assert "Traceback" not in output and SIGNING_SECRET not in output


def test_sigterm_stops_the_bot_cleanly(tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = run_bot(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "PORT": str(port)},
    )
    deadline = time.monotonic() + 60
    while True:  # wait for the server to answer, not for a fixed time
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the bot did not start"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopping" in output and "Traceback" not in output
