"""What the listeners need, gathered once by `build_app` and handed to them in Bolt's context."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slack_bolt import BoltContext
from slack_sdk.oauth.installation_store import InstallationStore

from bot.content import Library
from bot.database import Database
from bot.settings import Settings


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
    return context[CONTEXT_KEY]
