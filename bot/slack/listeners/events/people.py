"""Keep what Slack tells us about people: their time zone, their Do Not Disturb, and what
their status and huddle mean for nudges (busy, away)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.core.changes import Change, Rejected
from bot.core.preferences import Preferences
from bot.core.presence import PresenceRules, load_presence, read_presence
from bot.core.schedule import DndStatus
from bot.data.people import (
    Who,
    change_preferences,
    mark_deactivated,
    read_preferences,
    record_dnd,
    record_presence,
    record_profile,
)
from bot.slack.context import Payload, Services, services_of, who_from
from bot.slack.webapi import lookup_dnd, lookup_user, timezone_of

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def presence_rules(content_dir: Path) -> PresenceRules:
    """`presence.yaml` from the content folder, read and validated once per folder."""
    return load_presence(content_dir)


def rules_of(services: Services) -> PresenceRules:
    return presence_rules(Path(services.settings.content_dir))


def keep_presence(services: Services, who: Who, profile: object) -> bool:
    """What a profile's status and huddle mean for this person's nudges; False if nothing
    changed, or we store nothing about them. The status itself is not kept."""
    if not isinstance(profile, dict):
        return False
    now = services.clock()
    presence = read_presence(profile, rules_of(services), now)
    return record_presence(services.db, who, presence, now=now)


def on_user_change(event: Payload, body: Payload, context: BoltContext) -> None:
    """`user_change` and `user_huddle_changed` (the same payload, sent together): keep the
    time zone fresh, and what the status and huddle mean; a deleted account stops."""
    user = event.get("user") or {}
    tz, user_id = user.get("tz"), user.get("id")
    if not isinstance(user_id, str):
        return
    services = services_of(context)
    who = who_from(context, body, user_id)
    if user.get("deleted"):
        mark_deactivated(services.db, who)
        return
    now = services.clock()
    profile = user.get("profile")
    # A payload without a profile says nothing about the status: what is kept stays.
    presence = None
    if isinstance(profile, dict):
        presence = read_presence(profile, rules_of(services), now)
    record_profile(services.db, who, tz=str(tz) if tz else None, presence=presence, now=now)


def on_dnd_updated(event: Payload, body: Payload, context: BoltContext) -> None:
    """`dnd_updated_user`: keep the window, so no nudge needs its own dnd.info call."""
    user_id, status = event.get("user"), event.get("dnd_status")
    if isinstance(user_id, str) and isinstance(status, dict):
        services = services_of(context)
        who = who_from(context, body, user_id)
        record_dnd(services.db, who, DndStatus.from_slack(status), now=services.clock())


class Newcomer:
    """The one users.info made for someone new (at opt-in): their time zone, and their
    profile when Slack includes it, so their status counts from the start without another
    call. UTC when Slack cannot say (the next `user_change` corrects it)."""

    def __init__(self, client: WebClient, user_id: str) -> None:
        self.client, self.user_id = client, user_id
        self.profile: dict[str, Any] | None = None

    def timezone(self) -> str:
        user = lookup_user(self.client, self.user_id)
        profile = user.get("profile")
        self.profile = profile if isinstance(profile, dict) else None
        return timezone_of(user)

    def keep_presence(self, services: Services, who: Who) -> bool:
        """After the newcomer's row exists: what their profile said, if Slack sent it."""
        return self.profile is not None and keep_presence(services, who, self.profile)


def change_asking_slack(
    services: Services, who: Who, change: Change, client: WebClient
) -> Preferences | Rejected:
    """A settings change that may need Slack first: a newcomer's time zone (and, from the
    same users.info, what their status means), and the Do Not Disturb window at opt-in."""
    newcomer = Newcomer(client, who.user_id)
    result = change_preferences(
        services.db,
        who,
        change,
        now=services.clock(),
        timezone_of=newcomer.timezone,
        dnd_of=lambda: lookup_dnd(client, who.user_id),
    )
    if isinstance(result, Preferences) and newcomer.keep_presence(services, who):
        return read_preferences(services.db, who) or result  # as their status left them
    return result
