"""Fault injection: PostgreSQL behind a proxy that refuses, hangs or cuts; the stand-in Slack
slow, down, or asking one workspace to wait. Each test says what a person saw and in how
many seconds; the run ends with those findings, one line each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.core.content import Library
from bot.data.database import Database
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.wsgi import Readiness, WebApp
from tests.faults.proxy import FaultyProxy
from tests.faults.support import FaultyStandIn
from tests.support.bots import AfterAck
from tests.support.clock import Clock
from tests.support.serving import BackgroundServer

FINDINGS: list[str] = []


def finding(point: str, what: str, seconds: float) -> None:
    """What a person saw, and how long it took: printed at the end of the run."""
    FINDINGS.append(f"{point}: {what} ({seconds:.2f} s)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FINDINGS:
        terminalreporter.section("what a person saw under each fault")
        for line in FINDINGS:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def _standin_server() -> Iterator[FaultyStandIn]:
    """The stand-in with fault knobs, in place of the plain one for these tests."""
    standin = FaultyStandIn().start()
    yield standin
    standin.release()
    standin.stop()


@pytest.fixture
def standin(_standin_server: FaultyStandIn) -> Iterator[FaultyStandIn]:
    _standin_server.reset()
    yield _standin_server
    _standin_server.release()  # nothing a test held back outlives it


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[FaultyProxy]:
    with FaultyProxy() as faulty:
        yield faulty


@pytest.fixture
def faulty_db(postgres_db: Database, proxy: FaultyProxy) -> Iterator[Database]:
    """The emptied test database, reached through the proxy."""
    database = Database(proxy.url(postgres_db.url))
    yield database
    database.dispose()


@dataclass
class Served:
    url: str
    standin: FaultyStandIn
    after_ack: AfterAck


@pytest.fixture
def served(
    settings: Settings,
    library: Library,
    faulty_db: Database,
    standin: FaultyStandIn,
    clock: Clock,
    after_ack: AfterAck,
) -> Iterator[Served]:
    """The bot over real HTTP, with as many server threads as production runs, on the
    database behind the proxy."""
    app = build_app(settings, library=library, database=faulty_db, clock=clock, after_ack=after_ack)
    readiness = Readiness(faulty_db, cache_seconds=0)
    web_app = WebApp(app, max_body_bytes=settings.max_body_bytes, readiness=readiness)
    with BackgroundServer(web_app, threads=settings.server_threads) as server:
        yield Served(server.url, standin, after_ack)
        after_ack.settle()
