"""The App Home tab: settings controls and the exercise library, published on open."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot import account, activity
from bot.account import DatabaseUnavailableError, Who
from bot.home import build_home
from bot.preferences import Preferences
from bot.services import Services, services_of


def publish_home(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    if event.get("tab") not in (None, "home"):
        return  # the Messages tab needs nothing from us
    team = context.team_id or context.enterprise_id or ""
    publish_home_for(services_of(context), Who(team, event["user"]), client)


def publish_home_for(
    services: Services, who: Who, client: WebClient, *, notice: str | None = None
) -> None:
    now = services.clock()
    stats = None
    try:
        prefs = account.read_preferences(services.db, who)
        stats = activity.read_stats(services.db, who, now=now)
    except DatabaseUnavailableError:
        prefs, notice = None, "I can't reach my database right now; these may not be your settings."
    if prefs is None:
        prefs = Preferences(tz=account.lookup_timezone(client, who.user_id))
    view = build_home(services.library, prefs, now, stats=stats, notice=notice)
    client.views_publish(user_id=who.user_id, view=view)
