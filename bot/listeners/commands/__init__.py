from slack_bolt import App

from bot import ids
from bot.listeners.commands.psoas import handle_psoas


def register(app: App) -> None:
    app.command(ids.SLASH_COMMAND)(handle_psoas)
