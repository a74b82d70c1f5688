"""Settings commands over signed HTTP: each changes exactly what it says, and `status` shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pytest
from slack_bolt import App
from sqlalchemy import select

from bot import ids
from bot.core.preferences import mask_to_days
from bot.data.database import Database
from bot.data.models import Person, Workspace
from bot.slack.app import build_app
from tests.conftest import RunningBot, dispatch
from tests.support.slack import (
    action_body,
    assert_valid_message,
    assert_valid_view,
    block_actions,
    command_body,
    event_body,
    signed_headers,
)
from tests.support.standin import SlackStandIn, error


def person(db: Database, team: str = "T0001", user: str = "U0001") -> Person | None:
    with db.session() as session:
        return session.scalars(
            select(Person).where(Person.team_id == team, Person.user_id == user)
        ).one_or_none()


def said(response) -> str:
    assert response.status_code == 200
    payload = response.json()
    assert payload["response_type"] == "ephemeral"
    assert_valid_message(payload)
    return payload["text"]


def test_nobody_is_stored_or_nudged_until_they_ask(bot: RunningBot, db: Database) -> None:
    text = said(bot.command("status"))
    assert "Nudges: off" in text
    assert person(db) is None


def test_on_stores_the_person_with_their_slack_time_zone(bot: RunningBot, db: Database) -> None:
    text = said(bot.command("on"))
    assert "Nudges are on" in text and "America/New_York" in text
    stored = person(db)
    assert stored is not None and stored.opted_in and stored.tz == "America/New_York"
    assert [c.args["user"] for c in bot.standin.calls_to("users.info")] == ["U0001"]
    # Known people are not looked up again.
    said(bot.command("off"))
    assert len(bot.standin.calls_to("users.info")) == 1
    assert person(db).opted_in is False


def test_each_setting_changes_exactly_what_it_says(bot: RunningBot, db: Database) -> None:
    said(bot.command("on"))
    said(bot.command("hours 8am-4:30pm"))
    said(bot.command("days mon,wed,fri"))
    said(bot.command("every 90m"))
    said(bot.command("quiet 22:00-07:00"))
    stored = person(db)
    assert (stored.work_start, stored.work_end) == (time(8), time(16, 30))
    assert mask_to_days(stored.work_days) == {0, 2, 4}
    assert stored.interval_minutes == 90
    assert (stored.quiet_start, stored.quiet_end) == (time(22), time(7))
    assert stored.opted_in
    status = said(bot.command("status"))
    for shown in ("08:00–16:30", "Mon, Wed, Fri", "every 1 h 30 min", "Quiet hours: 22:00–07:00"):
        assert shown in status
    said(bot.command("quiet off"))
    stored = person(db)
    assert stored.quiet_start is None and stored.interval_minutes == 90


def test_snooze_is_shown_in_local_time_and_can_end(bot: RunningBot, db: Database) -> None:
    said(bot.command("on"))
    text = said(bot.command("snooze today"))
    assert "Snoozed until tomorrow 00:00" in text
    stored = person(db)
    assert stored.snoozed_until is not None and stored.snoozed_until.tzinfo is not None
    assert stored.snoozed_until > datetime.now(UTC)
    said(bot.command("snooze off"))
    assert person(db).snoozed_until is None


def test_invalid_values_quote_the_text_and_change_nothing(bot: RunningBot, db: Database) -> None:
    said(bot.command("on"))
    text = said(bot.command("quiet 25:00-07:00"))
    assert "hours run from 00 to 23" in text and "quiet 12:00-13:00" in text
    said(bot.command("hours 9-17"))
    text = said(bot.command("every 4h"))
    assert "Not saved" not in text  # 8 hours hold a 4-hour interval
    text = said(bot.command("hours 09:00-10:00"))
    assert "Not saved" in text and "shorter than the interval" in text
    assert (person(db).work_start, person(db).work_end) == (time(9), time(17))


def test_forget_me_asks_first_then_deletes_everything(bot: RunningBot, db: Database) -> None:
    said(bot.command("on"))
    response = bot.command("forget me")
    payload = response.json()
    assert_valid_message(payload)
    assert person(db) is not None  # nothing deleted until confirmed
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    confirm = next(e for e in actions["elements"] if e["action_id"] == ids.ACTION_FORGET_CONFIRM)
    body = action_body(block_actions(confirm, response_url=bot.standin.response_url()))
    assert bot.post(body, signed_headers(body)).status_code == 200
    [reply] = bot.standin.wait_for("response_url")
    assert "deleted everything" in reply.args["text"]
    assert person(db) is None


def test_forget_me_cancel_keeps_everything(bot: RunningBot, db: Database) -> None:
    said(bot.command("on"))
    cancel = {"action_id": ids.ACTION_FORGET_CANCEL, "type": "button", "value": "cancel"}
    body = action_body(block_actions(cancel, response_url=bot.standin.response_url()))
    bot.post(body, signed_headers(body))
    [reply] = bot.standin.wait_for("response_url")
    assert "nothing was deleted" in reply.args["text"]
    assert person(db).opted_in


def test_time_zone_falls_back_to_utc_when_slack_cannot_say(bot: RunningBot, db: Database) -> None:
    bot.standin.script("users.info", error("user_not_found"))
    assert "Time zone: UTC" in said(bot.command("on"))


def test_user_change_event_refreshes_the_time_zone(app: App, db: Database) -> None:
    said_inline = dispatch(app, command_body("on"))
    assert said_inline.status == 200 and person(db).tz == "America/New_York"
    event = {"type": "user_change", "user": {"id": "U0001", "tz": "Asia/Kathmandu"}}
    assert dispatch(app, event_body(event), json_body=True).status == 200
    assert person(db).tz == "Asia/Kathmandu"
    status = json.loads(dispatch(app, command_body("status")).body)
    assert "Asia/Kathmandu" in status["text"]
    # An unknown zone name from a payload is ignored rather than stored.
    event["user"]["tz"] = "Mars/Olympus_Mons"
    dispatch(app, event_body(event), json_body=True)
    assert person(db).tz == "Asia/Kathmandu"


def home_click(bot: RunningBot, action: dict) -> dict:
    bot.standin.reset()
    body = action_body(block_actions(action, container={"type": "view", "view_id": "V1"}))
    assert bot.post(body, signed_headers(body)).status_code == 200
    [publish] = bot.standin.wait_for("views.publish")
    assert_valid_view(publish.args["view"])
    return publish.args["view"]


def test_home_tab_controls_save_and_re_render(bot: RunningBot, db: Database) -> None:
    body = event_body({"type": "app_home_opened", "user": "U0001", "tab": "home"})
    bot.post(body, signed_headers(body, json_body=True))
    [first] = bot.standin.wait_for("views.publish")
    assert_valid_view(first.args["view"])
    assert "Nudges: *off*" in str(first.args["view"])

    view = home_click(bot, {"action_id": ids.ACTION_HOME_TOGGLE, "type": "button", "value": "on"})
    assert person(db).opted_in and "Turn nudges off" in str(view)
    home_click(
        bot, {"action_id": ids.ACTION_HOME_START, "type": "timepicker", "selected_time": "08:30"}
    )
    home_click(
        bot, {"action_id": ids.ACTION_HOME_END, "type": "timepicker", "selected_time": "16:00"}
    )
    days = [{"value": "1"}, {"value": "3"}]
    home_click(
        bot, {"action_id": ids.ACTION_HOME_DAYS, "type": "checkboxes", "selected_options": days}
    )
    home_click(
        bot,
        {
            "action_id": ids.ACTION_HOME_INTERVAL,
            "type": "static_select",
            "selected_option": {"value": "30"},
        },
    )
    home_click(
        bot,
        {"action_id": ids.ACTION_HOME_QUIET_START, "type": "timepicker", "selected_time": "12:00"},
    )
    view = home_click(
        bot,
        {
            "action_id": ids.ACTION_HOME_SNOOZE,
            "type": "static_select",
            "selected_option": {"value": "60"},
        },
    )
    stored = person(db)
    assert (stored.work_start, stored.work_end) == (time(8, 30), time(16))
    assert mask_to_days(stored.work_days) == {1, 3}
    assert stored.interval_minutes == 30
    assert (stored.quiet_start, stored.quiet_end) == (time(12), time(13))
    assert stored.snoozed_until is not None
    assert "08:30–16:00, Tue, Thu, every 30 min" in str(view)


def test_home_tab_refuses_hours_that_end_before_they_start(bot: RunningBot, db: Database) -> None:
    said(bot.command("on"))
    view = home_click(
        bot, {"action_id": ids.ACTION_HOME_END, "type": "timepicker", "selected_time": "08:00"}
    )
    assert "Not saved: working hours must end after they start" in str(view)
    assert person(db).work_end == time(17)


def test_a_payload_from_another_workspace_changes_nothing_there(
    bot: RunningBot, db: Database
) -> None:
    said(bot.command("on", team="TAAAA", user="U0001"))
    said(bot.command("hours 9-17", team="TAAAA", user="U0001"))
    # Workspace B sends a command and a Home tab click naming the same user id.
    said(bot.command("off", team="TBBBB", user="U0001"))
    said(bot.command("every 15m", team="TBBBB", user="U0001"))
    action = {"action_id": ids.ACTION_HOME_START, "type": "timepicker", "selected_time": "06:00"}
    body = action_body(block_actions(action, team="TBBBB", container={"type": "view"}))
    bot.post(body, signed_headers(body))
    bot.standin.wait_for("views.publish")
    a = person(db, team="TAAAA")
    assert a.opted_in and a.interval_minutes == 60 and a.work_start == time(9)
    b = person(db, team="TBBBB")
    assert not b.opted_in and b.interval_minutes == 15 and b.work_start == time(6)
    # forget me in B deletes only B's row.
    confirm = {"action_id": ids.ACTION_FORGET_CONFIRM, "type": "button", "value": "forget"}
    body = action_body(
        block_actions(confirm, team="TBBBB", response_url=bot.standin.response_url())
    )
    bot.post(body, signed_headers(body))
    bot.standin.wait_for("response_url")
    assert person(db, team="TBBBB") is None and person(db, team="TAAAA") is not None
    with db.session() as session:
        assert set(session.scalars(select(Workspace.team_id))) == {"TAAAA", "TBBBB"}


@pytest.mark.parametrize("text", ["on", "hours 9-17", "status"])
def test_with_the_database_down_settings_say_so_and_exercises_still_answer(
    bot_without_database: RunningBot, text: str
) -> None:
    assert "can't reach my database" in said(bot_without_database.command(text))
    assert said(bot_without_database.command("half-kneel")).startswith("Half kneel")


def test_status_shows_the_next_nudge_in_local_time(settings, library, db: Database) -> None:
    wednesday_0930_in_new_york = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    app = build_app(
        settings, library=library, database=db, clock=lambda: wednesday_0930_in_new_york
    )
    dispatch(app, command_body("on"))
    status = json.loads(dispatch(app, command_body("status")).body)["text"]
    assert "Next nudge: today 10:00" in status
    dispatch(app, command_body("quiet 10:00-10:30"))
    status = json.loads(dispatch(app, command_body("status")).body)["text"]
    assert "Next nudge: today 11:00" in status
    dispatch(app, command_body("snooze tomorrow"))
    status = json.loads(dispatch(app, command_body("status")).body)["text"]
    assert "Snoozed until Fri 27 Nov 00:00" in status and "Next nudge: Fri 27 Nov 11:00" in status


def test_do_not_disturb_is_read_once_then_kept_from_events(
    settings, library, db, standin: SlackStandIn
) -> None:
    at_0930_utc = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    app = build_app(settings, library=library, database=db, clock=lambda: at_0930_utc)
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
                "snooze_enabled": False,
            },
            {},
        ),
    )
    dispatch(app, command_body("on"))
    assert len(standin.calls_to("dnd.info")) == 1
    status = json.loads(dispatch(app, command_body("status")).body)["text"]
    assert "Next nudge: today 10:15" in status  # 10:00 waits for the end of DND
    dispatch(app, command_body("off"))
    dispatch(app, command_body("on"))
    assert len(standin.calls_to("dnd.info")) == 1  # known: no second call
    # The person turns DND off in Slack: the event restores the 10:00 slot.
    event = {
        "type": "dnd_updated_user",
        "user": "U0001",
        "dnd_status": {"dnd_enabled": False, "snooze_enabled": False},
    }
    assert dispatch(app, event_body(event), json_body=True).status == 200
    status = json.loads(dispatch(app, command_body("status")).body)["text"]
    assert "Next nudge: today 10:00" in status
