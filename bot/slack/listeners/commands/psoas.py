"""`/psoas [text]`: answered in the acknowledgement itself.

Content commands need nothing but the library; settings commands run one unit of work on
the database and answer with what is now set, in the person's local time. A database
failure reaches the app's error handler, which answers "I can't save that right now".
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.core.changes import CHANGE_TYPES, Change
from bot.core.grammar import Command, Export, ForgetMe, ShowStats, ShowStatus, parse_command
from bot.core.preferences import Preferences
from bot.data.activity import read_stats
from bot.data.people import Who, change_preferences, read_preferences
from bot.render.answers import reply_to
from bot.render.help import build_rejected
from bot.render.kit import Message, build_notice
from bot.render.settings import build_forget_confirm, build_settings, headline_for
from bot.render.stats import build_stats
from bot.slack.context import Services, services_of, typed_text, who_from
from bot.slack.webapi import lookup_dnd, lookup_timezone, send_export

EXPORT_STARTED = build_notice(
    ":package: Gathering everything I store about you; it arrives as a file in our DM.",
    "Gathering your data; it arrives as a file in our DM.",
)


def handle_psoas(
    ack: Ack, command: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    services = services_of(context)
    text = typed_text(command.get("text"))
    message = answer(
        parse_command(text, services.library), text, services, who_from(context, command), client
    )
    ack(response_type="ephemeral", **message.as_kwargs())


def answer(parsed: Command, text: str, services: Services, who: Who, client: WebClient) -> Message:
    if isinstance(parsed, CHANGE_TYPES):
        return change(parsed, text, services, who, client)
    match parsed:
        case ShowStatus():
            prefs = read_preferences(services.db, who) or Preferences(
                tz=lookup_timezone(client, who.user_id)
            )
            return build_settings(prefs, services.clock())
        case ShowStats():
            stats = read_stats(services.db, who, now=services.clock())
            return build_stats(stats, services.library)
        case ForgetMe():
            return build_forget_confirm()
        case Export():
            services.background.submit(send_export, services, who, client)
            return EXPORT_STARTED
        case _:
            return reply_to(parsed, services.library)


def change(parsed: Change, text: str, services: Services, who: Who, client: WebClient) -> Message:
    now = services.clock()
    result = change_preferences(
        services.db,
        who,
        parsed,
        now=now,
        timezone_of=lambda: lookup_timezone(client, who.user_id),
        dnd_of=lambda: lookup_dnd(client, who.user_id),
    )
    if isinstance(result, Preferences):
        return build_settings(result, now, headline=headline_for(parsed))
    return build_rejected(text, result)
