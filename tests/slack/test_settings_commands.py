"""Settings commands as Slack sends them: each changes exactly what it says, `status` shows it,
and nothing is stored about anyone until they ask."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select

from bot import ids
from bot.core.preferences import mask_to_days
from bot.data.database import Database
from bot.data.models import Person
from tests.support.bots import Bot, Reply
from tests.support.clock import Clock
from tests.support.slack import assert_valid_message, block_actions
from tests.support.standin import error


def person(db: Database, team: str = "T0001", user: str = "U0001") -> Person | None:
    with db.session() as session:
        return session.scalars(
            select(Person).where(Person.team_id == team, Person.user_id == user)
        ).one_or_none()


def said(response: Reply) -> str:
    assert response.status_code == 200, response.text
    payload = response.shown()
    assert payload["response_type"] == "ephemeral"
    assert_valid_message(payload)
    return payload["text"]


def test_nobody_is_stored_or_nudged_until_they_ask(slack: Bot, db: Database) -> None:
    text = said(slack.command("status"))
    assert "Nudges: off" in text
    assert person(db) is None


def test_on_stores_the_person_with_their_slack_time_zone(slack: Bot, db: Database) -> None:
    text = said(slack.command("on"))
    assert "Nudges are on" in text and "America/New_York" in text
    stored = person(db)
    assert stored is not None and stored.opted_in and stored.tz == "America/New_York"
    assert [c.args["user"] for c in slack.standin.calls_to("users.info")] == ["U0001"]
    # Known people are not looked up again.
    said(slack.command("off"))
    assert len(slack.standin.calls_to("users.info")) == 1
    assert person(db).opted_in is False


def test_each_setting_changes_exactly_what_it_says(slack: Bot, db: Database) -> None:
    said(slack.command("on"))
    said(slack.command("hours 8am-4:30pm"))
    said(slack.command("days mon,wed,fri"))
    said(slack.command("every 90m"))
    said(slack.command("quiet 22:00-07:00"))
    stored = person(db)
    assert (stored.work_start, stored.work_end) == (time(8), time(16, 30))
    assert mask_to_days(stored.work_days) == {0, 2, 4}
    assert stored.interval_minutes == 90
    assert (stored.quiet_start, stored.quiet_end) == (time(22), time(7))
    assert stored.opted_in
    status = said(slack.command("status"))
    for shown in ("08:00–16:30", "Mon, Wed, Fri", "every 1 h 30 min", "Quiet hours: 22:00–07:00"):
        assert shown in status
    said(slack.command("quiet off"))
    stored = person(db)
    assert stored.quiet_start is None and stored.interval_minutes == 90


def test_snooze_is_shown_in_local_time_and_can_end(slack: Bot, db: Database, clock: Clock) -> None:
    clock.fixed = datetime(2026, 11, 25, 15, tzinfo=UTC)  # 10:00 in New York
    said(slack.command("on"))
    text = said(slack.command("snooze today"))
    assert "Snoozed until tomorrow 00:00" in text
    stored = person(db)
    assert stored.snoozed_until == datetime(2026, 11, 26, 5, tzinfo=UTC)  # New York's midnight
    said(slack.command("snooze off"))
    assert person(db).snoozed_until is None


def test_invalid_values_quote_the_text_and_change_nothing(slack: Bot, db: Database) -> None:
    said(slack.command("on"))
    text = said(slack.command("quiet 25:00-07:00"))
    assert "hours run from 00 to 23" in text and "quiet 12:00-13:00" in text
    said(slack.command("hours 9-17"))
    text = said(slack.command("every 4h"))
    assert "Not saved" not in text  # 8 hours hold a 4-hour interval
    text = said(slack.command("hours 09:00-10:00"))
    assert "Not saved" in text and "shorter than the interval" in text
    assert (person(db).work_start, person(db).work_end) == (time(9), time(17))


def test_forget_me_asks_first_then_deletes_everything(slack: Bot, db: Database) -> None:
    said(slack.command("on"))
    payload = slack.command("forget me").shown()
    assert_valid_message(payload)
    assert person(db) is not None  # nothing deleted until confirmed
    [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
    confirm = next(e for e in actions["elements"] if e["action_id"] == ids.ACTION_FORGET_CONFIRM)
    url = slack.standin.response_url("confirm")
    assert slack.click(block_actions(confirm, response_url=url)).status_code == 200
    [reply] = slack.standin.answers_at("confirm")
    assert "deleted everything" in reply.args["text"]
    assert person(db) is None


def test_time_zone_falls_back_to_utc_when_slack_cannot_say(slack: Bot, db: Database) -> None:
    slack.standin.script("users.info", error("user_not_found"))
    assert "Time zone: UTC" in said(slack.command("on"))
    assert person(db).tz == "UTC"


@pytest.mark.parametrize("text", ["on", "hours 9-17", "status"])
def test_with_the_database_down_settings_say_so_and_exercises_still_answer(
    slack_without_database: Bot, text: str
) -> None:
    assert "can't reach my database" in said(slack_without_database.command(text))
    assert said(slack_without_database.command("half-kneel")).startswith("Half kneel")


def test_status_shows_the_next_nudge_in_local_time(slack: Bot, clock: Clock) -> None:
    clock.fixed = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # Wednesday 09:30 in New York
    said(slack.command("on"))
    assert "Next nudge: today 10:00" in said(slack.command("status"))
    said(slack.command("quiet 10:00-10:30"))
    assert "Next nudge: today 11:00" in said(slack.command("status"))
    said(slack.command("snooze tomorrow"))
    status = said(slack.command("status"))
    assert "Snoozed until Fri 27 Nov 00:00" in status and "Next nudge: Fri 27 Nov 11:00" in status


def test_export_sends_everything_as_a_json_file(slack: Bot, db: Database) -> None:
    said(slack.command("on"))
    did_it = {"action_id": ids.ACTION_DID_IT, "type": "button", "value": "march"}
    slack.click(block_actions(did_it, response_url=slack.standin.response_url()))
    reply = slack.command("export").shown()
    assert "arrives as a file" in reply["text"]
    # The file goes up after the answer, in the background: wait for it, not for a time.
    [upload] = slack.standin.wait_for("file_upload")
    [complete] = slack.standin.wait_for("files.completeUploadExternal")
    exported = json.loads(upload.args["body"])
    assert exported["user"] == "U0001" and exported["preferences"]["opted_in"] is True
    assert [c["exercise"] for c in exported["completions"]] == ["march"]
    # Kept apart from the settings, still part of what is stored about them.
    assert datetime.fromisoformat(exported["preferences"]["next_summary_at"]).tzinfo is not None
    assert exported["away"] == []
    assert complete.args.get("channel_id") == "D0001"  # the DM conversations.open gave
