from collections.abc import Callable

from slack_bolt import App, BoltResponse

from bot import ids
from bot.slack.listeners.commands.psoas import answer_psoas

# Slash commands, each answered in its ack, which starts the work after it when there is
# some; `deploy/manifest.yaml` must declare exactly these commands.
COMMANDS: dict[str, Callable[..., BoltResponse | None]] = {
    ids.SLASH_COMMAND: answer_psoas,
}


def register(app: App) -> None:
    for command, answer in COMMANDS.items():
        app.command(command)(answer)
