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
    [apology] = slack.standin.wait_for("response_url")
    assert "Sorry, something went wrong" in apology.args["text"]
    assert apology.args["replace_original"] is False  # the message clicked stays as it was
    assert "boom" not in str(apology.args)
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


def test_a_button_while_the_database_is_down_says_nothing_was_saved(
    slack_without_database: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = slack_without_database
    action = {"action_id": ids.ACTION_DID_IT, "type": "button", "value": "march"}
    response = bot.click(block_actions(action, response_url=bot.standin.response_url()))
    assert response.status_code == 200
    [answer] = bot.standin.wait_for("response_url")
    assert "can't reach my database" in answer.args["text"]
    assert answer.args["replace_original"] is False  # the exercise stays on screen
    # An expected bad day: one warning line naming it, no stack trace.
    [warning] = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert warning.levelno == logging.WARNING and warning.exc_info is None


def test_a_home_control_while_the_database_is_down_shows_it_on_the_tab(
    slack_without_database: Bot,
) -> None:
    bot = slack_without_database
    action = {
        "action_id": ids.ACTION_HOME_TOGGLE,
        "type": "button",
        "value": "on",
    }
    response = bot.click(block_actions(action, view={"type": "home", "id": "V1"}))
    assert response.status_code == 200
    [publish] = bot.standin.wait_for("views.publish")
    assert "can't reach my database" in str(publish.args["view"])


def test_an_event_while_the_database_is_down_is_logged_in_one_line(
    slack_without_database: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    user = {"id": "U0001", "team_id": "T0001", "tz": "Asia/Tokyo", "deleted": False}
    response = slack_without_database.event({"type": "user_change", "user": user})
    assert response.status_code == 503  # not handled: Slack delivers it again later
    [warning] = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
