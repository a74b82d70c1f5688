"""Start-up settings and the one error handler: clear messages, no stack traces to users."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from slack_bolt import App

from bot.settings import SettingsError, load_settings
from tests.conftest import RunningBot, dispatch
from tests.support.slack import SIGNING_SECRET, command_body


def run_bot(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_missing_signing_secret_stops_start_up_naming_it() -> None:
    result = run_bot({"SLACK_BOT_TOKEN": "xoxb-1"})
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_values_are_named_without_echoing_secrets() -> None:
    result = run_bot(
        {"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "secret-token-value", "PORT": "http"}
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is invalid" in result.stderr and "PORT is invalid" in result.stderr
    assert "secret-token-value" not in result.stderr


def test_api_url_gets_its_trailing_slash() -> None:
    settings = load_settings(
        slack_signing_secret="s", slack_bot_token="xoxb-1", slack_api_url="http://127.0.0.1:1/api"
    )
    assert settings.slack_api_url == "http://127.0.0.1:1/api/"
    with pytest.raises(SettingsError, match="SLACK_API_URL is invalid"):
        load_settings(slack_signing_secret="s", slack_bot_token="xoxb-1", slack_api_url="slack")


def test_a_failing_listener_gives_a_short_apology(app: App, caplog, monkeypatch) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("boom in the core")

    monkeypatch.setattr("bot.slack.listeners.commands.psoas.parse_command", explode)
    response = dispatch(app, command_body("half-kneel"))
    assert response.status == 200
    assert "Sorry, something went wrong" in response.body
    assert "boom" not in response.body and "Traceback" not in response.body
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


def test_signing_secret_never_reaches_the_log(bot: RunningBot, caplog) -> None:
    bot.command("half-kneel")
    bot.command("pizza")
    assert all(SIGNING_SECRET not in r.getMessage() for r in caplog.records)
