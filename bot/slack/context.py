"""The request context: what every listener needs (gathered once by `build_app` and handed
over in Bolt's context), and who is asking from which workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from slack_bolt import BoltContext
from slack_sdk.oauth.installation_store import InstallationStore

from bot.core.content import Library
from bot.data.database import Database
from bot.data.people import Who
from bot.settings import Settings

# A Slack payload, or a part of one (an action, an event), as Bolt hands it to a listener.
Payload = dict[str, Any]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    library: Library
    db: Database
    # Many workspaces (OAuth): where installations and their bot tokens are kept.
    installation_store: InstallationStore | None = None
    # Time is a parameter: tests pass a fixed clock instead of sleeping.
    clock: Callable[[], datetime] = field(default=utc_now)

    def __deepcopy__(self, _memo: dict[int, object]) -> Services:
        # Bolt deep-copies the context for work after the ack (lazy listeners); these are
        # the process's shared, thread-safe parts, so the copy is the same object.
        return self


CONTEXT_KEY = "services"


def services_of(context: BoltContext) -> Services:
    return cast(Services, context[CONTEXT_KEY])


def typed_text(value: object) -> str:
    """What the person typed. Slack sends `&`, `<` and `>` in it as `&amp;`, `&lt;` and
    `&gt;` (https://docs.slack.dev/messaging/formatting-message-text#escaping): read them
    back once here, so the core sees the characters and the renderer escapes them once."""
    text = value if isinstance(value, str) else ""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _field(value: object, key: str) -> str | None:
    return _text(value.get(key)) if isinstance(value, dict) else None


def workspace_of(context: BoltContext, body: Payload) -> str:
    """The workspace a request comes from.

    Bolt reads it from the signed payload. An org-wide install on Enterprise Grid sends
    `team_id: null` in `authorizations`, and then the workspace is in the payload itself:
    the event's top-level `team_id`, `user.team_id`, `view.app_installed_team_id` or
    `view.team_id` (https://docs.slack.dev/enterprise/developing-for-enterprise-orgs).
    Only when none names one does the org's id stand in for it.
    """
    event = body.get("event")
    event_user = event.get("user") if isinstance(event, dict) else None
    candidates = (
        context.team_id,
        _text(body.get("team_id")),
        _field(body.get("user"), "team_id"),
        _field(body.get("view"), "app_installed_team_id"),
        _field(body.get("view"), "team_id"),
        _field(event_user, "team_id"),
        _field(event.get("view") if isinstance(event, dict) else None, "team_id"),
    )
    return next((team for team in candidates if team), None) or context.enterprise_id or ""


def who_from(context: BoltContext, body: Payload, user_id: str | None = None) -> Who:
    """The person a request is about: the one who clicked or typed, unless an event names
    another (`user_id`), always within the request's own workspace and org."""
    return Who(
        workspace_of(context, body),
        user_id or context.user_id or "",
        enterprise_id=context.enterprise_id,
        org_install=bool(context.is_enterprise_install),
    )
