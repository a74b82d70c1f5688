"""Enterprise Grid: a workspace install inside an org, and an org-wide install.

Payloads are shaped as Slack sends them to such apps: slash commands carry `enterprise_id`
and `is_enterprise_install` (https://docs.slack.dev/interactivity/implementing-slash-commands),
events from an org-wide install carry `authorizations` with `team_id: null` and the workspace
in the top-level `team_id`, as bolt-python's tests/scenario_tests/test_events_org_apps.py
shows; user ids on Grid may start with `W`.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from slack_bolt import App
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select

from bot.cli import make_sender
from bot.core.content import Library
from bot.data.database import Database
from bot.data.installations import EncryptedInstallationStore, parse_keys
from bot.data.models import Person, Workspace
from bot.engine.tick import run_tick
from bot.settings import Settings, load_settings
from bot.slack.app import build_app
from tests.support.bots import AfterAck, DispatchedBot
from tests.support.clock import Clock
from tests.support.slack import SIGNING_SECRET, signed_headers
from tests.support.standin import SlackStandIn

KEY = Fernet.generate_key().decode()
CLIENT_ID = "1111.2222"
ORG = "E0GRID"
ORG_TOKEN = "xoxb-org-wide-token-e1"
GRID_TOKEN = "xoxb-grid-workspace-token-g1"
MONDAY_0815_UTC = datetime(2026, 11, 23, 8, 15, tzinfo=UTC)


@pytest.fixture
def oauth_settings(standin: SlackStandIn) -> Settings:
    return load_settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_client_id=CLIENT_ID,
        slack_client_secret="oauth-client-secret-9d",
        token_encryption_key=KEY,
        slack_api_url=standin.api_url,
    )


@pytest.fixture
def store(db: Database) -> EncryptedInstallationStore:
    return EncryptedInstallationStore(CLIENT_ID, db.engine, parse_keys(KEY))


@pytest.fixture
def grid(
    oauth_settings: Settings,
    library: Library,
    db: Database,
    standin: SlackStandIn,
    clock: Clock,
    after_ack: AfterAck,
) -> Iterator[DispatchedBot]:
    clock.fixed = MONDAY_0815_UTC
    app: App = build_app(
        oauth_settings, library=library, database=db, clock=clock, after_ack=after_ack
    )
    yield DispatchedBot(app, standin, after_ack)


def install_org_wide(store: EncryptedInstallationStore) -> None:
    """What "Add to Slack" stores for an org-wide install: no team, the org's bot token."""
    store.save(
        Installation(
            app_id="A0001",
            enterprise_id=ORG,
            team_id=None,
            user_id="W0ADMIN",
            bot_token=ORG_TOKEN,
            bot_id="B0ORG",
            bot_user_id="W0BOT",
            bot_scopes="commands,chat:write,users:read,dnd:read,im:write,im:history,files:write",
            is_enterprise_install=True,
        )
    )


def install_in_grid_workspace(store: EncryptedInstallationStore, team: str) -> None:
    """A workspace-level install in a workspace that belongs to a Grid org."""
    store.save(
        Installation(
            app_id="A0001",
            enterprise_id=ORG,
            team_id=team,
            user_id="W0ADMIN",
            bot_token=GRID_TOKEN,
            bot_id="B0GRID",
            bot_user_id="W0BOT2",
            bot_scopes="commands,chat:write,users:read,dnd:read,im:write,im:history,files:write",
            is_enterprise_install=False,
        )
    )


def grid_command(text: str, *, team: str, user: str, org_wide: bool, url: str) -> str:
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "team_domain": "grid-workspace",
            "enterprise_id": ORG,
            "enterprise_name": "Grid Org",
            "is_enterprise_install": "true" if org_wide else "false",
            "channel_id": "C0001",
            "channel_name": "general",
            "user_id": user,
            "user_name": "wren",
            "command": "/psoas",
            "text": text,
            "api_app_id": "A0001",
            "response_url": url,
            "trigger_id": "1.2.3",
        }
    )


def org_event(event: dict[str, object], *, team: str | None) -> str:
    """An event from an org-wide install: `authorizations` name the org, not a workspace."""
    body: dict[str, object] = {
        "token": "legacy-verification-token",
        "enterprise_id": ORG,
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev0GRID",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": ORG,
                "team_id": None,
                "user_id": "W0BOT",
                "is_bot": True,
                "is_enterprise_install": True,
            }
        ],
        "is_ext_shared_channel": False,
    }
    if team is not None:
        body["team_id"] = team
    return json.dumps(body)


def send(bot: DispatchedBot, body: str, *, json_body: bool = False) -> int:
    return bot.post(body, signed_headers(body, json_body=json_body)).status_code


def opt_in(bot: DispatchedBot, *, team: str, user: str, org_wide: bool) -> str:
    url = bot.standin.response_url(f"on-{team}-{user}")
    body = grid_command("on", team=team, user=user, org_wide=org_wide, url=url)
    assert send(bot, body) == 200
    [answer] = bot.standin.answers_at(f"on-{team}-{user}")
    return str(answer.args["text"])


def next_nudge_at(db: Database, team: str, user: str) -> datetime:
    with db.session() as session:
        person = session.scalars(
            select(Person).where(Person.team_id == team, Person.user_id == user)
        ).one()
        assert person.next_nudge_at is not None
        return person.next_nudge_at


