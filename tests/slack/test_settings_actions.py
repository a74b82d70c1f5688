"""Settings changed by buttons: the App Home controls and `forget me`'s confirmation, each
within the workspace the click came from."""

from __future__ import annotations

from datetime import time

from sqlalchemy import select

from bot import ids
from bot.core.preferences import mask_to_days
from bot.data.database import Database
from bot.data.models import Workspace
from tests.slack.test_settings_commands import person, said
from tests.support.bots import Bot
from tests.support.slack import assert_valid_view, block_actions


def home_click(slack: Bot, action: dict, *, team: str = "T0001") -> dict:
    """A control on the Home tab; the tab the bot published in answer."""
    slack.standin.reset()
    payload = block_actions(action, team=team, container={"type": "view", "view_id": "V1"})
    assert slack.click(payload).status_code == 200
    [publish] = slack.standin.calls_to("views.publish")
    assert_valid_view(publish.args["view"])
    return publish.args["view"]


def test_forget_me_cancel_keeps_everything(slack: Bot, db: Database) -> None:
    said(slack.command("on"))
    cancel = {"action_id": ids.ACTION_FORGET_CANCEL, "type": "button", "value": "cancel"}
    slack.click(block_actions(cancel, response_url=slack.standin.response_url("cancel")))
    [reply] = slack.standin.answers_at("cancel")
    assert "nothing was deleted" in reply.args["text"]
    assert person(db).opted_in


def test_home_tab_controls_save_and_re_render(slack: Bot, db: Database) -> None:
    assert (
        slack.event({"type": "app_home_opened", "user": "U0001", "tab": "home"}).status_code == 200
    )
    [first] = slack.standin.calls_to("views.publish")
    assert_valid_view(first.args["view"])
    assert "Nudges: *off*" in str(first.args["view"])

    view = home_click(slack, {"action_id": ids.ACTION_HOME_TOGGLE, "type": "button", "value": "on"})
    assert person(db).opted_in and "Turn nudges off" in str(view)
    home_click(
        slack, {"action_id": ids.ACTION_HOME_START, "type": "timepicker", "selected_time": "08:30"}
    )
    home_click(
        slack, {"action_id": ids.ACTION_HOME_END, "type": "timepicker", "selected_time": "16:00"}
    )
    days = [{"value": "1"}, {"value": "3"}]
    home_click(
        slack, {"action_id": ids.ACTION_HOME_DAYS, "type": "checkboxes", "selected_options": days}
    )
    home_click(
        slack,
        {
            "action_id": ids.ACTION_HOME_INTERVAL,
            "type": "static_select",
            "selected_option": {"value": "30"},
        },
    )
    home_click(
        slack,
        {"action_id": ids.ACTION_HOME_QUIET_START, "type": "timepicker", "selected_time": "12:00"},
    )
    view = home_click(
        slack,
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


def test_home_tab_refuses_hours_that_end_before_they_start(slack: Bot, db: Database) -> None:
    said(slack.command("on"))
    view = home_click(
        slack, {"action_id": ids.ACTION_HOME_END, "type": "timepicker", "selected_time": "08:00"}
    )
    assert "Not saved: working hours must end after they start" in str(view)
    assert person(db).work_end == time(17)


def test_a_payload_from_another_workspace_changes_nothing_there(slack: Bot, db: Database) -> None:
    said(slack.command("on", team="TAAAA", user="U0001"))
    said(slack.command("hours 9-17", team="TAAAA", user="U0001"))
    # Workspace B sends a command and a Home tab click naming the same user id.
    said(slack.command("off", team="TBBBB", user="U0001"))
    said(slack.command("every 15m", team="TBBBB", user="U0001"))
    action = {"action_id": ids.ACTION_HOME_START, "type": "timepicker", "selected_time": "06:00"}
    home_click(slack, action, team="TBBBB")
    a = person(db, team="TAAAA")
    assert a.opted_in and a.interval_minutes == 60 and a.work_start == time(9)
    b = person(db, team="TBBBB")
    assert not b.opted_in and b.interval_minutes == 15 and b.work_start == time(6)
    # forget me in B deletes only B's row.
    slack.standin.reset()
    confirm = {"action_id": ids.ACTION_FORGET_CONFIRM, "type": "button", "value": "forget"}
    slack.click(block_actions(confirm, team="TBBBB", response_url=slack.standin.response_url()))
    [reply] = slack.standin.calls_to("response_url")
    assert "deleted everything" in reply.args["text"]
    assert person(db, team="TBBBB") is None and person(db, team="TAAAA") is not None
    with db.session() as session:
        assert set(session.scalars(select(Workspace.team_id))) == {"TAAAA", "TBBBB"}
