"""`/psoas [text]`: answered in the acknowledgement itself, so no Web API call is needed."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext

from bot.blocks import Message, build_notice
from bot.commands import SETTINGS_COMMANDS, Command, parse_command
from bot.replies import reply_to
from bot.services import Services, services_of


def handle_psoas(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    services = services_of(context)
    parsed = parse_command(command.get("text"), services.library)
    message = answer(parsed, services)
    ack(response_type="ephemeral", **message.as_kwargs())


def answer(parsed: Command, services: Services) -> Message:
    if isinstance(parsed, SETTINGS_COMMANDS):
        return build_notice(
            ":hourglass_flowing_sand: Nudge settings are not available yet. "
            "The exercises are: try `/psoas list`.",
            "Nudge settings are not available yet. Try /psoas list.",
        )
    return reply_to(parsed, services.library)
