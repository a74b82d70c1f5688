"""A team break ends by itself when its channel goes away or the bot leaves it.

`channel_archive` (public, channels:read), `group_archive` (private, groups:read),
`channel_deleted` (channels:read) and `member_left_channel` for the bot's own user
(https://docs.slack.dev/reference/events/channel_archive, .../group_archive,
.../channel_deleted, .../member_left_channel). Each is answered in the request, since it only
writes to the database; uninstall deletes the breaks with the rest of the workspace.
"""

from __future__ import annotations

import logging

from slack_bolt import BoltContext

from bot.data.team_breaks import end_breaks_in
from bot.slack.context import Payload, services_of, workspace_of

log = logging.getLogger(__name__)


def _end(event: Payload, body: Payload, context: BoltContext, why: str) -> None:
    channel = event.get("channel")
    if not isinstance(channel, str) or not channel:
        return
    team_id = workspace_of(context, body) or None
    ended = end_breaks_in(services_of(context).db, team_id, channel)
    if ended:
        log.info("team break ended: %s", why, extra={"team_id": team_id, "channel": channel})


def on_channel_gone(event: Payload, body: Payload, context: BoltContext) -> None:
    """`channel_archive`, `group_archive`, `channel_deleted`: the channel's break ends."""
    _end(event, body, context, str(event.get("type") or "channel gone"))


def on_member_left_channel(event: Payload, body: Payload, context: BoltContext) -> None:
    """`member_left_channel`: when it is the bot that left (was removed), its break ends."""
    bot_user = context.bot_user_id or _bot_user_of(body)
    if bot_user and event.get("user") == bot_user:
        _end(event, body, context, "the bot left the channel")


def _bot_user_of(body: Payload) -> str | None:
    """The bot's own user id from the event's `authorizations`, when the context lacks it."""
    for authorization in body.get("authorizations") or []:
        if isinstance(authorization, dict) and authorization.get("is_bot"):
            user = authorization.get("user_id")
            return user if isinstance(user, str) else None
    return None
