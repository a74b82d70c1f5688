"""Buttons dispatched as Slack sends them, over signed HTTP, answered through the stand-in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot import ids
from bot.core.changes import TurnOn
from bot.data.database import Database
from bot.data.models import Completion, Person
from bot.data.people import Who, change_preferences, forget, read_preferences
from bot.engine.sender import Sender
from bot.engine.tick import run_tick
from tests.conftest import Clock, RunningBot
from tests.support.slack import (
    BOT_TOKEN,
    action_body,
    assert_valid_message,
    assert_valid_view,
    block_actions,
    event_body,
    signed_headers,
)
from tests.support.standin import error

WEDNESDAY_0930 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
WHO = Who("T0001", "U0001")


def completions(db: Database, who: Who = WHO) -> int:
    with db.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(Completion)
            .where(Completion.team_id == who.team_id, Completion.user_id == who.user_id)
        )


@pytest.fixture
def nudge(bot: RunningBot, db: Database, library, clock: Clock) -> dict:
    """A real nudge DM for U0001 at 10:00 UTC, as the engine sent it to the stand-in."""
    change_preferences(db, WHO, TurnOn(), now=WEDNESDAY_0930, timezone_of=lambda: "UTC")
    sender = Sender(api_url=bot.standin.api_url, token_for=lambda _: BOT_TOKEN)
    ten = WEDNESDAY_0930 + timedelta(minutes=30)
    assert run_tick(db, sender, library, now=ten).sent == 1
    [call] = bot.standin.calls_to("chat.postMessage")
    bot.standin.reset()
    clock.fixed = ten + timedelta(minutes=2)
    return call.args


def press(bot: RunningBot, nudge: dict, action_id: str, *, team: str = "T0001") -> list:
    actions = next(b for b in nudge["blocks"] if b["type"] == "actions")
    button = next(e for e in actions["elements"] if e["action_id"] == action_id)
    payload = block_actions(
        button,
        team=team,
        response_url=bot.standin.response_url(),
        container={"type": "message", "message_ts": "1700000000.000100", "channel_id": "D1"},
        message={"ts": "1700000000.000100", "channel": "D1", **nudge},
    )
    body = action_body(payload)
    assert bot.post(body, signed_headers(body)).status_code == 200
    calls = bot.standin.wait_for("response_url")
    bot.standin.reset()
    for call in calls:
        assert_valid_message(call.args)
    return calls


def test_done_counts_once_and_updates_the_nudge_in_place(bot, nudge, db) -> None:
    [update] = press(bot, nudge, ids.ACTION_NUDGE_DONE)
    assert update.args["replace_original"] is True
    assert "Done:" in update.args["text"] and "Today: 1" in update.args["text"]
    assert not any(b["type"] == "actions" for b in update.args["blocks"])
    [again] = press(bot, nudge, ids.ACTION_NUDGE_DONE)  # a double click
    assert again.args["replace_original"] is False
    assert "already answered this nudge (done)" in again.args["text"]
    assert completions(db) == 1


def test_snooze_an_hour_from_the_nudge(bot, nudge, db, clock) -> None:
    [update] = press(bot, nudge, ids.ACTION_NUDGE_SNOOZE_HOUR)
    assert "Snoozed until today 11:02" in update.args["text"]
    assert read_preferences(db, WHO).snoozed_until == clock.fixed + timedelta(hours=1)
    [again] = press(bot, nudge, ids.ACTION_NUDGE_SKIP_TODAY)
    assert "already answered" in again.args["text"]
    assert completions(db) == 0


def test_skip_today_snoozes_until_local_midnight(bot, nudge, db) -> None:
    [update] = press(bot, nudge, ids.ACTION_NUDGE_SKIP_TODAY)
    assert "Skipped for today" in update.args["text"]
    prefs = read_preferences(db, WHO)
    assert prefs.snoozed_until == datetime(2026, 11, 26, tzinfo=UTC)
    assert prefs.next_nudge_at == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_show_me_how_posts_the_suggested_exercise(bot, nudge, library) -> None:
    [shown] = press(bot, nudge, ids.ACTION_NUDGE_SHOW_ME)
    assert shown.args["replace_original"] is False
    slug = next(b for b in nudge["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    title = library.get(slug.split(":")[1]).title
    assert shown.args["blocks"][0]["text"]["text"] == title


def test_a_click_from_another_workspace_is_rejected(bot, nudge, db) -> None:
    [reply] = press(bot, nudge, ids.ACTION_NUDGE_DONE, team="T9999")
    assert "can't find this nudge" in reply.args["text"]
    assert completions(db, Who("T9999", "U0001")) == 0 and completions(db) == 0
    with db.session() as session:
        assert session.get(Person, ("T9999", "U0001")) is None


def test_a_click_after_forget_me_stores_nothing(bot, nudge, db) -> None:
    forget(db, WHO)
    [reply] = press(bot, nudge, ids.ACTION_NUDGE_DONE)
    assert "can't find this nudge" in reply.args["text"]
    assert read_preferences(db, WHO) is None and completions(db) == 0


def exercise_click(bot: RunningBot, action_id: str, value: str, ts: str = "1.0001") -> list:
    payload = block_actions(
        {"action_id": action_id, "type": "button", "value": value},
        response_url=bot.standin.response_url(),
        container={"type": "message", "message_ts": ts, "is_ephemeral": True},
    )
    payload["channel"] = {"id": "C0001", "name": "general"}
    body = action_body(payload)
    assert bot.post(body, signed_headers(body)).status_code == 200
    calls = bot.standin.wait_for("response_url")
    bot.standin.reset()
    for call in calls:
        assert_valid_message(call.args)
    return calls


def test_exercise_message_offers_guided_did_it_and_share(bot: RunningBot) -> None:
    payload = bot.command("half-kneel").json()
    actions = payload["blocks"][-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        ids.ACTION_START_GUIDED,
        ids.ACTION_DID_IT,
        ids.ACTION_SHARE_EXERCISE,
    ]


def test_guided_walkthrough_steps_back_and_forth_then_counts(bot, db, library) -> None:
    kneel = library.get("half-kneel")
    total = len(kneel.steps)
    [step] = exercise_click(bot, ids.ACTION_START_GUIDED, "half-kneel")
    assert step.args["replace_original"] is True
    assert step.args["blocks"][0]["text"]["text"] == f"Half kneel: step 1 of {total}"
    buttons = {e["action_id"]: e["value"] for e in step.args["blocks"][-1]["elements"]}
    assert ids.ACTION_GUIDED_BACK not in buttons  # nothing before step 1
    [step] = exercise_click(bot, ids.ACTION_GUIDED_NEXT, buttons[ids.ACTION_GUIDED_NEXT])
    assert step.args["blocks"][0]["text"]["text"] == f"Half kneel: step 2 of {total}"
    assert kneel.steps[1].do in step.args["text"]
    buttons = {e["action_id"]: e["value"] for e in step.args["blocks"][-1]["elements"]}
    [step] = exercise_click(bot, ids.ACTION_GUIDED_BACK, buttons[ids.ACTION_GUIDED_BACK])
    assert step.args["blocks"][0]["text"]["text"] == f"Half kneel: step 1 of {total}"
    [last] = exercise_click(bot, ids.ACTION_GUIDED_NEXT, f"half-kneel:{total - 1}")
    last_buttons = [e["action_id"] for e in last.args["blocks"][-1]["elements"]]
    assert last_buttons == [ids.ACTION_GUIDED_BACK, ids.ACTION_GUIDED_DONE]  # no Next at the end
    # A step with its own hold shows it.
    lift = library.get("bending-leg-lift")
    held = next(i for i, step in enumerate(lift.steps) if step.hold)
    [step] = exercise_click(bot, ids.ACTION_GUIDED_NEXT, f"bending-leg-lift:{held}")
    assert lift.steps[held].hold in str(step.args["blocks"])
    [done] = exercise_click(bot, ids.ACTION_GUIDED_DONE, f"half-kneel:{total - 1}")
    assert "Half kneel done" in done.args["text"] and "Today: 1" in done.args["text"]
    exercise_click(bot, ids.ACTION_GUIDED_DONE, f"half-kneel:{total - 1}")  # pressed twice
    assert completions(db) == 1


def test_i_did_it_counts_once_per_message(bot, db) -> None:
    [first] = exercise_click(bot, ids.ACTION_DID_IT, "march", ts="2.0001")
    assert "Logged *March*" in first.args["blocks"][0]["text"]["text"]
    [second] = exercise_click(bot, ids.ACTION_DID_IT, "march", ts="2.0001")
    assert "Already counted" in second.args["text"]
    exercise_click(bot, ids.ACTION_DID_IT, "march", ts="3.0001")  # a new message
    assert completions(db) == 2
    stats = bot.command("stats").json()
    assert "*Today:* 2" in str(stats["blocks"]) and "*Most done:* March" in str(stats["blocks"])


def test_share_posts_visibly_with_who_shared_it(bot) -> None:
    calls = exercise_click(bot, ids.ACTION_SHARE_EXERCISE, "leg-dangle")
    assert "Shared *Leg dangle*" in calls[0].args["blocks"][0]["text"]["text"]
    # The post itself reached chat.postMessage before the confirmation.
    body = action_body(
        block_actions(
            {"action_id": ids.ACTION_SHARE_EXERCISE, "type": "button", "value": "leg-dangle"},
            response_url=bot.standin.response_url(),
        )
        | {"channel": {"id": "C0001"}}
    )
    bot.post(body, signed_headers(body))
    [post] = bot.standin.wait_for("chat.postMessage")
    assert post.args["channel"] == "C0001"
    assert_valid_message(post.args)
    assert "Shared by <@U0001>" in str(post.args["blocks"])


def test_share_where_the_bot_is_not_a_member_explains_how(bot) -> None:
    bot.standin.script("chat.postMessage", error("not_in_channel"))
    [reply] = exercise_click(bot, ids.ACTION_SHARE_EXERCISE, "march")
    assert "/invite @psoas-bot" in reply.args["text"]


def test_export_sends_everything_as_a_json_file(bot, db) -> None:
    bot.command("on")
    exercise_click(bot, ids.ACTION_DID_IT, "march")
    reply = bot.command("export").json()
    assert "arrives as a file" in reply["text"]
    [upload] = bot.standin.wait_for("file_upload")
    [complete] = bot.standin.wait_for("files.completeUploadExternal")
    exported = json.loads(upload.args["body"])
    assert exported["user"] == "U0001" and exported["preferences"]["opted_in"] is True
    assert [c["exercise"] for c in exported["completions"]] == ["march"]
    assert complete.args.get("channel_id") == "D0001"  # the DM conversations.open gave


def test_forget_me_deletes_completions_too(bot, db) -> None:
    bot.command("on")
    exercise_click(bot, ids.ACTION_DID_IT, "march")
    assert completions(db) == 1
    forget(db, WHO)
    assert completions(db) == 0


def test_home_tab_shows_the_stats(bot, db) -> None:
    exercise_click(bot, ids.ACTION_DID_IT, "march")
    body = event_body({"type": "app_home_opened", "user": "U0001", "tab": "home"})
    bot.post(body, signed_headers(body, json_body=True))
    [publish] = bot.standin.wait_for("views.publish")
    assert_valid_view(publish.args["view"])
    assert "*Your movement*\\nToday: 1" in str(publish.args["view"]["blocks"])
