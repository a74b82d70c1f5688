"""End to end over real HTTP: the WSGI app behind waitress, reached as Slack reaches it.

Listener behaviour is tested through `app.dispatch()` beside this file; here, one command,
one button and one event go all the way through the server, with what only the server
decides: signatures and timestamps, body limits, the health check and metrics.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from bot import ids
from bot.core.changes import TurnOn
from bot.core.content import Library
from bot.data.database import Database
from bot.data.people import Who, change_preferences
from bot.engine.sender import Sender
from bot.engine.tick import run_tick
from tests.support.bots import HttpBot
from tests.support.slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    assert_valid_message,
    assert_valid_view,
    block_actions,
    command_body,
    signed_headers,
)


def test_a_command_is_answered_in_the_http_response(bot: HttpBot) -> None:
    response = bot.command("half-kneel")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    payload = response.shown()
    assert payload["response_type"] == "ephemeral"
    assert_valid_message(payload)
    assert payload["blocks"][0]["text"]["text"] == "Half kneel"


def test_a_button_is_answered_through_its_response_url(bot: HttpBot) -> None:
    action = {"action_id": ids.ACTION_SHOW_EXERCISE, "type": "button", "value": "march"}
    response = bot.click(block_actions(action, response_url=bot.standin.response_url()))
    assert (response.status_code, response.text) == (200, "")
    [call] = bot.standin.calls_to("response_url")  # after the ack
    assert_valid_message(call.args)
    assert call.args["blocks"][0]["text"]["text"] == "March"


def test_an_event_is_acknowledged_and_handled(bot: HttpBot, library: Library) -> None:
    response = bot.event({"type": "app_home_opened", "user": "U0001", "tab": "home"})
    assert (response.status_code, response.text) == (200, "")
    [call] = bot.standin.calls_to("views.publish")  # after the ack
    assert call.token == BOT_TOKEN
    assert_valid_view(call.args["view"])


def test_bad_signature_is_rejected(bot: HttpBot) -> None:
    body = command_body("half-kneel")
    headers = signed_headers(body, secret="not-the-secret")
    assert bot.post(body, headers).status_code == 401
    assert bot.standin.calls == []


def test_six_minute_old_timestamp_is_rejected(bot: HttpBot) -> None:
    body = command_body("half-kneel")
    headers = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    assert bot.post(body, headers).status_code == 401
    # Four minutes old is still within Slack's five.
    fresh = signed_headers(body, timestamp=int(time.time()) - 4 * 60)
    assert bot.post(body, fresh).status_code == 200


def test_a_signed_empty_body_is_not_found_not_a_crash(bot: HttpBot) -> None:
    response = bot.post("", signed_headers(""))
    assert response.status_code == 404  # Bolt: no listener for a request with no payload
    assert response.json() == {"error": "unhandled request"}


def test_oversized_body_is_refused(bot: HttpBot) -> None:
    body = "x" * 2_000_000
    assert bot.post(body, signed_headers(body)).status_code == 413


def test_only_post_reaches_the_slack_endpoint(bot: HttpBot) -> None:
    assert bot.get("/slack/events").status_code == 405
    assert bot.get("/admin").status_code == 404


def test_health_check(bot: HttpBot) -> None:
    response = bot.get("/healthz")
    assert response.status_code == 200 and response.text == "ok\n"


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_metrics_count_commands_nudges_and_the_backlog(
    bot: HttpBot, db: Database, library: Library
) -> None:
    before = bot.get("/metrics").text
    bot.command("half-kneel")
    now = datetime(2026, 11, 25, 10, tzinfo=UTC)
    change_preferences(
        db, Who("T1", "U1"), TurnOn(), now=now - timedelta(minutes=30), timezone_of=lambda: "UTC"
    )
    sender = Sender(api_url=bot.standin.api_url, token_for=lambda _: BOT_TOKEN)
    run_tick(db, sender, library, now=now)
    response = bot.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = response.text
    command = ("psoas_slack_request_seconds_count", '{kind="command"}')
    assert metric(after, *command) == metric(before, *command) + 1
    sent = ("psoas_nudges_sent_total", '{kind="nudge"}')
    assert metric(after, *sent) == metric(before, *sent) + 1
    assert metric(after, "psoas_due_backlog") == 0
    assert metric(after, "psoas_tick_duration_seconds_count") >= 1


def test_signing_secret_never_reaches_the_log(bot: HttpBot, caplog) -> None:
    bot.command("half-kneel")
    bot.command("pizza")
    body = command_body("on")
    bot.post(body, signed_headers(body, secret="not-the-secret"))  # a rejected one logs too
    assert caplog.records, "nothing was logged, so this checks nothing"
    assert all(SIGNING_SECRET not in r.getMessage() for r in caplog.records)
