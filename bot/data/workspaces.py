"""Workspaces: installed, paused when Slack refuses the token, and forgotten on uninstall."""

from __future__ import annotations

from sqlalchemy import delete, update

from bot.data.database import Database, insert_ignoring_duplicates
from bot.data.models import NudgeLog, Workspace


def register_workspace(db: Database, team_id: str) -> None:
    """A new (or returning) installation: the workspace is active again."""
    with db.session() as session:
        insert_ignoring_duplicates(session, Workspace, {"team_id": team_id})
        workspace = session.get(Workspace, team_id)
        assert workspace is not None
        workspace.active, workspace.inactive_reason = True, None


def reactivate_workspaces(db: Database) -> int:
    """Single-workspace mode: a restart with a (new) token tries nudging again; OAuth mode
    reactivates a workspace when it is installed again instead."""
    with db.session() as session:
        result = session.execute(
            update(Workspace)
            .where(Workspace.active.is_(False))
            .values(active=True, inactive_reason=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def forget_workspace(db: Database, team_id: str) -> bool:
    """Uninstalled or revoked: delete the workspace and, by cascade, everyone's rows in it."""
    with db.session() as session:
        session.execute(delete(NudgeLog).where(NudgeLog.team_id == team_id))
        workspace = session.get(Workspace, team_id)
        if workspace is None:
            return False
        session.delete(workspace)  # people and their completions go by cascade
        return True
