"""Buttons on exercise lists and the App Home tab, dispatched as Slack sends them."""

from __future__ import annotations

from bot import ids
from bot.core.content import Library
from tests.conftest import RunningBot
from tests.support.slack import (
    action_body,
    assert_valid_message,
    assert_valid_view,
    block_actions,
    event_body,
    signed_headers,
)


def click(bot: RunningBot, payload: dict) -> None:
    body = action_body(payload)
    response = bot.post(body, signed_headers(body))
    assert response.status_code == 200


def test_list_button_posts_the_exercise_and_keeps_the_list(bot: RunningBot) -> None:
    action = {"action_id": ids.ACTION_SHOW_EXERCISE, "type": "button", "value": "march"}
    click(bot, block_actions(action, response_url=bot.standin.response_url()))
    [call] = bot.standin.wait_for("response_url")
    assert_valid_message(call.args)
    assert call.args["blocks"][0]["text"]["text"] == "March"
    assert call.args["replace_original"] is False
    assert call.args["response_type"] == "ephemeral"


def test_did_you_mean_button_replaces_the_question(bot: RunningBot) -> None:
    payload = bot.command("leg").json()  # two exercises have "leg" in their names
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    offered = [button["value"] for button in actions["elements"]]
    assert offered == ["leg-dangle", "bending-leg-lift"]
    second = actions["elements"][1]
    click(bot, block_actions(second, response_url=bot.standin.response_url()))
    [call] = bot.standin.wait_for("response_url")
    assert call.args["replace_original"] is True
    assert_valid_message(call.args)
    assert call.args["blocks"][0]["text"]["text"] == "Bending leg lift"


def test_stale_button_for_a_removed_exercise_answers_with_the_list(bot: RunningBot) -> None:
    action = {"action_id": ids.ACTION_SHOW_EXERCISE, "type": "button", "value": "headstand"}
    click(bot, block_actions(action, response_url=bot.standin.response_url()))
    [call] = bot.standin.wait_for("response_url")
    assert "I don't know `headstand`" in str(call.args["blocks"])


def test_home_tab_publishes_the_library(bot: RunningBot, library: Library) -> None:
    body = event_body({"type": "app_home_opened", "user": "U0001", "tab": "home"})
    assert bot.post(body, signed_headers(body, json_body=True)).status_code == 200
    [call] = bot.standin.wait_for("views.publish")
    assert call.args["user_id"] == "U0001"
    assert call.token == "xoxb-test-bot-token-5c1d"
    assert_valid_view(call.args["view"])
    slugs = [b["accessory"]["value"] for b in call.args["view"]["blocks"] if "accessory" in b]
    assert slugs == library.slugs


def test_home_button_opens_the_exercise_in_a_modal(bot: RunningBot) -> None:
    action = {"action_id": ids.ACTION_SHOW_EXERCISE, "type": "button", "value": "leg-dangle"}
    click(bot, block_actions(action, container={"type": "view", "view_id": "V1"}))
    [call] = bot.standin.wait_for("views.open")
    assert call.args["trigger_id"] == "4.5.6"
    assert_valid_view(call.args["view"])
    assert call.args["view"]["blocks"][0]["text"]["text"] == "Leg dangle"
