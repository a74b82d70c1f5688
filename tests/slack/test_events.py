"""Events Slack sends the bot: the Home tab, and changes to a person's profile or Do Not
Disturb, dispatched as Slack sends them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import ids
from bot.core.changes import TurnOn
from bot.core.content import Library
from bot.data.database import Database
from bot.data.people import Who, change_preferences, read_preferences
from tests.slack.test_settings_commands import person, said
from tests.support.bots import Bot
from tests.support.clock import Clock
from tests.support.slack import BOT_TOKEN, assert_valid_view, block_actions

HOME = {"type": "app_home_opened", "user": "U0001", "tab": "home"}


def test_home_tab_publishes_the_library(slack: Bot, library: Library) -> None:
    assert slack.event(HOME).status_code == 200
    [call] = slack.standin.calls_to("views.publish")
    assert call.args["user_id"] == "U0001"
    assert call.token == BOT_TOKEN
    assert_valid_view(call.args["view"])
    slugs = [b["accessory"]["value"] for b in call.args["view"]["blocks"] if "accessory" in b]
    assert slugs == library.slugs


def test_home_tab_shows_the_stats(slack: Bot) -> None:
    did_it = {"action_id": ids.ACTION_DID_IT, "type": "button", "value": "march"}
    slack.click(block_actions(did_it, response_url=slack.standin.response_url()))
    slack.event(HOME)
    [publish] = slack.standin.calls_to("views.publish")
    assert_valid_view(publish.args["view"])
    assert "*Your movement*\\nToday: 1" in str(publish.args["view"]["blocks"])


def test_user_change_event_refreshes_the_time_zone(slack: Bot, db: Database) -> None:
    said(slack.command("on"))
    assert person(db).tz == "America/New_York"
    event = {"type": "user_change", "user": {"id": "U0001", "tz": "Asia/Kathmandu"}}
    assert slack.event(event).status_code == 200
    assert person(db).tz == "Asia/Kathmandu"
    assert "Asia/Kathmandu" in said(slack.command("status"))
    # An unknown zone name from a payload is ignored rather than stored.
    event["user"]["tz"] = "Mars/Olympus_Mons"
    assert slack.event(event).status_code == 200
    assert person(db).tz == "Asia/Kathmandu"


def test_a_deactivated_account_stops_its_nudges(slack: Bot, db: Database) -> None:
    who = Who("T0001", "U0001")
    change_preferences(
        db, who, TurnOn(), now=datetime(2026, 11, 25, 9, 30, tzinfo=UTC), timezone_of=lambda: "UTC"
    )
    event = {"type": "user_change", "user": {"id": "U0001", "deleted": True, "tz": "UTC"}}
    assert slack.event(event).status_code == 200
    prefs = read_preferences(db, who)
    assert prefs.stopped_reason == "account_inactive" and prefs.next_nudge_at is None


def test_do_not_disturb_is_read_once_then_kept_from_events(slack: Bot, clock: Clock) -> None:
    clock.fixed = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    standin = slack.standin
    standin.responder = lambda call: (
        (200, {"ok": True, "user": {"id": "U0001", "tz": "UTC"}}, {})
        if call.method == "users.info"
        else None
    )
    standin.script(
        "dnd.info",
        (
            200,
            {
                "ok": True,
                "dnd_enabled": True,
                "next_dnd_start_ts": datetime(2026, 11, 25, 9, 45, tzinfo=UTC).timestamp(),
                "next_dnd_end_ts": datetime(2026, 11, 25, 10, 15, tzinfo=UTC).timestamp(),
            },  # for another user than the caller, dnd.info has no snooze_* fields
            {},
        ),
    )
    said(slack.command("on"))
    assert len(standin.calls_to("dnd.info")) == 1
    assert "Next nudge: today 10:15" in said(slack.command("status"))  # 10:00 waits for DND
    said(slack.command("off"))
    said(slack.command("on"))
    assert len(standin.calls_to("dnd.info")) == 1  # known: no second call
    # The person turns DND off in Slack: the event restores the 10:00 slot. The event
    # carries only these fields (https://docs.slack.dev/reference/events/dnd_updated_user).
    event = {
        "type": "dnd_updated_user",
        "user": "U0001",
        "dnd_status": {"dnd_enabled": False, "next_dnd_start_ts": 1, "next_dnd_end_ts": 1},
    }
    assert slack.event(event).status_code == 200
    assert "Next nudge: today 10:00" in said(slack.command("status"))
