"""What an operator sees from the command line: start-up while the database is down, a clean
stop on SIGTERM, and the content check. (Metrics and the health check: tests/slack/test_http.py.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.content import broken_copy
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET


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
            "DATABASE_WAIT_SECONDS": "1",
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


def test_content_check_command(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "bot.cli", "content", "check"], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "5 exercises" in ok.stdout
    content = broken_copy(tmp_path, "march", "steps:", "stepz:")
    bad = subprocess.run(
        [sys.executable, "-m", "bot.cli", "content", "check", "--content-dir", str(content)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "march.yaml" in bad.stderr and "steps" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_content_check_also_checks_what_a_status_means(tmp_path: Path) -> None:
    content = broken_copy(tmp_path, "march", "steps:", "steps:")  # a copy, unchanged
    presence = content / "presence.yaml"
    presence.write_text(presence.read_text().replace("\nbusy:", "\nbussy:", 1))
    bad = subprocess.run(
        [sys.executable, "-m", "bot.cli", "content", "check", "--content-dir", str(content)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "presence.yaml" in bad.stderr and "Traceback" not in bad.stderr
