"""The Web API calls the app makes on a person's behalf, each with its answer when Slack
cannot give one: users.info (time zone), dnd.info (Do Not Disturb), and the export upload."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.preferences import zone_or_utc
from bot.core.schedule import DndStatus
from bot.data.activity import export_data
from bot.data.database import DatabaseUnavailableError
from bot.data.people import Who
from bot.render.settings import CANNOT_SAVE
from bot.slack.context import Services

log = logging.getLogger(__name__)


def lookup_user(client: WebClient, user_id: str) -> dict[str, Any]:
    """The person as users.info shows them; empty when Slack cannot tell us (unreachable:
    the next `user_change` corrects what we assumed)."""
    try:
        user = client.users_info(user=user_id).get("user")
    except SlackApiError as exc:
        log.warning("users.info failed: %s", exc.response.get("error"), extra={"user_id": user_id})
        return {}
    except OSError as exc:
        log.warning("users.info unreachable: %s", type(exc).__name__, extra={"user_id": user_id})
        return {}
    return user if isinstance(user, dict) else {}


def timezone_of(user: dict[str, Any]) -> str:
    """A users.info person's time zone, or UTC when it is missing or not one we know."""
    tz = str(user.get("tz") or "UTC")
    return tz if zone_or_utc(tz).key == tz else "UTC"


def lookup_timezone(client: WebClient, user_id: str) -> str:
    """The person's Slack time zone (users.info), or UTC when Slack cannot tell us."""
    return timezone_of(lookup_user(client, user_id))


def lookup_dnd(client: WebClient, user_id: str) -> DndStatus | None:
    """dnd.info for one person; None when Slack cannot say (we try again on the next opt-in)."""
    try:
        return DndStatus.from_slack(dict(client.dnd_info(user=user_id).data))  # type: ignore[arg-type]
    except SlackApiError as exc:
        log.warning("dnd.info failed: %s", exc.response.get("error"), extra={"user_id": user_id})
        return None
    except OSError as exc:
        log.warning("dnd.info unreachable: %s", type(exc).__name__, extra={"user_id": user_id})
        return None


def send_export(services: Services, who: Who, client: WebClient) -> None:
    """Everything stored about the person, as a JSON file in their DM with the bot."""
    try:
        data = export_data(services.db, who)
        channel = client.conversations_open(users=who.user_id)["channel"]["id"]
        client.files_upload_v2(
            channel=channel,
            content=json.dumps(data, indent=2, sort_keys=True),
            filename="psoas-bot-export.json",
            title="Everything psoas-bot stores about you",
            initial_comment="Here is everything I store about you. `/psoas forget me` deletes it.",
        )
    except DatabaseUnavailableError:
        client.chat_postMessage(channel=who.user_id, **CANNOT_SAVE.as_kwargs())
    except Exception:
        log.exception("export failed", extra={"team_id": who.team_id, "user_id": who.user_id})
