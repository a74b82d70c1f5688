"""Keep what Slack tells us about people: their time zone and their Do Not Disturb."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext

from bot import account
from bot.account import Who
from bot.schedule import DndStatus
from bot.services import services_of


def refresh_timezone(event: dict[str, Any], context: BoltContext) -> None:
    user = event.get("user") or {}
    tz, user_id = user.get("tz"), user.get("id")
    team = context.team_id or user.get("team_id") or ""
    if user_id and user.get("deleted"):
        account.mark_deactivated(services_of(context).db, Who(team, user_id))
        return
    if tz and user_id:
        services = services_of(context)
        account.refresh_timezone(services.db, Who(team, user_id), str(tz), now=services.clock())


def refresh_dnd(event: dict[str, Any], context: BoltContext) -> None:
    """`dnd_updated_user`: keep the window, so no nudge needs its own dnd.info call."""
    user_id, status = event.get("user"), event.get("dnd_status")
    if isinstance(user_id, str) and isinstance(status, dict):
        services = services_of(context)
        team = context.team_id or context.enterprise_id or ""
        who = Who(team, user_id)
        account.record_dnd(services.db, who, DndStatus.from_slack(status), now=services.clock())
