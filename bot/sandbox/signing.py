"""What Slack sends the bot, built and signed exactly as Slack does, and posted over HTTP.

Slash commands and interactions arrive form-encoded, events as JSON; each carries
`X-Slack-Request-Timestamp` and `X-Slack-Signature`, `v0=` HMAC-SHA256 of
`v0:{timestamp}:{body}` with the app's signing secret
(https://docs.slack.dev/authentication/verifying-requests-from-slack).
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from slack_sdk.signature import SignatureVerifier

from bot.sandbox.people import APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, SamplePerson

_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    """A fresh id for a trigger, an event or a response URL."""
    return f"{prefix}{next(_numbers)}"


def slack_escape(text: str) -> str:
    """Slack sends `&`, `<` and `>` in typed text as entities
    (https://docs.slack.dev/messaging/formatting-message-text#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def signed_headers(body: str, secret: str, *, json_body: bool = False) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature or "",
        "Content-Type": "application/json" if json_body else "application/x-www-form-urlencoded",
    }


def command_body(
    *,
    command: str,
    text: str,
    who: SamplePerson,
    channel_id: str,
    channel_name: str,
    response_url: str,
    trigger_id: str,
) -> str:
    """A slash command's form, with the fields Slack sends
    (https://docs.slack.dev/interactivity/implementing-slash-commands)."""
    return urllib.parse.urlencode(
        {
            "token": "sandbox-verification-token",
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": who.user_id,
            "user_name": who.handle,
            "command": command,
            "text": slack_escape(text),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def block_actions(
    *,
    who: SamplePerson,
    action: dict[str, Any],
    container: dict[str, Any],
    trigger_id: str,
    response_url: str | None = None,
    channel: dict[str, str] | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `block_actions` payload (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload):
    a message's carries its container, channel, response URL and (unless ephemeral) the
    message; a Home tab's carries the view instead."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": who.user_id, "username": who.handle, "name": who.handle,
                 "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "sandbox-verification-token",
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [action],
    }  # fmt: skip
    if channel is not None:
        payload["channel"] = channel
    if message is not None:
        payload["message"] = message
    if view is not None:
        payload["view"] = view
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def interaction_body(payload: dict[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any]) -> str:
    """An Events API envelope (https://docs.slack.dev/apis/events-api)."""
    return json.dumps(
        {
            "token": "sandbox-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": unique("Ev0SANDBOX"),
            "event_time": int(time.time()),
            "authorizations": [
                {"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID,
                 "is_bot": True, "is_enterprise_install": False}
            ],
            "is_ext_shared_channel": False,
        }
    )  # fmt: skip


# Loopback only: never through a proxy that the environment may name.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Answer:
    """The bot's HTTP answer to one request: Slack reads the ack from it."""

    status: int
    body: str

    def json(self) -> dict[str, Any] | None:
        """The ack's message, if the ack carried one."""
        if not self.body.strip():
            return None
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None


def post(url: str, body: str, headers: dict[str, str], *, timeout: float = 10.0) -> Answer:
    """POST as Slack does; a non-2xx answer is returned, not raised."""
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return Answer(response.status, response.read().decode("utf-8", errors="replace"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode("utf-8", errors="replace"))
