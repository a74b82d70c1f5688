"""Single-workspace mode: a bot token Slack refused is not tried again on every pass (cron
`psoas-bot tick` runs many), only when the configured token changes or once an hour.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.cli import make_sender, nudge_pass
from bot.core.changes import SetInterval
from bot.core.content import Library
from bot.data.database import Database
from bot.data.people import Who, read_preferences
from bot.settings import Settings, load_settings
from tests.support.people import opt_in, utc
from tests.support.slack import SIGNING_SECRET
from tests.support.standin import SlackStandIn, error

TEN = utc(2026, 11, 25, 10)


def configured(standin: SlackStandIn, token: str) -> Settings:
    return load_settings(
        slack_signing_secret=SIGNING_SECRET, slack_bot_token=token, slack_api_url=standin.api_url
    )


def attempts(standin: SlackStandIn) -> int:
    return len(standin.calls_to("chat.postMessage"))


@pytest.fixture
def refused(db: Database, library: Library, standin: SlackStandIn) -> Settings:
    """Two people nudged every 15 minutes; Slack answers the 10:00 DM with `invalid_auth`."""
    for user in ("U1", "U2"):
        opt_in(db, Who("T0001", user), "UTC", utc(2026, 11, 25, 9, 50), SetInterval(15))
    settings = configured(standin, "xoxb-refused-token-1")
    standin.script("chat.postMessage", error("invalid_auth"))
    report = nudge_pass(settings, db, make_sender(settings, db), library, now=TEN)
    assert report.outcomes["workspace:invalid_auth"] >= 1
    assert read_preferences(db, Who("T0001", "U1")).workspace_paused == "invalid_auth"
    return settings


def test_the_same_token_is_not_tried_again_within_the_hour(
    refused: Settings, db: Database, library: Library, standin: SlackStandIn
) -> None:
    tried = attempts(standin)
    for minutes in (5, 20, 45):  # three more cron passes, all inside the hour
        nudge_pass(
            refused, db, make_sender(refused, db), library, now=TEN + timedelta(minutes=minutes)
        )
    assert attempts(standin) == tried
    assert read_preferences(db, Who("T0001", "U1")).workspace_paused == "invalid_auth"


def test_the_same_token_is_tried_again_after_an_hour(
    refused: Settings, db: Database, library: Library, standin: SlackStandIn
) -> None:
    tried = attempts(standin)
    later = TEN + timedelta(hours=1, minutes=1)
    report = nudge_pass(refused, db, make_sender(refused, db), library, now=later)
    assert attempts(standin) > tried and report.sent >= 1
    assert read_preferences(db, Who("T0001", "U1")).workspace_paused is None


def test_a_new_token_is_tried_at_once(
    refused: Settings, db: Database, library: Library, standin: SlackStandIn
) -> None:
    tried = attempts(standin)
    renewed = configured(standin, "xoxb-reinstalled-token-2")
    report = nudge_pass(
        renewed, db, make_sender(renewed, db), library, now=TEN + timedelta(minutes=15)
    )
    assert attempts(standin) > tried and report.sent >= 1
    assert {c.token for c in standin.calls_to("chat.postMessage")[tried:]} == {
        "xoxb-reinstalled-token-2"
    }
