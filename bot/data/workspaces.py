"""Workspaces: installed, paused when Slack refuses the token, and forgotten on uninstall."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.core.changes import MAX_INTERVAL_MINUTES
from bot.core.schedule import SPREAD_SHARE
from bot.data.database import Database, insert_ignoring_duplicates
from bot.data.models import NudgeLog, Person, Workspace, nudge_log_of

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
    session.execute(delete(NudgeLog).where(nudge_log_of(team_ids)))
    deleted = session.scalars(
        delete(Workspace).where(Workspace.team_id.in_(team_ids)).returning(Workspace.team_id)
    ).all()
    return list(deleted)


# How often a workspace's spread window is counted again: head counts move slowly, and a
# count of a big workspace's people is the one costly part, so never on every pass.
SPREAD_REFRESH = timedelta(hours=1)
# What the sender really sends per second of its rate: it keeps 10% headroom.
SENDER_SHARE = 0.9
# The window never needs to be wider than the longest interval allows (`spread_offset`
# caps each person's share of it by their own interval).
MAX_SPREAD_SECONDS = int(MAX_INTERVAL_MINUTES * 60 * SPREAD_SHARE)


def spread_seconds(people: int, *, rate_per_second: float) -> int:
    """The time `people` nudges take at a workspace's rate: the window a slot's nudges are
    spread over. Under a second (a small workspace) it is 0: nudges go at the slot."""
    seconds = int(people / (rate_per_second * SENDER_SHARE))
    return min(seconds, MAX_SPREAD_SECONDS) if seconds >= 1 else 0


def refresh_spreads(
    db: Database, *, rate_per_second: float, now: datetime, every: timedelta = SPREAD_REFRESH
) -> int:
    """Count again the spread window of each workspace last counted over `every` ago (or
    never): one grouped count of their opted-in people, then one update per workspace whose
    window changed. Called by each pass; does nothing most minutes. Returns the number of
    workspaces counted.

    People already scheduled keep their send time; the new window applies from their next
    nudge on. Offsets are a fixed fraction of the window, so their order does not change."""
    with db.session(fail_fast=False) as session:
        stale = session.execute(
            select(Workspace.team_id, Workspace.nudge_spread_seconds).where(
                Workspace.active.is_(True),
                or_(
                    Workspace.spread_refreshed_at.is_(None),
                    Workspace.spread_refreshed_at <= now - every,
                ),
            )
        ).all()
        if not stale:
            return 0
        teams = [team for team, _ in stale]
        counts = dict(
            session.execute(
                select(Person.team_id, func.count())
                .where(
                    Person.team_id.in_(teams),
                    Person.opted_in.is_(True),
                    Person.stopped_reason.is_(None),
                )
                .group_by(Person.team_id)
            ).all()
        )
        for team, current in stale:
            window = spread_seconds(counts.get(team, 0), rate_per_second=rate_per_second)
            values: dict[str, object] = {"spread_refreshed_at": now}
            if window != current:
                values["nudge_spread_seconds"] = window
            session.execute(update(Workspace).where(Workspace.team_id == team).values(**values))
        return len(stale)
