"""Workspaces: installed, paused when Slack refuses the token, and forgotten on uninstall."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from bot.data.database import Database, insert_ignoring_duplicates
from bot.data.models import NudgeLog, Workspace

# What a workspace that nudges again looks like.
ACTIVE = {"active": True, "inactive_reason": None, "inactive_since": None, "refused_token": None}


def register_installation(
    db: Database, *, team_id: str | None, enterprise_id: str | None, org_install: bool
) -> None:
    """A new (or returning) installation: its workspace is active again. An org-wide one
    names no workspace: those of its org that we know come back, and the others are
    added as their people first use the bot."""
    with db.session() as session:
        if org_install and enterprise_id:
            session.execute(
                update(Workspace)
                .where(Workspace.enterprise_id == enterprise_id)
                .values(org_install=True, **ACTIVE)
            )
            return
        if not team_id:
            return
        values = {"team_id": team_id, "enterprise_id": enterprise_id, "org_install": False}
        insert_ignoring_duplicates(session, Workspace, values)
        session.execute(
            update(Workspace)
            .where(Workspace.team_id == team_id)
            .values(enterprise_id=enterprise_id, org_install=False, **ACTIVE)
        )


# How long a token Slack refused rests before it is tried again (it may have been restored).
REFUSED_TOKEN_RETRY = timedelta(hours=1)


def token_fingerprint(token: str) -> str:
    """Enough of a token's hash to tell two tokens apart, and nothing to recover it from."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def retry_refused_token(db: Database, *, fingerprint: str, now: datetime) -> int:
    """Single-workspace mode, before a pass: a workspace paused because Slack refused the
    token is tried again when the configured token is another one, or once an hour.
    (With OAuth, installing the app again reactivates a workspace instead.)"""
    with db.session() as session:
        result = session.execute(
            update(Workspace)
            .where(
                Workspace.active.is_(False),
                or_(
                    Workspace.refused_token.is_(None),
                    Workspace.refused_token != fingerprint,
                    Workspace.inactive_since.is_(None),
                    Workspace.inactive_since <= now - REFUSED_TOKEN_RETRY,
                ),
            )
            .values(**ACTIVE)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def note_refused_token(db: Database, *, fingerprint: str) -> int:
    """Single-workspace mode, after a pass: remember which token the workspaces paused in
    it were refused with (there is only the one)."""
    with db.session() as session:
        result = session.execute(
            update(Workspace)
            .where(Workspace.active.is_(False), Workspace.refused_token.is_(None))
            .values(refused_token=fingerprint)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def forget_workspace(db: Database, team_id: str) -> bool:
    """Uninstalled or revoked: delete the workspace and, by cascade, everyone's rows in it."""
    with db.session() as session:
        return bool(_forget(session, [team_id]))


def forget_org(db: Database, enterprise_id: str) -> list[str]:
    """An org-wide installation uninstalled or revoked: every workspace that used it."""
    with db.session() as session:
        teams = session.scalars(
            select(Workspace.team_id).where(
                Workspace.enterprise_id == enterprise_id, Workspace.org_install.is_(True)
            )
        ).all()
        return _forget(session, list(teams))


def _forget(session: Session, team_ids: list[str]) -> list[str]:
    """Delete these workspaces, their nudge log and (by cascade) their people; the ids of
    those that were stored."""
    if not team_ids:
        return []
    session.execute(delete(NudgeLog).where(NudgeLog.team_id.in_(team_ids)))
    deleted = session.scalars(
        delete(Workspace).where(Workspace.team_id.in_(team_ids)).returning(Workspace.team_id)
    ).all()
    return list(deleted)
