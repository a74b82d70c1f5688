"""Point 7 (the issue's 10): Slack down, calmly. With the Web API answering 503, refusing
connections, or hanging, exercise commands and the commands that need only the database keep
answering at full speed; the bot's identity (auth.test) is asked once, not per request; what
needs the Web API is told "Slack isn't answering me right now"; the log holds one line for
the outage and one when it ends, never a traceback per request."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.core.content import Library
from bot.data.database import Database
from bot.data.people import ensure_person
from bot.settings import Settings
from bot.slack import app as app_module
from bot.slack.app import build_app
from bot.slack.failures import SlackHealth
from bot.slack.wsgi import WebApp
from tests.faults.conftest import finding
from tests.faults.support import FaultyStandIn, Timed, command, post, side_by_side
from tests.support.bots import AfterAck
from tests.support.serving import BackgroundServer
from tests.support.slack import event_body, signed_headers

SLACK_DOWN = "Slack isn't answering me right now"
FULL_SPEED = 0.5


class Clock:
    """SlackHealth's clock: the test moves it past the retry window instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Bot:
    url: str
    standin: FaultyStandIn
    after_ack: AfterAck
    health: SlackHealth
    clock: Clock

    def command(self, text: str, user: str, name: str) -> Timed:
        answer = command(self.url, text, user=user, response_url=self.standin.response_url(name))()
        self.after_ack.settle()
        return answer

    def told(self, name: str) -> list[str]:
        return [str(c.args.get("text", "")) for c in self.standin.answers_at(name)]


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: connections to it are refused


@pytest.fixture(params=["503", "refused", "hanging"])
def fault(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def down_bot(
    settings: Settings,
    library: Library,
    db: Database,
    standin: FaultyStandIn,
    after_ack: AfterAck,
    fault: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Bot]:
    """The bot over HTTP, its Web API down in the way `fault` says; response URLs (another
    host at Slack) still work, so the person can be told."""
    if fault == "refused":
        settings = settings.model_copy(
            update={"slack_api_url": f"http://127.0.0.1:{dead_port()}/api/"}
        )
    elif fault == "hanging":  # answers after the client's (shortened) timeouts
        monkeypatch.setattr(app_module, "WEB_API_TIMEOUT", 1)
        monkeypatch.setattr(app_module, "IDENTITY_TIMEOUT", 1)
        standin.latency = {"*": 3.0}
    else:
        standin.api_down = True
    clock = Clock()
    health = SlackHealth(retry_seconds=15, monotonic=clock)
    app = build_app(
        settings, library=library, database=db, after_ack=after_ack, slack_health=health
    )
    with BackgroundServer(WebApp(app, max_body_bytes=settings.max_body_bytes), threads=8) as srv:
        yield Bot(srv.url, standin, after_ack, health, clock)
        standin.release()
        after_ack.settle()


def test_with_slack_down_the_bot_answers_what_it_can_and_says_what_it_cannot(
    down_bot: Bot, db: Database, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot = down_bot
    with db.session() as session:
        ensure_person(session, team_id="T0001", user_id="U0002", tz="UTC")
    caplog.set_level(logging.INFO)

    # The first request of the process: the bot asks who it is once (and Slack fails it).
    first = bot.command("half-kneel", "U0001", "first")
    assert "Half kneel" in first.said
    finding(f"7 Slack {fault}", "the first exercise command after start-up", first.seconds)

    # Exercise commands and database-only commands, all at once: no Web API call at all.
    sends = [
        *[
            lambda n=n: command(
                bot.url, "half-kneel", user="U0001", response_url=bot.standin.response_url(f"e{n}")
            )()
            for n in range(10)
        ],
        *[
            lambda n=n: command(
                bot.url,
                "quiet 12:00-13:00",
                user="U0002",
                response_url=bot.standin.response_url(f"s{n}"),
            )()
            for n in range(5)
        ],
    ]
    answers = side_by_side(sends)
    bot.after_ack.settle()
    assert all("Half kneel" in a.said for a in answers[:10])
    assert all("Quiet hours saved" in a.said for a in answers[10:])
    slowest = max(a.seconds for a in answers)
    assert slowest < FULL_SPEED
    finding(f"7 Slack {fault}", "10 exercise and 5 settings commands at once, the slowest",
            slowest)  # fmt: skip

    # A newcomer's `/psoas on` needs their time zone from Slack: told why it did not happen.
    started = time.monotonic()
    newcomer = bot.command("on", "U0003", "newcomer")
    assert newcomer.status == 200 and newcomer.text == ""  # the ack, at once
    [told] = bot.told("newcomer")
    assert SLACK_DOWN in told
    finding(f"7 Slack {fault}", f"a newcomer's /psoas on: '{SLACK_DOWN}'",
            time.monotonic() - started)  # fmt: skip
    # The Home tab (views.publish) has no one to tell; it is simply not published.
    for _ in range(3):
        home = event_body({"type": "app_home_opened", "user": "U0001", "tab": "home"})
        response = post(bot.url + "/slack/events", home, signed_headers(home, json_body=True))
        assert response.status == 200
    bot.after_ack.settle()

    # auth.test was asked once for the whole process, however many requests came; the
    # newcomer's users.info found Slack not answering, and nothing asked it after that.
    if fault != "refused":
        api = [m for m in bot.standin.arrived if m != "response_url"]
        assert api == ["auth.test", "users.info"], api
    # One line for the outage, however many requests met it; no trace, nothing at ERROR.
    lines = [r for r in caplog.records if r.name.startswith(("bot", "slack_"))]
    outage = [r for r in lines if "not answering" in r.getMessage()]
    assert len(outage) == 1 and outage[0].levelno == logging.WARNING
    assert not [r for r in lines if r.exc_info or r.levelno >= logging.ERROR], [
        r.getMessage() for r in lines
    ]
    assert bot.health.is_down

    # Slack answers again: past the retry window, the next call tries, and it works.
    bot.standin.api_down = False
    bot.standin.latency = {}
    if fault == "refused":
        return  # nothing will ever listen on that port
    bot.clock.now += 16
    back = bot.command("on", "U0004", "back")
    assert back.status == 200
    assert any("Nudges are on" in text for text in bot.told("back"))
    assert not bot.health.is_down
    assert any("answers again" in r.getMessage() for r in caplog.records)
