"""Uninstall and token revocation: delete that workspace's tokens and data, in either order."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext

from bot.data.workspaces import forget_workspace
from bot.slack.context import services_of, workspace_of

log = logging.getLogger(__name__)


def _forget_workspace(context: BoltContext, body: dict[str, Any]) -> None:
    services = services_of(context)
    team_id = workspace_of(context, body.get("team_id"))
    enterprise_id = context.enterprise_id
    if services.installation_store is not None:
        services.installation_store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
    deleted = forget_workspace(services.db, team_id)
    log.info("workspace data deleted" if deleted else "nothing stored", extra={"team_id": team_id})


def app_uninstalled(context: BoltContext, body: dict[str, Any]) -> None:
    _forget_workspace(context, body)


def tokens_revoked(event: dict[str, Any], context: BoltContext, body: dict[str, Any]) -> None:
    # Only the bot token lets us nudge anyone; user tokens are never asked for.
    if (event.get("tokens") or {}).get("bot"):
        _forget_workspace(context, body)
