"""`/psoas team ...` typed in a channel: set, move or end the channel's daily stretch break.

Setting or ending a break is announced visibly in the channel (chat.postMessage), which is
also how we learn whether the bot may post there: Slack answers `not_in_channel` (or, for a
private channel it was not invited to, `channel_not_found`), and then nothing stays saved
and the person is told how to invite the bot. Runs after the ack (a Web API call).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.team import SetTeam, TeamCommand, TeamOff
from bot.data.people import Who
from bot.data.team_breaks import end_break, read_break, restore_break, set_break, timezone_known
from bot.render.kit import Message
from bot.render.team import (
    TEAM_IN_A_DM,
    build_not_in_channel,
    build_team_announcement,
    build_team_ended,
    build_team_ended_announcement,
    build_team_saved,
    build_team_status,
)
from bot.slack.context import Payload, Services
from bot.slack.webapi import lookup_timezone

log = logging.getLogger(__name__)

# Slack's answers meaning the bot cannot post in the channel at all.
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


@dataclass(frozen=True)
class Where:
    """The conversation a command was typed in, as its payload names it."""

    channel: str
    name: str

    @classmethod
    def of(cls, command: Payload) -> Where:
        return cls(str(command.get("channel_id") or ""), str(command.get("channel_name") or ""))

    @property
    def is_dm(self) -> bool:
        """A DM or a group DM: no place for a team break (nor anything to announce it to)."""
        return (
            not self.channel
            or self.channel.startswith("D")
            or self.name == "directmessage"
            or self.name.startswith("mpdm-")
        )


def answer_team_later(
    command: TeamCommand, services: Services, who: Who, client: WebClient, where: Where
) -> Message:
    if where.is_dm:
        return TEAM_IN_A_DM
    if isinstance(command, SetTeam):
        return set_team(command, services, who, client, where)
    if isinstance(command, TeamOff):
        return end_team(services, who, client, where)
    return build_team_status(read_break(services.db, who.team_id, where.channel), services.clock())


def set_team(
    command: SetTeam, services: Services, who: Who, client: WebClient, where: Where
) -> Message:
    """Save the break in the setter's time zone, then announce it; if Slack will not let the
    bot post there, put back what was there before and say how to invite it."""
    tz = timezone_known(services.db, who) or lookup_timezone(client, who.user_id)
    now = services.clock()
    saved, previous = set_break(services.db, who, where.channel, command, tz=tz, now=now)
    try:
        client.chat_postMessage(
            channel=where.channel, **build_team_announcement(saved, previous).as_kwargs()
        )
    except SlackApiError as exc:
        code = exc.response.get("error")
        gone = code in CANNOT_POST
        # The bot cannot post there: no break can live there, whatever was set before.
        restore_break(services.db, who.team_id, where.channel, None if gone else previous)
        log.info(
            "team break not saved: %s",
            code,
            extra={"team_id": who.team_id, "channel": where.channel},
        )
        return build_not_in_channel(str(code) if code else None)
    return build_team_saved(saved, now)


def end_team(services: Services, who: Who, client: WebClient, where: Where) -> Message:
    ended = end_break(services.db, who.team_id, where.channel)
    if ended is not None:
        try:
            client.chat_postMessage(
                channel=where.channel, **build_team_ended_announcement(who.user_id).as_kwargs()
            )
        except SlackApiError as exc:  # ended either way; the channel just doesn't hear it
            log.info(
                "team break ended without an announcement: %s",
                exc.response.get("error"),
                extra={"team_id": who.team_id, "channel": where.channel},
            )
    return build_team_ended(ended)
