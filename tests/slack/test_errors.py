"""The one error handler: a listener that fails is logged with its trace, and the person
gets a short apology where they asked, never the trace."""

from __future__ import annotations

import logging

import pytest

from bot import ids
from tests.support.bots import Bot
from tests.support.slack import block_actions


def explode(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom in the core")


@pytest.mark.listener_fails
def test_a_failing_command_gives_a_short_apology(
    slack: Bot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.slack.listeners.commands.psoas.parse_command", explode)
    response = slack.command("half-kneel")
    assert response.status_code == 200
    assert "Sorry, something went wrong" in response.json()["text"]
    assert "boom" not in response.text and "Traceback" not in response.text
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "RuntimeError" in failure.getMessage() and failure.exc_info is not None


@pytest.mark.listener_fails
def test_a_failing_button_apologises_in_the_conversation(
    slack: Bot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.slack.listeners.actions.exercise.reply_to", explode)
    action = {"action_id": ids.ACTION_SHOW_EXERCISE, "type": "button", "value": "march"}
    response = slack.click(block_actions(action, response_url=slack.standin.response_url()))
    assert response.status_code == 200  # acknowledged: Slack shows no error of its own
    [apology] = slack.standin.calls_to("response_url")
    assert "Sorry, something went wrong" in apology.args["text"]
    assert apology.args["replace_original"] is False  # the message clicked stays as it was
    assert "boom" not in str(apology.args)
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)
