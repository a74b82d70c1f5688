"""The ack comes first, whatever Slack's speed: with every Web API call (and every response
URL post) taking 2 s, each kind of request is still acknowledged at once, and what the
person sees arrives after the ack.

Slack waits 3 s for the acknowledgement, then shows `operation_timeout` and redelivers
events (https://docs.slack.dev/interactivity/handling-user-interaction#acknowledgment_response).
One Web API call in an ack's path would take 2 s here, so an ack under 2 s proves none is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot import ids
from bot.data.database import Database
from tests.support.bots import HttpBot
from tests.support.slack import action_body, block_actions, command_body, event_body, signed_headers
from tests.support.standin import Call, SlackStandIn

SLACK_LATENCY = 2.0  # seconds, for every call the bot makes to Slack


@pytest.fixture
def slow_slack(standin: SlackStandIn) -> Iterator[SlackStandIn]:
    def slowly(_call: Call) -> None:
        time.sleep(SLACK_LATENCY)  # then the stand-in's usual answer

    standin.responder = slowly
    yield standin
    standin.responder = None


def ack_seconds(bot: HttpBot, body: str, *, json_body: bool = False) -> tuple[float, Any]:
    """How long Slack waits for the HTTP answer; the work after the ack is left to run."""
    headers = signed_headers(body, json_body=json_body)
    started = time.perf_counter()
    response = bot.session.post(bot.url + "/slack/events", data=body.encode(), headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed, response


def test_every_kind_of_request_is_acknowledged_before_slack_is_asked_anything(
    bot: HttpBot, slow_slack: SlackStandIn, db: Database
) -> None:
    url = slow_slack.response_url
    requests = {
        # A newcomer's first `on` needs users.info and dnd.info before it can be saved.
        "command /psoas on (newcomer)": (command_body("on", response_url=url("on")), False),
        "command /psoas half-kneel": (command_body("half-kneel", response_url=url("hk")), False),
        "action Did it": (
            action_body(
                block_actions(
                    {"action_id": ids.ACTION_DID_IT, "type": "button", "value": "march"},
                    response_url=url("did"),
                )
            ),
            False,
        ),
        "action Home control": (
            action_body(
                block_actions(
                    {"action_id": ids.ACTION_HOME_TOGGLE, "type": "button", "value": "off"},
                    view={"type": "home", "id": "V0001"},
                )
            ),
            False,
        ),
        "event app_home_opened": (
            event_body({"type": "app_home_opened", "user": "U0002", "tab": "home"}),
            True,
        ),
    }
    # Bolt learns the bot's own identity (auth.test) on the first request it serves and
    # keeps it; that one call is the process's, not any request kind's.
    ack_seconds(bot, command_body("help", response_url=url("warm")))
    acks: dict[str, float] = {}
    for kind, (body, is_json) in requests.items():
        acks[kind], _ = ack_seconds(bot, body, json_body=is_json)
        assert bot.after_ack is not None
        bot.after_ack.settle(timeout=30)  # let the slow work finish before the next request
    print("\nack at 2 s per Web API call: " + ", ".join(f"{k} {v:.3f} s" for k, v in acks.items()))
    assert {kind: seconds < SLACK_LATENCY for kind, seconds in acks.items()} == dict.fromkeys(
        acks, True
    ), acks
    # And the answers did arrive, after the acks.
    [on] = slow_slack.answers_at("on")
    assert "Nudges are on" in on.args["text"]
    assert slow_slack.answers_at("did")
    assert len(slow_slack.calls_to("views.publish")) == 2  # the Home control, then the tab
