"""The request context: what every listener needs (gathered once by `build_app` and handed
over in Bolt's context), and who is asking from which workspace."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
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
    # Work that may take longer than Slack's 3 seconds (the export) runs here after the ack.
    background: Executor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="psoas-bg")
    )


CONTEXT_KEY = "services"


def services_of(context: BoltContext) -> Services:
    return cast(Services, context[CONTEXT_KEY])


def workspace_of(context: BoltContext, team_hint: object = None) -> str:
    """The workspace a request comes from, as Bolt read it from the signed payload; then
    a workspace the payload itself names (`team_hint`, such as an event's `user.team_id`);
    an org-wide install without either falls back to the enterprise id."""
    hint = team_hint if isinstance(team_hint, str) else None
    return context.team_id or hint or context.enterprise_id or ""


def who_from(context: BoltContext, user_id: str | None = None, *, team_hint: object = None) -> Who:
    """The person a request is about: the one who clicked or typed, unless an event names
    another (`user_id`), always within the request's own workspace."""
    return Who(workspace_of(context, team_hint), user_id or context.user_id or "")
