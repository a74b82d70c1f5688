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


# Each subscribed event as Slack sends it (the fields its listener reads).
EVENT_SAMPLES: dict[str, dict[str, Any]] = {
    "app_home_opened": {"type": "app_home_opened", "user": "U0001", "tab": "home"},
    "user_change": {"type": "user_change", "user": {"id": "U0001", "tz": "Europe/Paris"}},
    "dnd_updated_user": {
        "type": "dnd_updated_user",
        "user": "U0001",
        "dnd_status": {"dnd_enabled": False},
    },
    "app_uninstalled": {"type": "app_uninstalled"},
    "tokens_revoked": {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}},
    "user_huddle_changed": {
        "type": "user_huddle_changed",
        "user": {"id": "U0001", "tz": "Europe/Paris", "profile": {"huddle_state": "in_a_huddle"}},
    },
    "channel_archive": {"type": "channel_archive", "channel": "C0001", "user": "U0001"},
    "group_archive": {"type": "group_archive", "channel": "G0001"},
    "channel_deleted": {"type": "channel_deleted", "channel": "C0001"},
    "member_left_channel": {
        "type": "member_left_channel",
        "user": "UBOT",
        "channel": "C0001",
        "channel_type": "C",
        "team": "T0001",
    },
}


def test_bot_events_agree_and_each_is_handled(manifest, slack: Bot) -> None:
    declared = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert declared == set(EVENTS) == set(EVENT_SAMPLES)
    for event in sorted(declared):
        # 200, and (checked for every test) no listener failed on the way.
        assert slack.event(EVENT_SAMPLES[event]).status_code == 200, event
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
