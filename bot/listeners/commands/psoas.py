"""`/psoas [text]`: answered in the acknowledgement itself.

Content commands need nothing but the library; settings commands run one unit of work on
the database and answer with what is now set, in the person's local time.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import account, activity, blocks
from bot.account import DatabaseUnavailableError, Who
from bot.blocks import Message
from bot.commands import (
    CHANGES,
    Change,
    Command,
    Export,
    ForgetMe,
    ShowStats,
    ShowStatus,
    parse_command,
)
from bot.preferences import Preferences
from bot.replies import reply_to
from bot.services import Services, services_of

log = logging.getLogger(__name__)

HEADLINES: dict[str, str] = {
    "TurnOn": "Nudges are on. I'll DM you during your working hours.",
    "TurnOff": "Nudges are off. Your settings are kept for when you turn them back on.",
    "SetHours": "Working hours saved.",
    "SetDays": "Working days saved.",
    "SetInterval": "Interval saved.",
    "SetQuiet": "Quiet hours saved: no nudges then.",
    "ClearQuiet": "Quiet hours removed.",
    "SnoozeFor": "Snoozed.",
    "SnoozeUntilTomorrow": "Snoozed.",
    "SnoozeOff": "Snooze ended.",
    "SetWeeklySummary": "Weekly summary setting saved.",
}


def who_from(context: BoltContext) -> Who:
    team = context.team_id or context.enterprise_id or ""
    return Who(team_id=team, user_id=context.user_id or "")


def handle_psoas(
    ack: Ack, command: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    services = services_of(context)
    text = str(command.get("text") or "")
    parsed = parse_command(text, services.library)
    who = who_from(context)
    if isinstance(parsed, Export):
        services.background.submit(send_export, services, who, client)
        message = blocks.build_notice(
            ":package: Gathering everything I store about you; it arrives as a file in our DM.",
            "Gathering your data; it arrives as a file in our DM.",
        )
    else:
        message = answer(parsed, text, services, who, client)
    ack(response_type="ephemeral", **message.as_kwargs())


def send_export(services: Services, who: Who, client: WebClient) -> None:
    """Everything stored about the person, as a JSON file in their DM with the bot."""
    try:
        data = activity.export_data(services.db, who)
        channel = client.conversations_open(users=who.user_id)["channel"]["id"]
        client.files_upload_v2(
            channel=channel,
            content=json.dumps(data, indent=2, sort_keys=True),
            filename="psoas-bot-export.json",
            title="Everything psoas-bot stores about you",
            initial_comment="Here is everything I store about you. `/psoas forget me` deletes it.",
        )
    except DatabaseUnavailableError:
        client.chat_postMessage(channel=who.user_id, **blocks.CANNOT_SAVE.as_kwargs())
    except Exception:
        log.exception("export failed", extra={"team_id": who.team_id, "user_id": who.user_id})


def answer(parsed: Command, text: str, services: Services, who: Who, client: WebClient) -> Message:
    try:
        if isinstance(parsed, CHANGES):
            return change(parsed, text, services, who, client)
        if isinstance(parsed, ShowStatus):
            prefs = account.read_preferences(services.db, who) or Preferences(
                tz=account.lookup_timezone(client, who.user_id)
            )
            now = services.clock()
            return blocks.build_settings(prefs, now)
    except DatabaseUnavailableError:
        return blocks.CANNOT_SAVE
    if isinstance(parsed, ForgetMe):
        return blocks.build_forget_confirm()
    if isinstance(parsed, ShowStats):
        try:
            stats = activity.read_stats(services.db, who, now=services.clock())
        except DatabaseUnavailableError:
            return blocks.CANNOT_SAVE
        return blocks.build_stats(stats, services.library)
    return reply_to(parsed, services.library)


def change(parsed: Change, text: str, services: Services, who: Who, client: WebClient) -> Message:
    now = services.clock()
    result = account.change_preferences(
        services.db,
        who,
        parsed,
        now=now,
        timezone_of=lambda: account.lookup_timezone(client, who.user_id),
        dnd_of=lambda: account.lookup_dnd(client, who.user_id),
    )
    if isinstance(result, Preferences):
        headline = HEADLINES[type(parsed).__name__]
        return blocks.build_settings(result, now, headline=headline)
    return blocks.build_rejected(text, result.problem, result.usage)
