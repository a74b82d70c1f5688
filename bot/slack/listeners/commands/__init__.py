from collections.abc import Callable

from slack_bolt import App

from bot import ids
from bot.slack.listeners.commands.psoas import handle_psoas

# Slash commands and their handlers; `deploy/manifest.yaml` must declare exactly these.
COMMANDS: dict[str, Callable[..., None]] = {ids.SLASH_COMMAND: handle_psoas}


def register(app: App) -> None:
    for command, handler in COMMANDS.items():
        app.command(command)(handler)
