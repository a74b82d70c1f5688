from collections.abc import Callable

from slack_bolt import App

from bot import ids
from bot.slack.listeners.commands.psoas import answer_psoas, finish_psoas

# Slash commands, each with its ack and the work after it; `deploy/manifest.yaml` must
# declare exactly these commands.
COMMANDS: dict[str, tuple[Callable[..., None], Callable[..., None]]] = {
    ids.SLASH_COMMAND: (answer_psoas, finish_psoas),
}


def register(app: App) -> None:
    for command, (answer, finish) in COMMANDS.items():
        app.command(command)(ack=answer, lazy=[finish])
