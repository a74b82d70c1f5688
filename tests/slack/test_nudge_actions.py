"""The buttons on a nudge DM, pressed as Slack sends them: each answers once, in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot import ids
from bot.core.changes import TurnOn
from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import Completion, Person
from bot.data.people import Who, change_preferences, forget, read_preferences
from bot.engine.sender import Sender
from bot.engine.tick import run_tick
from tests.support.bots import Bot
from tests.support.clock import Clock
from tests.support.slack import BOT_TOKEN, assert_valid_message, block_actions
from tests.support.standin import Call, SlackStandIn

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
def nudge(standin: SlackStandIn, db: Database, library: Library, clock: Clock) -> dict:
    """A real nudge DM for U0001 at 10:00 UTC, as the engine sent it to the stand-in."""
    change_preferences(db, WHO, TurnOn(), now=WEDNESDAY_0930, timezone_of=lambda: "UTC")
    sender = Sender(api_url=standin.api_url, token_for=lambda _: BOT_TOKEN)
    ten = WEDNESDAY_0930 + timedelta(minutes=30)
    assert run_tick(db, sender, library, now=ten).sent == 1
    [call] = standin.calls_to("chat.postMessage")
    standin.reset()
    clock.fixed = ten + timedelta(minutes=2)
    return call.args


def press(slack: Bot, nudge: dict, action_id: str, *, team: str = "T0001") -> list[Call]:
    actions = next(b for b in nudge["blocks"] if b["type"] == "actions")
    button = next(e for e in actions["elements"] if e["action_id"] == action_id)
    payload = block_actions(
        button,
        team=team,
        response_url=slack.standin.response_url(),
        container={"type": "message", "message_ts": "1700000000.000100", "channel_id": "D1"},
        message={"ts": "1700000000.000100", "channel": "D1", **nudge},
    )
    assert slack.click(payload).status_code == 200
    calls = slack.standin.calls_to("response_url")
    slack.standin.reset()
    assert calls, "the press was not answered"
    for call in calls:
        assert_valid_message(call.args)
    return calls


def test_done_counts_once_and_updates_the_nudge_in_place(slack: Bot, nudge, db) -> None:
    [update] = press(slack, nudge, ids.ACTION_NUDGE_DONE)
    assert update.args["replace_original"] is True
    assert "Done:" in update.args["text"] and "Today: 1" in update.args["text"]
    assert not any(b["type"] == "actions" for b in update.args["blocks"])
    [again] = press(slack, nudge, ids.ACTION_NUDGE_DONE)  # a double click
    assert again.args["replace_original"] is False
    assert "already answered this nudge (done)" in again.args["text"]
    assert completions(db) == 1


def test_snooze_an_hour_from_the_nudge(slack: Bot, nudge, db, clock: Clock) -> None:
    [update] = press(slack, nudge, ids.ACTION_NUDGE_SNOOZE_HOUR)
    assert "Snoozed until today 11:02" in update.args["text"]
    assert read_preferences(db, WHO).snoozed_until == clock.fixed + timedelta(hours=1)
    [again] = press(slack, nudge, ids.ACTION_NUDGE_SKIP_TODAY)
    assert "already answered" in again.args["text"]
    assert completions(db) == 0


def test_skip_today_snoozes_until_local_midnight(slack: Bot, nudge, db) -> None:
    [update] = press(slack, nudge, ids.ACTION_NUDGE_SKIP_TODAY)
    assert "Skipped for today" in update.args["text"]
    prefs = read_preferences(db, WHO)
    assert prefs.snoozed_until == datetime(2026, 11, 26, tzinfo=UTC)
    assert prefs.next_nudge_at == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_show_me_how_posts_the_suggested_exercise(slack: Bot, nudge, library: Library) -> None:
    [shown] = press(slack, nudge, ids.ACTION_NUDGE_SHOW_ME)
    assert shown.args["replace_original"] is False
    slug = next(b for b in nudge["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    title = library.get(slug.split(":")[1]).title
    assert shown.args["blocks"][0]["text"]["text"] == title


def test_a_click_from_another_workspace_is_rejected(slack: Bot, nudge, db) -> None:
    [reply] = press(slack, nudge, ids.ACTION_NUDGE_DONE, team="T9999")
    assert "can't find this nudge" in reply.args["text"]
    assert completions(db, Who("T9999", "U0001")) == 0 and completions(db) == 0
    with db.session() as session:
        assert session.get(Person, ("T9999", "U0001")) is None


def test_a_click_after_forget_me_stores_nothing(slack: Bot, nudge, db) -> None:
    forget(db, WHO)
    [reply] = press(slack, nudge, ids.ACTION_NUDGE_DONE)
    assert "can't find this nudge" in reply.args["text"]
    assert read_preferences(db, WHO) is None and completions(db) == 0
