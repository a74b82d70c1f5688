"""`user_change`: keep each person's time zone as Slack has it."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext

from bot import account
from bot.account import Who
from bot.services import services_of


def refresh_timezone(event: dict[str, Any], context: BoltContext) -> None:
    user = event.get("user") or {}
    tz, user_id = user.get("tz"), user.get("id")
    team = context.team_id or user.get("team_id") or ""
    if tz and user_id:
        account.refresh_timezone(services_of(context).db, Who(team, user_id), str(tz))
