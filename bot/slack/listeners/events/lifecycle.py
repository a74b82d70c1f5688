"""Uninstall and token revocation: delete that workspace's tokens and data, in either order."""

from __future__ import annotations

import logging

from slack_bolt import BoltContext

from bot.data.workspaces import forget_org, forget_workspace
from bot.slack.context import Payload, services_of, workspace_of

log = logging.getLogger(__name__)


def _forget_installation(context: BoltContext, body: Payload) -> None:
    """Delete exactly the installation this event is about: one workspace's, or on
    Enterprise Grid an org-wide one, which takes every workspace of that org with it."""
    services = services_of(context)
    org_wide = bool(context.is_enterprise_install) and context.enterprise_id is not None
    team_id = None if org_wide else workspace_of(context, body)
    if services.installation_store is not None:
        services.installation_store.delete_all(enterprise_id=context.enterprise_id, team_id=team_id)
    if org_wide and context.enterprise_id:
        forgotten = forget_org(services.db, context.enterprise_id)
    else:
        forgotten = [team_id] if team_id and forget_workspace(services.db, team_id) else []
    log.info(
        "installation data deleted" if forgotten else "nothing stored for the installation",
        extra={"team_id": team_id, "enterprise_id": context.enterprise_id, "count": len(forgotten)},
    )


def app_uninstalled(context: BoltContext, body: Payload) -> None:
    _forget_installation(context, body)


def tokens_revoked(event: Payload, context: BoltContext, body: Payload) -> None:
    # Only the bot token lets us nudge anyone; user tokens are never asked for.
    if (event.get("tokens") or {}).get("bot"):
        _forget_installation(context, body)
