"""Keep what Slack tells us about people: their time zone and their Do Not Disturb."""

from __future__ import annotations

from slack_bolt import BoltContext

from bot.core.schedule import DndStatus
from bot.data.people import mark_deactivated, record_dnd, refresh_timezone
from bot.slack.context import Payload, services_of, who_from


def on_user_change(event: Payload, body: Payload, context: BoltContext) -> None:
    """`user_change`: keep the time zone fresh; a deleted account gets no more nudges."""
    user = event.get("user") or {}
    tz, user_id = user.get("tz"), user.get("id")
    if not isinstance(user_id, str):
        return
    services = services_of(context)
    who = who_from(context, body, user_id)
    if user.get("deleted"):
        mark_deactivated(services.db, who)
    elif tz:
        refresh_timezone(services.db, who, str(tz), now=services.clock())


def on_dnd_updated(event: Payload, body: Payload, context: BoltContext) -> None:
    """`dnd_updated_user`: keep the window, so no nudge needs its own dnd.info call."""
    user_id, status = event.get("user"), event.get("dnd_status")
    if isinstance(user_id, str) and isinstance(status, dict):
        services = services_of(context)
        who = who_from(context, body, user_id)
        record_dnd(services.db, who, DndStatus.from_slack(status), now=services.clock())
