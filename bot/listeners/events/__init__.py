from slack_bolt import App

from bot import ids
from bot.listeners.events.home import publish_home


def register(app: App) -> None:
    app.event(ids.EVENT_APP_HOME_OPENED)(publish_home)
