"""What the meeting-aware and team-break tests send the bot, shaped as Slack sends it.

- `profile_event`: `user_change` / `user_huddle_changed` as Slack's event reference shows them
  (https://docs.slack.dev/reference/events/user_change,
  https://docs.slack.dev/reference/events/user_huddle_changed): the whole user, with the
  profile's `status_text`, `status_emoji`, `status_expiration` and `huddle_state`.
- `command_in`: `/psoas <text>` typed in a given conversation (the payload's `channel_id`
  and `channel_name`, as Slack fills them for a channel, a private channel or a DM).
- `press_join`: I'm in, pressed on a team break as it was posted in its channel.
- `channel_event`: `channel_archive`, `group_archive`, `channel_deleted`,
  `member_left_channel`, as their reference pages show them.
"""

from __future__ import annotations

import itertools
import urllib.parse
from datetime import datetime
from typing import Any

from bot import ids
from bot.engine.sender import Sender
from tests.support.bots import Bot, Reply
from tests.support.clock import SteppedTime
from tests.support.slack import BOT_TOKEN, TEAM, USER, block_actions, signed_headers
from tests.support.standin import SlackStandIn

_numbers = itertools.count(1)
HUDDLE_OFF = "default_unset"  # what `huddle_state` reads once the person left the huddle


def profile_event(
    kind: str = "user_change",
    *,
    user: str = USER,
    tz: str = "UTC",
    text: str = "",
    emoji: str = "",
    expires: datetime | None = None,
    huddle: bool = False,
    team: str = TEAM,
) -> dict[str, Any]:
    """A `user_change` or `user_huddle_changed` event for `user`, with their status."""
    return {
        "type": kind,
        "user": {
            "id": user,
            "team_id": team,
            "name": user.lower(),
            "deleted": False,
            "color": "4bbe2e",
            "real_name": "Some User",
            "tz": tz,
            "tz_label": tz,
            "tz_offset": 0,
            "profile": {
                "title": "",
                "phone": "",
                "real_name": "Some User",
                "display_name": "",
                "fields": {},
                "status_text": text,
                "status_emoji": emoji,
                "status_emoji_display_info": [],
                "status_expiration": int(expires.timestamp()) if expires else 0,
                "avatar_hash": "g12345678910",
                "huddle_state": "in_a_huddle" if huddle else HUDDLE_OFF,
                "huddle_state_expiration_ts": 0,
                "first_name": "Some",
                "last_name": "User",
                "team": team,
            },
            "is_admin": False,
            "is_owner": False,
            "is_bot": False,
            "updated": 1746217265,
        },
        "cache_ts": 1746217265,
        "event_ts": "1746217265.000100",
    }


def profile_changed(bot: Bot, **status: Any) -> None:
    """Both events Slack sends at once when a status or huddle changes."""
    for kind in ("user_change", "user_huddle_changed"):
        assert bot.event(profile_event(kind, **status)).status_code == 200


def command_in(
    bot: Bot,
    text: str,
    *,
    channel: str = "C0001",
    channel_name: str = "team-room",
    user: str = USER,
    team: str = TEAM,
) -> Reply:
    """`/psoas <text>` typed in `channel`; the answer, also when it came after the ack."""
    name = f"team-command-{next(_numbers)}"
    response_url = bot.standin.response_url(name)
    body = urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": user.lower(),
            "command": "/psoas",
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": bot.standin.issue_trigger(),
        }
    )
    reply = bot.post(body, signed_headers(body))
    if reply.status_code == 200 and not reply.text:
        reply.later = [c.args for c in bot.standin.answers_at(name)]
    return reply


def posted_in(standin: SlackStandIn, channel: str) -> list[dict[str, Any]]:
    """What chat.postMessage put in `channel`, oldest first."""
    return [c.args for c in standin.calls_to("chat.postMessage") if c.args["channel"] == channel]


def team_breaks_in(standin: SlackStandIn, channel: str) -> list[dict[str, Any]]:
    """The team breaks posted in `channel` (announcements left out), with their `ts`."""
    breaks = []
    for message in standin.posted.get(channel, []):
        if "Team stretch break!" in str(message.get("text")):
            breaks.append(message)
    return breaks


def join_button(message: dict[str, Any]) -> dict[str, Any]:
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    return next(e for e in actions["elements"] if e["action_id"] == ids.ACTION_TEAM_JOIN)


def press_join(
    bot: Bot, message: dict[str, Any], *, channel: str = "C0001", user: str = USER
) -> list[dict[str, Any]]:
    """I'm in on `message` (as posted in `channel`), by `user`; what they were told."""
    name = f"join-{next(_numbers)}"
    payload = block_actions(
        join_button(message),
        user=user,
        response_url=bot.standin.response_url(name, original=message),
        container={
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
        },
        message={**message, "channel": channel},
    )
    assert bot.click(payload).status_code == 200
    return [c.args for c in bot.standin.answers_at(name)]


def channel_event(kind: str, channel: str, *, user: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "channel": channel}
    if kind == "channel_archive":
        event["user"] = user or USER
    if kind == "member_left_channel":
        event.update(user=user or "UBOT", channel_type=channel[0], team=TEAM)
    event["event_ts"] = "1746217265.000200"
    return event


def team_sender(standin: SlackStandIn) -> Sender:
    """The engine's sender to the stand-in, pacing on a stepped clock (no real waits)."""
    time = SteppedTime()
    return Sender(
        api_url=standin.api_url,
        token_for=lambda _team: BOT_TOKEN,
        sleep=time.sleep,
        monotonic=time.monotonic,
    )
