"""Buttons on exercise messages, lists and the Home tab, dispatched as Slack sends them."""

from __future__ import annotations

from sqlalchemy import func, select

from bot import ids
from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import Completion
from tests.support.bots import Bot
from tests.support.slack import assert_valid_message, assert_valid_view, block_actions
from tests.support.standin import Call, error


def completions(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Completion)) or 0


def click(slack: Bot, payload: dict) -> list[Call]:
    """Press a button; what reached the stand-in's `response_url`, each checked as Slack would."""
    assert slack.click(payload).status_code == 200
    calls = slack.standin.calls_to("response_url")
    slack.standin.reset()
    for call in calls:
        assert_valid_message(call.args)
    return calls


def exercise_click(slack: Bot, action_id: str, value: str, ts: str = "1.0001") -> list[Call]:
    """A button on an ephemeral exercise message in #general."""
    payload = block_actions(
        {"action_id": action_id, "type": "button", "value": value},
        response_url=slack.standin.response_url(),
        container={"type": "message", "message_ts": ts, "is_ephemeral": True},
    )
    payload["channel"] = {"id": "C0001", "name": "general"}
    return click(slack, payload)


def test_list_button_posts_the_exercise_and_keeps_the_list(slack: Bot) -> None:
    action = {"action_id": ids.ACTION_SHOW_EXERCISE, "type": "button", "value": "march"}
    [call] = click(slack, block_actions(action, response_url=slack.standin.response_url()))
    assert call.args["blocks"][0]["text"]["text"] == "March"
    assert call.args["replace_original"] is False
    assert call.args["response_type"] == "ephemeral"


def test_did_you_mean_button_replaces_the_question(slack: Bot) -> None:
    payload = slack.command("leg").shown()  # two exercises have "leg" in their names
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    offered = [button["value"] for button in actions["elements"]]
    assert offered == ["leg-dangle", "bending-leg-lift"]
    second = actions["elements"][1]
    [call] = click(slack, block_actions(second, response_url=slack.standin.response_url()))
    assert call.args["replace_original"] is True
    assert call.args["blocks"][0]["text"]["text"] == "Bending leg lift"


def test_stale_button_for_a_removed_exercise_answers_with_the_list(
    slack: Bot, library: Library
) -> None:
    action = {"action_id": ids.ACTION_SHOW_EXERCISE, "type": "button", "value": "headstand"}
    [call] = click(slack, block_actions(action, response_url=slack.standin.response_url()))
    assert "I don't know `headstand`" in str(call.args["blocks"])
    offered = [b["accessory"]["value"] for b in call.args["blocks"] if "accessory" in b]
    assert offered == library.slugs


def test_home_button_opens_the_exercise_in_a_modal(slack: Bot) -> None:
    action = {"action_id": ids.ACTION_SHOW_EXERCISE, "type": "button", "value": "leg-dangle"}
    trigger = slack.standin.issue_trigger()  # Slack's, in the payload of the click
    payload = block_actions(action, container={"type": "view", "view_id": "V1"}, trigger_id=trigger)
    assert slack.click(payload).status_code == 200
    [call] = slack.standin.calls_to("views.open")
    assert call.args["trigger_id"] == trigger
    assert_valid_view(call.args["view"])
    assert call.args["view"]["blocks"][0]["text"]["text"] == "Leg dangle"


def test_exercise_message_offers_guided_did_it_and_share(slack: Bot) -> None:
    payload = slack.command("half-kneel").shown()
    actions = payload["blocks"][-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        ids.ACTION_START_GUIDED,
        ids.ACTION_DID_IT,
        ids.ACTION_SHARE_EXERCISE,
    ]


