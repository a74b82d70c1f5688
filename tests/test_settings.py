"""Start-up settings: a missing or malformed variable stops the bot with a message naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import SettingsError, load_settings


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


def test_a_malformed_encryption_key_stops_start_up_naming_it() -> None:
    with pytest.raises(SettingsError, match="TOKEN_ENCRYPTION_KEY is invalid"):
        load_settings(
            slack_signing_secret="s",
            slack_client_id="1111.2222",
            slack_client_secret="x",
            token_encryption_key="not-a-fernet-key",
        )


def test_socket_mode_and_tick_need_no_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    socket_mode = load_settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1")
    assert socket_mode.slack_signing_secret is None
    assert load_settings(slack_bot_token="xoxb-1", serving=False).slack_signing_secret is None
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is not set: HTTP mode"):
        load_settings(slack_bot_token="xoxb-1")


def test_messages_carry_no_pydantic_prefix() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(slack_signing_secret="s", slack_bot_token="xoxb-1", slack_app_token="x")
    assert str(raised.value) == "SLACK_APP_TOKEN is invalid: an app-level token starts with 'xapp-'"
