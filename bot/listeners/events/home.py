"""The App Home tab: the exercise library (settings controls arrive with preferences)."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.blocks import build_home
from bot.services import services_of


def publish_home(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    if event.get("tab") not in (None, "home"):
        return
    services = services_of(context)
    client.views_publish(user_id=event["user"], view=build_home(services.library))