def nudge_pass(settings: Settings, db: Database, library: Library, at: datetime) -> None:
    report = run_tick(db, make_sender(settings, db), library, now=at)
    assert report.outcomes == {"sent": 1}, report


def test_a_workspace_inside_a_grid_org_gets_its_nudges(
    grid: DispatchedBot,
    store: EncryptedInstallationStore,
    oauth_settings: Settings,
    db: Database,
    library: Library,
) -> None:
    install_in_grid_workspace(store, "T0GRID1")
    assert "Nudges are on" in opt_in(grid, team="T0GRID1", user="W0001", org_wide=False)
    due = next_nudge_at(db, "T0GRID1", "W0001")
    nudge_pass(oauth_settings, db, library, due)
    [dm] = grid.standin.calls_to("chat.postMessage")
    assert (dm.args["channel"], dm.token) == ("W0001", GRID_TOKEN)


def test_an_org_wide_install_nudges_people_in_each_workspace_with_the_orgs_token(
    grid: DispatchedBot,
    store: EncryptedInstallationStore,
    oauth_settings: Settings,
    db: Database,
    library: Library,
) -> None:
    install_org_wide(store)
    for team, user in (("T0NORTH", "W0001"), ("T0SOUTH", "W0002")):
        assert "Nudges are on" in opt_in(grid, team=team, user=user, org_wide=True)
    with db.session() as session:
        workspaces = session.scalars(select(Workspace).order_by(Workspace.team_id)).all()
        # Each person is filed under their own workspace, never under the org's id.
        assert [(w.team_id, w.enterprise_id, w.org_install) for w in workspaces] == [
            ("T0NORTH", ORG, True),
            ("T0SOUTH", ORG, True),
        ]
    due = next_nudge_at(db, "T0NORTH", "W0001")
    assert due == next_nudge_at(db, "T0SOUTH", "W0002")
    report = run_tick(db, make_sender(oauth_settings, db), library, now=due)
    assert report.outcomes == {"sent": 2}, report
    dms = grid.standin.calls_to("chat.postMessage")
    assert sorted((dm.args["channel"], dm.token) for dm in dms) == [
        ("W0001", ORG_TOKEN),
        ("W0002", ORG_TOKEN),
    ]


def test_the_home_tab_of_an_org_wide_install_shows_the_persons_own_settings(
    grid: DispatchedBot, store: EncryptedInstallationStore
) -> None:
    install_org_wide(store)
    opt_in(grid, team="T0NORTH", user="W0001", org_wide=True)
    opened = {"type": "app_home_opened", "user": "W0001", "channel": "D0001", "tab": "home",
              "event_ts": "1606810927.510671"}  # fmt: skip
    assert send(grid, org_event(opened, team="T0NORTH"), json_body=True) == 200
    [publish] = grid.standin.calls_to("views.publish")
    assert publish.token == ORG_TOKEN
    # Their settings from T0NORTH: nudges on, not a blank profile filed under the org's id.
    assert "Nudges: *on*" in json.dumps(publish.args["view"])


def test_uninstalling_an_org_wide_install_forgets_that_org_only(
    grid: DispatchedBot, store: EncryptedInstallationStore, db: Database
) -> None:
    install_org_wide(store)
    install_in_grid_workspace(store, "T0GRID1")  # a workspace-level install in the same org
    opt_in(grid, team="T0NORTH", user="W0001", org_wide=True)
    opt_in(grid, team="T0GRID1", user="W0009", org_wide=False)
    uninstalled = {"type": "app_uninstalled", "event_ts": "1606810927.510671"}
    assert send(grid, org_event(uninstalled, team=None), json_body=True) == 200
    assert store.find_bot(enterprise_id=ORG, team_id=None, is_enterprise_install=True) is None
    kept = store.find_bot(enterprise_id=ORG, team_id="T0GRID1")
    assert kept is not None and kept.bot_token == GRID_TOKEN
    with db.session() as session:
        assert session.scalars(select(Person.team_id)).all() == ["T0GRID1"]
        assert session.get(Workspace, "T0NORTH") is None


def test_revoking_a_grid_workspace_install_forgets_that_workspace_only(
    grid: DispatchedBot, store: EncryptedInstallationStore, db: Database
) -> None:
    install_org_wide(store)
    install_in_grid_workspace(store, "T0GRID1")
    opt_in(grid, team="T0NORTH", user="W0001", org_wide=True)
    opt_in(grid, team="T0GRID1", user="W0009", org_wide=False)
    revoked = {"type": "tokens_revoked", "tokens": {"bot": ["W0BOT2"]},
               "event_ts": "1606810927.510671"}  # fmt: skip
    body = json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": "T0GRID1",
            "enterprise_id": ORG,
            "api_app_id": "A0001",
            "event": revoked,
            "type": "event_callback",
            "event_id": "Ev0REVOKE",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": ORG,
                    "team_id": "T0GRID1",
                    "user_id": "W0BOT2",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
    )
    assert send(grid, body, json_body=True) == 200
    assert store.find_bot(enterprise_id=ORG, team_id="T0GRID1") is None
    org = store.find_bot(enterprise_id=ORG, team_id=None, is_enterprise_install=True)
    assert org is not None and org.bot_token == ORG_TOKEN
    with db.session() as session:
        assert session.scalars(select(Person.team_id)).all() == ["T0NORTH"]
