"""`/psoas [text]`: answered in the acknowledgement when no Slack call is needed, else after.

Content commands need nothing but the library, and settings commands for someone we know
need only the database: both are answered in the ack itself. When Slack must be asked
something first (a newcomer's time zone, the Do Not Disturb window at opt-in) or the work
is long (the export), the ack goes out at once and the answer follows through the
command's response URL, so Slack's 3 seconds hold however slow Slack's Web API is.
A database failure reaches the error boundary, which answers "I can't save that right now".
"""

from __future__ import annotations

import functools
import json
from typing import Any

from slack_bolt import BoltContext, BoltResponse, Respond
from slack_sdk import WebClient

from bot.core.changes import CHANGE_TYPES, Change, Rejected
from bot.core.content import Library
from bot.core.grammar import Command, Export, ForgetMe, ShowStats, ShowStatus, parse_command
from bot.core.preferences import Preferences
from bot.core.team import TEAM_COMMANDS, ShowTeam, TeamOff
from bot.data.movement import read_movement
from bot.data.people import Who, change_without_slack, read_preferences
from bot.data.team_breaks import read_break
from bot.render.answers import ANSWERED_ALIKE, AnsweredAlike, reply_to
from bot.render.help import build_rejected
from bot.render.kit import Message, build_notice
from bot.render.settings import build_forget_confirm, build_settings, headline_for
from bot.render.stats import build_stats
from bot.render.team import TEAM_IN_A_DM, build_team_status
from bot.slack.context import Payload, Services, services_of, typed_text, who_from
from bot.slack.failures import after_ack
from bot.slack.listeners.commands.team import Where, answer_team_later
from bot.slack.listeners.events.people import change_asking_slack
from bot.slack.webapi import lookup_timezone, send_export

EXPORT_STARTED = build_notice(
    ":package: Gathering everything I store about you; it arrives as a file in our DM.",
    "Gathering your data; it arrives as a file in our DM.",
)


def answer_psoas(command: Payload, context: BoltContext) -> BoltResponse:
    """The ack: the answer itself when it needs no Slack call, else an empty ack; then, only
    when there is some, the work after it. (Not a Bolt lazy listener: Bolt would copy the
    whole request and wake a thread for every command, even one answered in full here.)
    The ack is returned, encoded here once, rather than handed to Bolt's `ack`."""
    services = services_of(context)
    text = typed_text(command.get("text"))
    parsed = parse_command(text, services.library)
    if isinstance(parsed, ANSWERED_ALIKE):
        return BoltResponse(status=200, body=answered_alike(parsed, services.library))
    who = who_from(context, command)
    message = answer_now(parsed, text, services, who, Where.of(command))
    # The export always continues after its ack; other answers only when they need Slack.
    if message is None or isinstance(parsed, Export):
        later = services.after_ack
        assert later is not None, "build_app gives the services an executor"
        later.submit(
            finish_psoas,
            parsed=parsed,
            text=text,
            command=command,
            body=command,  # a command's payload is the whole body
            context=context,
            respond=context.respond,
            client=context.client,
        )
    return BoltResponse(status=200, body="" if message is None else ephemeral(message))


def ephemeral(message: Message) -> str:
    """An ack's body showing `message` to the one who typed the command, as Bolt's
    `ack(response_type="ephemeral", text=..., blocks=...)` encodes it."""
    body: dict[str, Any] = {"text": message.text, "response_type": "ephemeral"}
    if message.blocks:
        body["blocks"] = message.blocks
    return json.dumps(body)


@functools.lru_cache(maxsize=512)
def answered_alike(parsed: AnsweredAlike, library: Library) -> str:
    """The ack's body for a command answered alike every time (help, an exercise...),
    rendered and encoded once. Bounded: some hold what was typed (a correction, an unknown
    word)."""
    return ephemeral(reply_to(parsed, library))


@after_ack
def finish_psoas(
    parsed: Command,
    text: str,
    command: Payload,
    body: Payload,
    context: BoltContext,
    respond: Respond,
    client: WebClient,
) -> None:
    """After the ack: the answers that needed Slack, through the response URL."""
    services = services_of(context)
    message = answer_later(
        parsed, text, services, who_from(context, body), client, Where.of(command)
    )
    if message is not None:
        respond(response_type="ephemeral", **message.as_kwargs())


def answer_now(
    parsed: Command, text: str, services: Services, who: Who, where: Where
) -> Message | None:
    """The answer when no Slack call is needed for it; None when one is."""
    if isinstance(parsed, TEAM_COMMANDS):
        # Team breaks: a DM has none, and showing one needs only the database; setting or
        # ending one is announced in the channel, after the ack.
        if where.is_dm:
            return TEAM_IN_A_DM
        current = read_break(services.db, who.team_id, where.channel)
        if isinstance(parsed, ShowTeam) or (isinstance(parsed, TeamOff) and current is None):
            return build_team_status(current, services.clock())
        return None
    if isinstance(parsed, CHANGE_TYPES):
        result = change_without_slack(services.db, who, parsed, now=services.clock())
        return None if result is None else _saved(parsed, text, result, services)
    match parsed:
        case ShowStatus():
            prefs = read_preferences(services.db, who)
            return None if prefs is None else build_settings(prefs, services.clock())
        case ShowStats():
            stats = read_movement(services.db, who, now=services.clock())
            return build_stats(stats, services.library)
        case ForgetMe():
            return build_forget_confirm()
        case Export():
            return EXPORT_STARTED
        case _:
            return reply_to(parsed, services.library)


def answer_later(
    parsed: Command, text: str, services: Services, who: Who, client: WebClient, where: Where
) -> Message | None:
    """The answer that needed Slack first; None for the export, which arrives as a file."""
    if isinstance(parsed, TEAM_COMMANDS):
        return answer_team_later(parsed, services, who, client, where)
    if isinstance(parsed, CHANGE_TYPES):
        return change(parsed, text, services, who, client)
    if isinstance(parsed, Export):
        send_export(services, who, client)
        return None
    # `status` for someone we store nothing about: the defaults, in their Slack time zone.
    prefs = read_preferences(services.db, who) or Preferences(
        tz=lookup_timezone(client, who.user_id)
    )
    return build_settings(prefs, services.clock())


def change(parsed: Change, text: str, services: Services, who: Who, client: WebClient) -> Message:
    return _saved(parsed, text, change_asking_slack(services, who, parsed, client), services)


def _saved(
    parsed: Change, text: str, result: Preferences | Rejected, services: Services
) -> Message:
    if isinstance(result, Preferences):
        return build_settings(result, services.clock(), headline=headline_for(parsed))
    return build_rejected(text, result)
