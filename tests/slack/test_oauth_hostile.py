"""OAuth that cleans up after itself (issue 14, point 8), table-driven like test_hostile.py:
an install page fetched over and over, oauth.v2.access hanging or answering without a
token, the database failing to keep a state or an installation. Each case gets the clear
failure page (or a short install page), never a 500, and the log one line about it, with
no SQL, no parameters and no token."""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.data.database import Database
from bot.data.installations import OAUTH_METADATA
from bot.settings import Settings, load_settings
from bot.slack import app as app_module
from bot.slack.app import build_app
from bot.slack.wsgi import WebApp
from tests.slack.test_oauth import CLIENT_ID, KEY, Site, oauth_access, stored_tokens
from tests.support.bots import AfterAck
from tests.support.serving import BackgroundServer
from tests.support.slack import SIGNING_SECRET
from tests.support.standin import Call, SlackStandIn

TOKEN = "xoxb-new-workspace-token-77"
STATES = OAUTH_METADATA.tables["slack_oauth_states"]


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
def site(
    oauth_settings: Settings,
    library,
    db: Database,
    standin: SlackStandIn,
    after_ack: AfterAck,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Site]:
    monkeypatch.setattr(app_module, "MAX_PENDING_INSTALLS", 20)  # the bound, made small
    monkeypatch.setattr(app_module, "WEB_API_TIMEOUT", 1)  # Slack's answer, waited 1 s
    app = build_app(oauth_settings, library=library, database=db, after_ack=after_ack)
    with BackgroundServer(WebApp(app, max_body_bytes=oauth_settings.max_body_bytes)) as server:
        site = Site(server.url, standin)
        yield site
        after_ack.settle()
        site.http.close()


def pending_states(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(STATES)).scalar() or 0)


def callback(site: Site, answer: tuple[int, dict, dict] | None) -> requests.Response:
    """The install page, then Slack's redirect back with a code, as a browser follows it;
    `answer` is what oauth.v2.access says (None: the test scripted it already)."""
    page = site.http.get(site.url + "/slack/install")
    assert page.status_code == 200
    link = re.search(r'href="(https://slack.com/oauth/v2/authorize\?[^"]+)"', page.text)
    assert link
    query = urllib.parse.parse_qs(urllib.parse.urlparse(link[1].replace("&amp;", "&")).query)
    if answer is not None:
        site.standin.script("oauth.v2.access", answer)
    return site.http.get(
        site.url + "/slack/oauth_redirect",
        params={"code": "one-time-code", "state": query["state"][0]},
        headers={"Cookie": page.headers["Set-Cookie"].split(";")[0]},
    )


@dataclass
class Case:
    name: str
    run: Callable[[Site, Database, pytest.MonkeyPatch], requests.Response]
    status: int
    page: str  # what the browser shows (a part of it)
    logged: str  # the one WARNING line (a part of it)


def flood(site: Site, db: Database, _mp: pytest.MonkeyPatch) -> requests.Response:
    """The install page fetched 30 times, with 50 expired states left from before."""
    expired = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    with db.engine.begin() as connection:
        connection.execute(
            STATES.insert(), [{"state": f"old-{n}", "expire_at": expired} for n in range(50)]
        )
    answers = [requests.get(site.url + "/slack/install", timeout=10) for _ in range(30)]
    assert [a.status_code for a in answers] == [200] * 20 + [503] * 10
    assert pending_states(db) == 20  # the expired ones deleted, no more than the bound kept
    return answers[-1]


def hanging(site: Site, _db: Database, _mp: pytest.MonkeyPatch) -> requests.Response:
    released = threading.Event()

    def slowly(call: Call) -> None:
        if call.method == "oauth.v2.access":
            released.wait(3)  # longer than the 1 s the bot waits
        return None

    site.standin.responder = slowly
    try:
        return callback(site, None)
    finally:
        released.set()


def no_token(site: Site, _db: Database, _mp: pytest.MonkeyPatch) -> requests.Response:
    status, body, headers = oauth_access("TNEW", TOKEN, "UINSTALLER")
    del body["access_token"]
    return callback(site, (status, body, headers))


