"""Requests signed exactly as Slack signs them, and Block Kit checks with slack_sdk's models."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret-8f2b"
BOT_TOKEN = "xoxb-test-bot-token-5c1d"
TEAM = "T0001"
USER = "U0001"


def signed_headers(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    json_body: bool = False,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": "application/json" if json_body else "application/x-www-form-urlencoded",
    }


def command_body(
    text: str, *, user: str = USER, team: str = TEAM, response_url: str = "http://127.0.0.1:9/r"
) -> str:
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "team_domain": "example",
            "channel_id": "C0001",
            "channel_name": "general",
            "user_id": user,
            "user_name": "pat",
            "command": "/psoas",
            "text": text,
            "api_app_id": "A0001",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def action_body(payload: dict[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def block_actions(
    action: dict[str, Any],
    *,
    user: str = USER,
    team: str = TEAM,
    response_url: str | None = None,
    container: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    trigger_id: str = "4.5.6",
) -> dict[str, Any]:
    """A `block_actions` payload. Its `trigger_id` opens a modal only if the stand-in issued
    it (`standin.issue_trigger()`), as Slack's triggers do."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "team_id": team},
        "team": {"id": team, "domain": "example"},
        "api_app_id": "A0001",
        "token": "legacy-verification-token",
        "trigger_id": trigger_id,
        "container": container or {"type": "message"},
        "actions": [{"action_ts": "1700000000.1", "block_id": "b1", **action}],
    }
    if response_url:
        payload["response_url"] = response_url
    if message:
        payload["message"] = message
        payload["channel"] = {"id": message.get("channel", "D0001")}
    if view:
        payload["view"] = view
    return payload


def event_body(event: dict[str, Any], *, team: str = TEAM) -> str:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "api_app_id": "A0001",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev0001",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
        }
    )


def assert_valid_blocks(blocks: list[dict[str, Any]], *, limit: int = 50) -> None:
    """Parse every block with slack_sdk's models and let them check Slack's limits."""
    assert isinstance(blocks, list) and blocks, "a message with blocks must have at least one"
    assert len(blocks) <= limit, f"{len(blocks)} blocks is over the limit of {limit}"
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, f"not a known block: {raw}"
        block.to_dict()  # slack_sdk validates lengths and counts here, raising on a breach


def assert_valid_message(payload: dict[str, Any]) -> None:
    text = payload.get("text")
    assert isinstance(text, str) and text.strip(), "every message needs a plain-text fallback"
    if "blocks" in payload:
        assert_valid_blocks(payload["blocks"])


def assert_valid_view(view: dict[str, Any]) -> None:
    parsed = View(**view)
    parsed.to_dict()  # runs slack_sdk's validation
    assert_valid_blocks(view["blocks"], limit=100)
