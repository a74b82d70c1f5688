from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest
import requests
from slack_bolt import App
from sqlalchemy import MetaData, create_engine
from sqlalchemy.exc import OperationalError

from bot.core.content import Library, load_library
from bot.data.database import Bounds, Database
from bot.data.installations import OAUTH_METADATA
from bot.data.models import Base
from bot.data.schema import upgrade
from bot.settings import Settings, load_settings
from bot.slack.app import build_app
from bot.slack.wsgi import WebApp
from tests.support.bots import AfterAck, DispatchedBot, HttpBot
from tests.support.clock import Clock
from tests.support.serving import BackgroundServer
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET
from tests.support.standin import SlackStandIn

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRE_POSTGRES:
        pytest.fail(f"PostgreSQL is required here (REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(
        f"PostgreSQL tests skipped: {reason}. Set TEST_DATABASE_URL="
        "postgresql+psycopg://postgres@127.0.0.1:5432/test to run them"
    )


def _fresh_schema(url: str) -> None:
    """Drop whatever an earlier run left (whatever its schema version), then migrate."""
    engine = create_engine(url)
    with engine.begin() as connection:
        leftover = MetaData()
        leftover.reflect(connection)  # reflected foreign keys give a safe drop order
        leftover.drop_all(connection)
    engine.dispose()
    upgrade(url)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'psoas.db'}"
    else:
        if not POSTGRES_URL:
            _unavailable("TEST_DATABASE_URL is not set")
        url = POSTGRES_URL
        try:
            create_engine(url, connect_args={"connect_timeout": 3}).connect().close()
        except OperationalError as exc:
            _unavailable(f"{url} is unreachable ({type(exc.orig).__name__})")
    _fresh_schema(url)
    _MIGRATED.add(url)
    return url


def _emptied(url: str) -> Database:
    # A failure a test provokes on purpose does not make the next unit wait for a retry
    # (tests/faults/ test the breaker itself).
    database = Database(url, Bounds(retry_seconds=0))
    with database.session() as session:
        for table in [*reversed(Base.metadata.sorted_tables), *OAUTH_METADATA.sorted_tables]:
            session.execute(table.delete())
    return database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The migrated database, emptied before each test."""
    database = _emptied(database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """For tests that only make sense on PostgreSQL (several processes writing at once)."""
    if not POSTGRES_URL:
        _unavailable("TEST_DATABASE_URL is not set")
    try:
        create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3}).connect().close()
    except OperationalError as exc:
        _unavailable(f"{POSTGRES_URL} is unreachable ({type(exc.orig).__name__})")
    return POSTGRES_URL


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    database_url_ready = _fresh_schema_once(postgres_url)
    database = _emptied(database_url_ready)
    yield database
    database.dispose()


_MIGRATED: set[str] = set()


def _fresh_schema_once(url: str) -> str:
    if url not in _MIGRATED:
        _fresh_schema(url)
        _MIGRATED.add(url)
    return url


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
def clock() -> Clock:
    return Clock()


@pytest.fixture
def after_ack() -> Iterator[AfterAck]:
    """Where the bot does the work that follows an ack, so a test can wait for it."""
    with AfterAck() as executor:
        yield executor


@pytest.fixture
def app(
    settings: Settings, library: Library, db: Database, clock: Clock, after_ack: AfterAck
) -> App:
    """The Bolt app itself, for `app.dispatch()` tests."""
    return build_app(settings, library=library, database=db, clock=clock, after_ack=after_ack)


@pytest.fixture
def slack(app: App, standin: SlackStandIn, after_ack: AfterAck) -> DispatchedBot:
    """The bot as Slack reaches it, through `app.dispatch()`: the default for listener tests.
    Each request returns its ack once the work after the ack is done as well."""
    return DispatchedBot(app, standin, after_ack)


@pytest.fixture
def slack_without_database(
    settings: Settings, library: Library, standin: SlackStandIn, after_ack: AfterAck
) -> DispatchedBot:
    """The bot with a PostgreSQL URL where nothing listens, as when the database is down."""
    down = Database("postgresql+psycopg://psoas@127.0.0.1:1/psoas")
    app = build_app(settings, library=library, database=down, after_ack=after_ack)
    return DispatchedBot(app, standin, after_ack)


@pytest.fixture
def bot(
    settings: Settings,
    library: Library,
    standin: SlackStandIn,
    db: Database,
    clock: Clock,
    after_ack: AfterAck,
) -> Iterator[HttpBot]:
    """The real WSGI app behind waitress on a free loopback port, for end-to-end tests."""
    app = build_app(settings, library=library, database=db, clock=clock, after_ack=after_ack)
    web_app = WebApp(app, max_body_bytes=settings.max_body_bytes)
    with BackgroundServer(web_app) as server, requests.Session() as session:
        yield HttpBot(server.url, standin, session, after_ack)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "listener_fails: the test makes a listener fail on purpose")


@pytest.fixture(autouse=True)
def no_listener_failure_unnoticed(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """The error handler answers Slack 200 even when a listener raised, so a status alone
    cannot show that a request was handled: any listener failure fails the test, unless the
    test is about one (`@pytest.mark.listener_fails`)."""
    yield
    if request.node.get_closest_marker("listener_fails"):
        return
    failed = [
        record.getMessage()
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
        if record.getMessage().startswith("listener failed")
    ]
    assert failed == [], f"a listener failed: {failed}"


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)  # what production logs
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


# Every secret any test configures; none may appear in any log line of the whole suite.
SUITE_SECRETS = (
    SIGNING_SECRET,
    BOT_TOKEN,
    "xoxb-new-workspace-token-77",
    "xoxb-leaving-token-1",
    "xoxb-staying-token-2",
    "oauth-client-secret-9d",
)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log_line() -> Iterator[None]:
    handler = _Everything()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield
    # Whatever subset of the suite ran (some log nothing), the capture must still be
    # working at the end: a line the bot's own logger writes now has to arrive. A test that
    # replaced the root handlers, raised a level or stopped propagation fails this.
    canary = f"log capture check {uuid.uuid4().hex}"
    logging.getLogger("bot.slack.app").info(canary)
    root.removeHandler(handler)
    root.setLevel(previous)
    assert any(canary in line for line in handler.lines), "the log capture is not working"
    leaks = [line for line in handler.lines if any(s in line for s in SUITE_SECRETS)]
    assert leaks == [], f"secrets reached the log: {leaks[:3]}"
