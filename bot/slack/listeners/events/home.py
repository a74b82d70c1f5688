"""The App Home tab: settings controls and the exercise library, published on open."""

from __future__ import annotations

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.core.preferences import Preferences
from bot.core.team import JoinedBreak
from bot.data.database import DatabaseUnavailableError
from bot.data.movement import read_movement
from bot.data.people import Who, read_preferences
from bot.data.team_breaks import joined_this_week
from bot.render.home import build_home
from bot.slack.context import Payload, Services, services_of, who_from
from bot.slack.failures import after_ack
from bot.slack.webapi import lookup_timezone

DATABASE_DOWN = "I can't reach my database right now; these may not be your settings."


@after_ack
def publish_home(event: Payload, body: Payload, context: BoltContext, client: WebClient) -> None:
    """`app_home_opened`: the tab is published after the ack (views.publish is a Web API call)."""
    user = event.get("user")
    if event.get("tab") not in (None, "home") or not isinstance(user, str):
        return  # the Messages tab needs nothing from us
    publish_home_for(services_of(context), who_from(context, body, user), client)


def publish_home_for(
    services: Services, who: Who, client: WebClient, *, notice: str | None = None
) -> None:
    now = services.clock()
    stats = None
    joined: list[JoinedBreak] = []
    try:
        prefs = read_preferences(services.db, who)
        stats = read_movement(services.db, who, now=now)
        joined = joined_this_week(services.db, who, now=now)
    except DatabaseUnavailableError:
        # The tab still opens, with the library and a word on why the settings may be off.
        prefs, notice = None, notice or DATABASE_DOWN
    if prefs is None:
        prefs = Preferences(tz=lookup_timezone(client, who.user_id))
    view = build_home(services.library, prefs, now, stats=stats, notice=notice, joined=joined)
    client.views_publish(user_id=who.user_id, view=view)
