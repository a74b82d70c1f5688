"""Reading and changing a person's preferences: the unit of work between Slack, the core and SQL.

Every function is scoped by (team_id, user_id) taken from Slack's signed payload, never from
text a person typed, so one workspace can never reach another's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import delete, update
from sqlalchemy.exc import SQLAlchemyError

from bot import store
from bot.commands import Change, TurnOn
from bot.database import Database
from bot.models import NudgeLog, Workspace
from bot.preferences import Preferences, Rejected, apply_change, zone_or_utc
from bot.schedule import DndStatus

log = logging.getLogger(__name__)


class DatabaseUnavailableError(Exception):
    """The database could not be reached or refused the unit of work; nothing was saved."""


@dataclass(frozen=True)
class Who:
    team_id: str
    user_id: str


def lookup_timezone(client: WebClient, user_id: str) -> str:
    """The person's Slack time zone (users.info), or UTC when Slack cannot tell us."""
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except SlackApiError as exc:
        log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
        return "UTC"
    except OSError as exc:  # Slack unreachable: UTC for now, user_change corrects it later
        log.warning("users.info unreachable for %s: %s", user_id, type(exc).__name__)
        return "UTC"
    tz = str(user.get("tz") or "UTC")
    return tz if zone_or_utc(tz).key == tz else "UTC"


def read_preferences(db: Database, who: Who) -> Preferences | None:
    try:
        with db.session() as session:
            person = store.find_person(session, team_id=who.team_id, user_id=who.user_id)
            if person is None:
                return None
            workspace = session.get(Workspace, who.team_id)
            paused = (
                workspace.inactive_reason or "inactive"
                if workspace and not workspace.active
                else None
            )
            return replace(store.to_preferences(person), workspace_paused=paused)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(type(exc).__name__) from exc


def change_preferences(
    db: Database,
    who: Who,
    change: Change,
    *,
    now: datetime,
    timezone_of: Callable[[], str],
    dnd_of: Callable[[], DndStatus | None] = lambda: None,
) -> Preferences | Rejected:
    """Apply one change in one transaction and reschedule the next nudge.

    `timezone_of` is asked only for a new person; `dnd_of` only once, when someone who
    opted in has no Do Not Disturb state yet (events keep it fresh after that). Both are
    Slack calls, made before the transaction so no row stays locked during them.
    """
    try:
        with db.session() as session:
            known = store.find_person(session, team_id=who.team_id, user_id=who.user_id)
            need_dnd = known is None or known.dnd_checked_at is None
        tz = None if known else timezone_of()
        turning_on = isinstance(change, TurnOn) or bool(known and known.opted_in)
        dnd = dnd_of() if need_dnd and turning_on else None
        with db.session() as session:
            person = store.find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
            if person is None:
                person = store.ensure_person(
                    session, team_id=who.team_id, user_id=who.user_id, tz=tz or timezone_of()
                )
            result = apply_change(store.to_preferences(person), change, now)
            if isinstance(result, Preferences):
                store.write_preferences(person, result)
                if dnd is not None:
                    store.update_dnd(person, dnd, now=now)
                else:
                    store.reschedule_after_change(person, now=now)
                return store.to_preferences(person)
            return result
    except SQLAlchemyError as exc:
        log.error("database unavailable while saving a setting: %s", type(exc).__name__)
        raise DatabaseUnavailableError(type(exc).__name__) from exc


def register_workspace(db: Database, team_id: str) -> None:
    """A new (or returning) installation: the workspace is active again."""
    with db.session() as session:
        store.insert_ignoring_duplicates(session, Workspace, {"team_id": team_id})
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


def mark_deactivated(db: Database, who: Who) -> bool:
    """Slack says the account was deactivated: no nudges, with the reason `status` shows."""
    with db.session() as session:
        person = store.find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
        if person is None:
            return False
        person.stopped_reason = "account_inactive"
        person.next_slot_at = person.next_nudge_at = person.next_summary_at = None
        return True


def forget_workspace(db: Database, team_id: str) -> bool:
    """Uninstalled or revoked: delete the workspace and, by cascade, everyone's rows in it."""
    with db.session() as session:
        session.execute(delete(NudgeLog).where(NudgeLog.team_id == team_id))
        workspace = session.get(Workspace, team_id)
        if workspace is None:
            return False
        session.delete(workspace)  # people and their completions go by cascade
        return True


def forget(db: Database, who: Who) -> int:
    try:
        with db.session() as session:
            return store.forget_person(session, team_id=who.team_id, user_id=who.user_id)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(type(exc).__name__) from exc


def refresh_timezone(db: Database, who: Who, tz: str, *, now: datetime) -> bool:
    if zone_or_utc(tz).key != tz:
        return False
    with db.session() as session:
        return store.update_timezone(
            session, team_id=who.team_id, user_id=who.user_id, tz=tz, now=now
        )


def lookup_dnd(client: WebClient, user_id: str) -> DndStatus | None:
    """dnd.info for one person; None when Slack cannot say (we try again on the next opt-in)."""
    try:
        return DndStatus.from_slack(dict(client.dnd_info(user=user_id).data))  # type: ignore[arg-type]
    except SlackApiError as exc:
        log.warning("dnd.info failed for %s: %s", user_id, exc.response.get("error"))
        return None
    except OSError as exc:
        log.warning("dnd.info unreachable for %s: %s", user_id, type(exc).__name__)
        return None


def record_dnd(db: Database, who: Who, status: DndStatus, *, now: datetime) -> bool:
    """Keep a `dnd_updated_user` event's window; False if we store nothing about the person."""
    with db.session() as session:
        person = store.find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
        if person is None:
            return False
        store.update_dnd(person, status, now=now)
        return True
