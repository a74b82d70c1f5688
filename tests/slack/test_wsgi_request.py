"""The server parses Slack's body once and hands Bolt the payload (`ParsedBoltRequest`):
Bolt must see the very request its own constructor would have built from the raw body,
for a slash command's form, an interaction's form with its JSON payload and an event's
JSON, and copy it as its lazy listeners do."""

from __future__ import annotations

import pytest
from slack_bolt.request import BoltRequest

from bot import ids
from bot.slack.wsgi import ParsedBoltRequest, readable_body
from tests.support.slack import action_body, block_actions, command_body, event_body

BODIES = {
    "command": (command_body("every 45", user="U0001"), "application/x-www-form-urlencoded"),
    "interaction": (
        action_body(block_actions({"action_id": ids.ACTION_SHOW_EXERCISE, "value": "march"})),
        "application/x-www-form-urlencoded",
    ),
    "event": (event_body({"type": "app_home_opened", "user": "U0001"}), "application/json"),
}


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_bolt_gets_the_request_it_would_have_built_from_the_raw_body(kind: str) -> None:
    raw, content_type = BODIES[kind]
    headers = {"content-type": content_type, "x-slack-signature": "v0=abc"}
    text, payload, problem = readable_body(raw.encode(), content_type)
    assert problem is None

    ours = ParsedBoltRequest(raw_body=text, payload=payload, query="", headers=headers)
    bolts = BoltRequest(body=raw, query="", headers=headers)

    for request in (ours, ours.to_copyable()):
        assert (request.mode, request.raw_body) == ("http", raw)  # Bolt's signature check
        assert request.body == bolts.body
        assert request.headers == bolts.headers
        assert request.query == bolts.query
        assert request.context == bolts.context  # team, user, channel... read from the payload
