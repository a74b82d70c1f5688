"""The manifest a workspace admin installs from agrees with what the app listens to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import ids
from bot.slack.listeners.commands import COMMANDS
from bot.slack.listeners.events import EVENTS
from tests.support.bots import Bot

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "manifest.yaml"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


def test_slash_commands_agree(manifest) -> None:
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == set(COMMANDS)


def test_bot_events_agree_and_each_is_handled(manifest, slack: Bot) -> None:
    declared = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert declared == set(EVENTS)
    for event in sorted(declared):
        assert slack.event({"type": event, "user": "U0001", "tab": "home"}).status_code == 200, (
            event
        )
    # An event the manifest does not subscribe to finds no listener.
    assert slack.event({"type": "reaction_added"}).status_code == 404


def test_every_url_is_the_one_slack_endpoint(manifest) -> None:
    urls = [c["url"] for c in manifest["features"]["slash_commands"]]
    urls += [
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
    ]
    assert all(url.endswith("/slack/events") for url in urls)


def test_scopes_are_least_privilege_and_match_oauth(manifest) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == set(ids.BOT_SCOPES)
    # Reading history only of the bot's own DMs (to check before a resend), never channels.
    assert {s for s in scopes if s.endswith(":history")} <= {"im:history"}
    assert not any(s.startswith("admin") for s in scopes)
    redirects = manifest["oauth_config"]["redirect_urls"]
    assert [url.endswith(ids.REDIRECT_PATH) for url in redirects] == [True]
