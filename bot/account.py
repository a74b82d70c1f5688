"""Reading and changing a person's preferences: the unit of work between Slack, the core and SQL.

Every function is scoped by (team_id, user_id) taken from Slack's signed payload, never from
text a person typed, so one workspace can never reach another's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import store
from bot.database import Database
from bot.preferences import Change, Preferences, Rejected, apply_change, zone_or_utc

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
    tz = str(user.get("tz") or "UTC")
    return tz if zone_or_utc(tz).key == tz else "UTC"


def read_preferences(db: Database, who: Who) -> Preferences | None:
    try:
        with db.session() as session:
            person = store.find_person(session, team_id=who.team_id, user_id=who.user_id)
            return store.to_preferences(person) if person else None
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(type(exc).__name__) from exc


def change_preferences(
    db: Database, who: Who, change: Change, *, now: datetime, timezone_of: Callable[[], str]
) -> Preferences | Rejected:
    """Apply one change in one transaction; `timezone_of` is asked only for a new person."""
    try:
        with db.session() as session:
            person = store.find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
            if person is None:
                person = store.ensure_person(
                    session, team_id=who.team_id, user_id=who.user_id, tz=timezone_of()
                )
            result = apply_change(store.to_preferences(person), change, now)
            if isinstance(result, Preferences):
                store.write_preferences(person, result)
            return result
    except SQLAlchemyError as exc:
        log.error("database unavailable while saving a setting: %s", type(exc).__name__)
        raise DatabaseUnavailableError(type(exc).__name__) from exc


def forget(db: Database, who: Who) -> int:
    try:
        with db.session() as session:
            return store.forget_person(session, team_id=who.team_id, user_id=who.user_id)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(type(exc).__name__) from exc


def refresh_timezone(db: Database, who: Who, tz: str) -> bool:
    if zone_or_utc(tz).key != tz:
        return False
    with db.session() as session:
        return store.update_timezone(session, team_id=who.team_id, user_id=who.user_id, tz=tz)
