from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from slack_bolt import App, BoltRequest, BoltResponse

from bot.app import build_app
from bot.content import Library, load_library
from bot.settings import Settings, load_settings
from bot.web import WebApp
from tests.support.inline import InlineExecutor
from tests.support.serving import BackgroundServer
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET, command_body, signed_headers
from tests.support.standin import SlackStandIn


@pytest.fixture(scope="session")
def library() -> Library:
    return load_library()


@pytest.fixture(scope="session")
def _standin_server() -> Iterator[SlackStandIn]:
    standin = SlackStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def standin(_standin_server: SlackStandIn) -> SlackStandIn:
    _standin_server.reset()
    return _standin_server


@pytest.fixture
def settings(standin: SlackStandIn) -> Settings:
    return load_settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=standin.api_url,
        port=3000,
    )


@pytest.fixture
def app(settings: Settings, library: Library) -> App:
    """The Bolt app with listeners run inline, for `app.dispatch()` tests."""
    return build_app(settings, library=library, listener_executor=InlineExecutor())


def dispatch(app: App, body: str, *, json_body: bool = False) -> BoltResponse:
    """Dispatch a body signed as Slack signs it, as the HTTP adapter would."""
    headers = signed_headers(body, json_body=json_body)
    return app.dispatch(BoltRequest(body=body, headers=headers))


@dataclass
class RunningBot:
    url: str
    standin: SlackStandIn
    session: requests.Session

    def post(self, body: str, headers: dict[str, str]) -> requests.Response:
        return self.session.post(self.url + "/slack/events", data=body.encode(), headers=headers)

    def command(self, text: str, **kwargs: str) -> requests.Response:
        body = command_body(text, response_url=self.standin.response_url(), **kwargs)
        return self.post(body, signed_headers(body))


@pytest.fixture
def bot(settings: Settings, library: Library, standin: SlackStandIn) -> Iterator[RunningBot]:
    """The real WSGI app behind waitress on a free loopback port."""
    app = build_app(settings, library=library)
    web_app = WebApp(app, max_body_bytes=settings.max_body_bytes)
    with BackgroundServer(web_app) as server, requests.Session() as session:
        yield RunningBot(server.url, standin, session)