def store_fails(site: Site, _db: Database, mp: pytest.MonkeyPatch) -> requests.Response:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    def insert_fails(*_args: object, **_kwargs: object) -> None:
        raise IntegrityError(
            "INSERT INTO slack_bots (bot_token) VALUES (%(bot_token)s)",
            {"bot_token": TOKEN},
            Exception("duplicate key"),
        )

    mp.setattr(SQLAlchemyInstallationStore, "save", insert_fails)
    return callback(site, oauth_access("TNEW", TOKEN, "UINSTALLER"))


def state_store_down(site: Site, db: Database, mp: pytest.MonkeyPatch) -> requests.Response:
    from bot.data.installations import BoundedStateStore

    def down(*_args: object, **_kwargs: object) -> bool:
        from bot.data.database import DatabaseUnavailableError

        raise DatabaseUnavailableError("OperationalError")

    page = site.http.get(site.url + "/slack/install")
    mp.setattr(BoundedStateStore, "consume", down)
    state = re.search(r"state=([^&\"]+)", page.text)
    assert state
    return site.http.get(
        site.url + "/slack/oauth_redirect",
        params={"code": "one-time-code", "state": urllib.parse.unquote(state[1])},
        headers={"Cookie": page.headers["Set-Cookie"].split(";")[0]},
    )


def install_page_down(site: Site, _db: Database, mp: pytest.MonkeyPatch) -> requests.Response:
    from bot.data.database import DatabaseUnavailableError
    from bot.data.installations import BoundedStateStore

    def down(*_args: object, **_kwargs: object) -> str:
        raise DatabaseUnavailableError("OperationalError")

    mp.setattr(BoundedStateStore, "issue", down)
    return requests.get(site.url + "/slack/install", timeout=10)


def slack_unreachable_for_auth_test(
    site: Site, _db: Database, _mp: pytest.MonkeyPatch
) -> requests.Response:
    site.standin.script("auth.test", (503, {"ok": False, "error": "service_unavailable"}, {}))
    return callback(site, oauth_access("TNEW", TOKEN, "UINSTALLER"))


CASES = [
    Case("the install page fetched 30 times (bound 20)", flood, 503, "under way", "too many"),
    Case("oauth.v2.access hanging", hanging, 503, "Something Went Wrong", "slack_unreachable"),
    Case(
        "an ok answer without access_token", no_token, 502, "Something Went Wrong", "missing_token"
    ),
    Case(
        "the installation insert failing", store_fails, 503, "Something Went Wrong", "storage_error"
    ),
    Case(
        "the database down when the state is read",
        state_store_down,
        503,
        "Something Went Wrong",
        "storage_unavailable",
    ),
    Case(
        "the database down for the install page",
        install_page_down,
        503,
        "unavailable",
        "install page failed",
    ),
    Case(
        "auth.test answering 503 after the code",
        slack_unreachable_for_auth_test,
        503,
        "Something Went Wrong",
        "slack_unreachable",
    ),
]


def test_the_table_covers_every_case_of_point_8() -> None:
    assert len(CASES) == 7


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_oauth_failures_get_the_failure_page_and_one_line(
    site: Site,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
) -> None:
    caplog.set_level(logging.INFO)
    response = case.run(site, db, monkeypatch)
    assert response.status_code == case.status, response.text
    assert case.page in response.text
    lines = [r for r in caplog.records if r.name.startswith(("bot", "slack_"))]
    text = "\n".join(r.getMessage() for r in lines)
    assert not [r for r in lines if r.exc_info or r.levelno >= logging.ERROR], text
    warnings = [r for r in lines if r.levelno == logging.WARNING]
    assert len(warnings) >= 1 and case.logged in warnings[-1].getMessage(), text
    for leak in (TOKEN, "INSERT", "parameters", "bot_token", "oauth-client-secret-9d"):
        assert leak not in text
    assert stored_tokens(db) == []  # nothing half-installed
    assert CLIENT_ID  # the same app as test_oauth's
