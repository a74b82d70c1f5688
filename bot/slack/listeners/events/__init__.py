from collections.abc import Callable

from slack_bolt import App

from bot import ids
from bot.slack.failures import acknowledge
from bot.slack.listeners.events.channels import on_channel_gone, on_member_left_channel
from bot.slack.listeners.events.home import publish_home
from bot.slack.listeners.events.lifecycle import app_uninstalled, tokens_revoked
from bot.slack.listeners.events.people import on_dnd_updated, on_user_change

# Events and their handlers; `deploy/manifest.yaml` must subscribe to exactly these.
EVENTS: dict[str, Callable[..., None]] = {
    ids.EVENT_APP_HOME_OPENED: publish_home,
    ids.EVENT_USER_CHANGE: on_user_change,
    # The same payload as user_change, sent at the same moment when a huddle starts or ends
    # (https://docs.slack.dev/reference/events/user_huddle_changed).
    ids.EVENT_USER_HUDDLE_CHANGED: on_user_change,
    ids.EVENT_DND_UPDATED_USER: on_dnd_updated,
    ids.EVENT_APP_UNINSTALLED: app_uninstalled,
    ids.EVENT_TOKENS_REVOKED: tokens_revoked,
    ids.EVENT_CHANNEL_ARCHIVE: on_channel_gone,
    ids.EVENT_GROUP_ARCHIVE: on_channel_gone,
    ids.EVENT_CHANNEL_DELETED: on_channel_gone,
    ids.EVENT_MEMBER_LEFT_CHANNEL: on_member_left_channel,
}


# Answered after the ack, because their work is a Web API call; the others only write to the
# database, inside the request, so that a failure can ask Slack to deliver the event again.
AFTER_ACK = frozenset({ids.EVENT_APP_HOME_OPENED})


def register(app: App) -> None:
    for event, handler in EVENTS.items():
        if event in AFTER_ACK:
            app.event(event)(ack=acknowledge, lazy=[handler])
        else:
            app.event(event)(handler)