def test_guided_walkthrough_steps_back_and_forth_then_counts(
    slack: Bot, db: Database, library: Library
) -> None:
    kneel = library.get("half-kneel")
    total = len(kneel.steps)
    [step] = exercise_click(slack, ids.ACTION_START_GUIDED, "half-kneel")
    assert step.args["replace_original"] is True
    assert step.args["blocks"][0]["text"]["text"] == f"Half kneel: step 1 of {total}"
    buttons = {e["action_id"]: e["value"] for e in step.args["blocks"][-1]["elements"]}
    assert ids.ACTION_GUIDED_BACK not in buttons  # nothing before step 1
    [step] = exercise_click(slack, ids.ACTION_GUIDED_NEXT, buttons[ids.ACTION_GUIDED_NEXT])
    assert step.args["blocks"][0]["text"]["text"] == f"Half kneel: step 2 of {total}"
    assert kneel.steps[1].do in step.args["text"]
    buttons = {e["action_id"]: e["value"] for e in step.args["blocks"][-1]["elements"]}
    [step] = exercise_click(slack, ids.ACTION_GUIDED_BACK, buttons[ids.ACTION_GUIDED_BACK])
    assert step.args["blocks"][0]["text"]["text"] == f"Half kneel: step 1 of {total}"
    [last] = exercise_click(slack, ids.ACTION_GUIDED_NEXT, f"half-kneel:{total - 1}")
    last_buttons = [e["action_id"] for e in last.args["blocks"][-1]["elements"]]
    assert last_buttons == [ids.ACTION_GUIDED_BACK, ids.ACTION_GUIDED_DONE]  # no Next at the end
    # A step with its own hold shows it.
    lift = library.get("bending-leg-lift")
    held = next(i for i, step in enumerate(lift.steps) if step.hold)
    [step] = exercise_click(slack, ids.ACTION_GUIDED_NEXT, f"bending-leg-lift:{held}")
    assert lift.steps[held].hold in str(step.args["blocks"])
    [done] = exercise_click(slack, ids.ACTION_GUIDED_DONE, f"half-kneel:{total - 1}")
    assert "Half kneel done" in done.args["text"] and "Today: 1" in done.args["text"]
    exercise_click(slack, ids.ACTION_GUIDED_DONE, f"half-kneel:{total - 1}")  # pressed twice
    assert completions(db) == 1


def test_i_did_it_counts_once_per_message(slack: Bot, db: Database) -> None:
    [first] = exercise_click(slack, ids.ACTION_DID_IT, "march", ts="2.0001")
    assert "Logged *March*" in first.args["blocks"][0]["text"]["text"]
    [second] = exercise_click(slack, ids.ACTION_DID_IT, "march", ts="2.0001")
    assert "Already counted" in second.args["text"]
    exercise_click(slack, ids.ACTION_DID_IT, "march", ts="3.0001")  # a new message
    assert completions(db) == 2
    stats = slack.command("stats").shown()
    assert "*Today:* 2" in str(stats["blocks"]) and "*Most done:* March" in str(stats["blocks"])


def test_share_posts_visibly_with_who_shared_it(slack: Bot) -> None:
    payload = block_actions(
        {"action_id": ids.ACTION_SHARE_EXERCISE, "type": "button", "value": "leg-dangle"},
        response_url=slack.standin.response_url(),
    ) | {"channel": {"id": "C0001"}}
    slack.standin.join("C0001")  # Slack posts only where the bot is a member
    assert slack.click(payload).status_code == 200
    # The post itself reaches chat.postMessage, then the person gets a confirmation.
    sent = [c.method for c in slack.standin.calls if c.method != "auth.test"]
    assert sent == ["chat.postMessage", "response_url"]
    [post] = slack.standin.calls_to("chat.postMessage")
    assert post.args["channel"] == "C0001"
    assert_valid_message(post.args)
    assert "Shared by <@U0001>" in str(post.args["blocks"])
    [confirmation] = slack.standin.calls_to("response_url")
    assert_valid_message(confirmation.args)
    assert "Shared *Leg dangle*" in confirmation.args["blocks"][0]["text"]["text"]


def test_share_where_the_bot_is_not_a_member_explains_how(slack: Bot) -> None:
    slack.standin.script("chat.postMessage", error("not_in_channel"))
    [reply] = exercise_click(slack, ids.ACTION_SHARE_EXERCISE, "march")
    assert "/invite @psoas-bot" in reply.args["text"]
