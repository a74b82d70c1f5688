"""Many workspaces: Add to Slack, uninstall and token revocation, driven as Slack drives them."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.core.changes import TurnOn
from bot.data.database import Database
from bot.data.installations import (
    OAUTH_METADATA,
    EncryptedInstallationStore,
    parse_keys,
)
from bot.data.models import Person, Workspace
from bot.data.people import Who, change_preferences
from bot.settings import Settings, load_settings
from bot.slack.app import build_app
from bot.slack.wsgi import WebApp
from tests.support.bots import AfterAck
from tests.support.serving import BackgroundServer
from tests.support.slack import SIGNING_SECRET, command_body, event_body, signed_headers
from tests.support.standin import SlackStandIn

KEY = Fernet.generate_key().decode()
CLIENT_ID = "1111.2222"


def oauth_access(team: str, token: str, installer: str) -> tuple[int, dict, dict]:
    return (
        200,
        {
            "ok": True,
            "app_id": "A0001",
            "authed_user": {"id": installer},
            "scope": "commands,chat:write,users:read,dnd:read,im:write,im:history,files:write",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": "UBOT",
            "team": {"id": team, "name": f"Team {team}"},
            "enterprise": None,
            "is_enterprise_install": False,
        },
        {},
    )


@pytest.fixture
def oauth_settings(standin: SlackStandIn) -> Settings:
    return load_settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_client_id=CLIENT_ID,
        slack_client_secret="oauth-client-secret-9d",
        token_encryption_key=KEY,
        slack_api_url=standin.api_url,
    )


class Site:
    def __init__(self, url: str, standin: SlackStandIn) -> None:
        self.url, self.standin = url, standin
        self.http = requests.Session()

    def install(self, team: str, token: str, installer: str = "UINSTALLER") -> requests.Response:
        page = self.http.get(self.url + "/slack/install")
        assert page.status_code == 200
        link = re.search(r'href="(https://slack.com/oauth/v2/authorize\?[^"]+)"', page.text)
        assert link, page.text
        query = urllib.parse.parse_qs(urllib.parse.urlparse(link[1].replace("&amp;", "&")).query)
        assert query["client_id"] == [CLIENT_ID]
        assert "chat:write" in query["scope"][0].split(",")
        self.standin.script("oauth.v2.access", oauth_access(team, token, installer))
        # The state cookie is Secure, so a browser sends it back only over HTTPS; this test
        # talks plain HTTP on loopback and returns it by hand, as the browser would.
        cookie = page.headers["Set-Cookie"].split(";")[0]
        return self.http.get(
            self.url + "/slack/oauth_redirect",
            params={"code": "one-time-code", "state": query["state"][0]},
            headers={"Cookie": cookie},
        )

    def post(self, body: str, *, json_body: bool = False) -> requests.Response:
        headers = signed_headers(body, json_body=json_body)
        return self.http.post(self.url + "/slack/events", data=body.encode(), headers=headers)

    def event(self, team: str, event: dict) -> int:
        return self.post(event_body(event, team=team), json_body=True).status_code


@pytest.fixture
def site(
    oauth_settings: Settings, library, db: Database, standin: SlackStandIn, after_ack: AfterAck
) -> Iterator[Site]:
    app = build_app(oauth_settings, library=library, database=db, after_ack=after_ack)
    web = WebApp(app, max_body_bytes=oauth_settings.max_body_bytes)
    with BackgroundServer(web) as server:
        site = Site(server.url, standin)
        yield site
        after_ack.settle()  # nothing a test started reaches the next one
        site.http.close()


def stored_tokens(db: Database) -> list[tuple[str, str]]:
    bots = OAUTH_METADATA.tables["slack_bots"]
    with db.engine.connect() as connection:
        return [(r.team_id, r.bot_token) for r in connection.execute(select(bots))]


def test_add_to_slack_stores_an_encrypted_token_and_greets_the_installer(
    site: Site, db: Database, standin: SlackStandIn
) -> None:
    done = site.install("TNEW", "xoxb-new-workspace-token-77")
    assert done.status_code == 200
    [(team, stored)] = stored_tokens(db)
    assert team == "TNEW" and stored.startswith("fernet:")
    assert "xoxb-new-workspace-token-77" not in stored
    store = EncryptedInstallationStore(CLIENT_ID, db.engine, parse_keys(KEY))
    assert store.find_bot(enterprise_id=None, team_id="TNEW").bot_token == (
        "xoxb-new-workspace-token-77"
    )
    [greeting] = standin.calls_to("chat.postMessage")
    assert greeting.token == "xoxb-new-workspace-token-77"
    assert greeting.args["channel"] == "UINSTALLER"
    assert "/psoas" in greeting.args["text"]
    with db.session() as session:
        assert session.get(Workspace, "TNEW").active


def test_commands_from_an_installed_workspace_use_its_token(
    site: Site, standin: SlackStandIn
) -> None:
    site.install("TNEW", "xoxb-new-workspace-token-77")
    standin.reset()
    url = standin.response_url("on")
    answer = site.post(command_body("on", team="TNEW", user="U42", response_url=url))
    # Someone new: the ack goes out at once, and the answer follows once Slack has said
    # their time zone, through the command's response URL.
    assert (answer.status_code, answer.text) == (200, "")
    [said] = standin.wait_for("response_url")
    assert "Nudges are on" in said.args["text"]
    [lookup] = standin.calls_to("users.info")
    assert lookup.token == "xoxb-new-workspace-token-77"


def test_a_command_from_a_workspace_never_installed_is_refused(
    site: Site, db: Database, standin: SlackStandIn
) -> None:
    site.install("TNEW", "xoxb-new-workspace-token-77")  # another workspace is installed
    standin.reset()
    body = command_body("on", team="TUNKNOWN", user="U42", response_url=standin.response_url())
    answer = site.post(body)
    # Slack gets an empty 200 at once; the person is told, in the channel, to reinstall.
    assert (answer.status_code, answer.text) == (200, "")
    [told] = standin.calls_to("response_url")
    assert "reinstall this app into your workspace" in told.args["text"]
    assert "Nudges are on" not in told.args["text"]
    # Nothing else: no Web API call with any workspace's token, nothing stored.
    assert [call.method for call in standin.calls] == ["response_url"]
    with db.session() as session:
        assert session.get(Person, ("TUNKNOWN", "U42")) is None
        assert session.get(Workspace, "TUNKNOWN") is None


def test_an_event_from_a_workspace_never_installed_does_nothing(
    site: Site, db: Database, standin: SlackStandIn
) -> None:
    home = {"type": "app_home_opened", "user": "U42", "tab": "home"}
    assert site.event("TUNKNOWN", home) == 200  # Slack must not retry it
    assert standin.calls == []  # no views.publish, with no token to send it with
    with db.session() as session:
        assert session.get(Workspace, "TUNKNOWN") is None


@pytest.mark.parametrize(
    "order", [("app_uninstalled", "tokens_revoked"), ("tokens_revoked", "app_uninstalled")]
)
def test_uninstall_and_revocation_delete_that_workspace_only(
    site: Site, db: Database, order: tuple[str, str]
) -> None:
    site.install("TGONE", "xoxb-leaving-token-1")
    site.install("TSTAY", "xoxb-staying-token-2")
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    for team in ("TGONE", "TSTAY"):
        change_preferences(db, Who(team, "U1"), TurnOn(), now=now, timezone_of=lambda: "UTC")
    events = {
        "app_uninstalled": {"type": "app_uninstalled"},
        "tokens_revoked": {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}},
    }
    for name in order:
        assert site.event("TGONE", events[name]) == 200
    assert [team for team, _ in stored_tokens(db)] == ["TSTAY"]
    with db.session() as session:
        assert session.get(Workspace, "TGONE") is None
        assert session.scalars(select(Person.team_id)).all() == ["TSTAY"]
        assert session.get(Workspace, "TSTAY") is not None
