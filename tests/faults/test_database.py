"""Point 1: bounded waits. PostgreSQL behind a proxy that hangs, refuses or cuts; SQLite held
by another writer. A settings command answers "I can't reach my database" inside Slack's
3 seconds; exercise commands and /healthz, which need no database, keep answering; /readyz
says the database is unavailable within its own bound; once the database is back, the
next settings command is saved."""

from __future__ import annotations

import sqlite3
import time
from datetime import time as clock_time
from pathlib import Path

import pytest

from bot.core.content import Library
from bot.data.database import Bounds, Database
from bot.data.people import Who, ensure_person, read_preferences
from bot.metrics import PassBeat
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.wsgi import Readiness, WebApp
from tests.faults.conftest import Served, finding
from tests.faults.proxy import FaultyProxy, Mode
from tests.faults.support import Timed, command, fresh_sqlite_url, get, side_by_side
from tests.support.bots import AfterAck, DispatchedBot
from tests.support.standin import SlackStandIn

CANNOT_SAVE = "can't reach my database"
SLACK_LIMIT = 3.0  # Slack shows its own error when an answer takes longer
FULL_SPEED = 0.5  # what an answer that needs no database may take on a loaded test machine
PEOPLE = [f"U{n:04d}" for n in range(1, 17)]


def known(db: Database, *users: str) -> None:
    """People the bot knows, not nudged: their settings commands are answered in the ack."""
    with db.session() as session:
        for user in users:
            ensure_person(session, team_id="T0001", user_id=user, tz="UTC")


def round_of_requests(served: Served) -> tuple[list[Timed], list[Timed], list[Timed]]:
    """16 settings commands, 8 exercise commands and 4 health checks, all at once."""
    url = served.standin.response_url
    settings = [
        command(served.url, "quiet 12:00-13:00", user=u, response_url=url(f"s-{u}")) for u in PEOPLE
    ]
    exercises = [
        command(served.url, "half-kneel", user=u, response_url=url(f"e-{u}")) for u in PEOPLE[:8]
    ]
    health = [lambda: get(served.url + "/healthz") for _ in range(4)]
    answers = side_by_side([*settings, *exercises, *health])
    return answers[:16], answers[16:24], answers[24:]


def test_a_hung_database_costs_a_settings_command_two_seconds_and_nothing_else(
    served: Served, proxy: FaultyProxy, faulty_db: Database
) -> None:
    known(faulty_db, *PEOPLE)
    warm = command(served.url, "quiet 11:00-11:30", user=PEOPLE[0], response_url="")()
    assert warm.status == 200 and "Quiet hours saved" in warm.said

    proxy.set(Mode.HANG)  # the network to the database takes everything and answers nothing
    settings, exercises, health = round_of_requests(served)
    # The moment it hangs: every settings command hears why nothing was saved, in time.
    assert all(a.status == 200 and CANNOT_SAVE in a.said for a in settings), settings
    assert max(a.seconds for a in settings) < SLACK_LIMIT
    assert all("Half kneel" in a.said for a in exercises)
    assert max(a.seconds for a in exercises) < SLACK_LIMIT
    assert all(a.status == 200 for a in health)
    finding(
        "1 hung database, at onset",
        "16 settings commands at once: 'I can't reach my database', the slowest after",
        max(a.seconds for a in settings),
    )

    # While it stays hung, one request at a time (one a second) tries it; the rest are
    # answered at once, and nothing that needs no database waits for it.
    settings, exercises, health = round_of_requests(served)
    assert all(CANNOT_SAVE in a.said for a in settings)
    assert max(a.seconds for a in settings) < SLACK_LIMIT
    assert max(a.seconds for a in exercises) < FULL_SPEED
    assert max(a.seconds for a in health) < FULL_SPEED
    slowest = {
        name: max(a.seconds for a in answers)
        for name, answers in (("settings", settings), ("exercises", exercises), ("health", health))
    }
    finding(
        "1 hung database, later",
        "16 settings commands: 'I can't reach my database', the slowest after",
        slowest["settings"],
    )
    finding(
        "1 hung database, later",
        "8 exercise commands at the same time, the slowest",
        slowest["exercises"],
    )
    finding("1 hung database, later", "/healthz at the same time, the slowest", slowest["health"])

    ready = get(served.url + "/readyz")
    assert ready.status == 503 and "unavailable" in ready.text
    assert ready.seconds < 1.5
    finding("1 hung database", "/readyz: 503, database unavailable", ready.seconds)

    proxy.heal()
    healed = time.monotonic()
    wait_until_ready(served)
    after = command(served.url, "quiet 12:00-13:00", user=PEOPLE[1], response_url="")()
    assert "Quiet hours saved" in after.said
    prefs = read_preferences(faulty_db, Who("T0001", PEOPLE[1]))
    assert prefs is not None and prefs.quiet_start == clock_time(12)
    finding(
        "1 database back", "settings commands are saved again, after", time.monotonic() - healed
    )


def wait_until_ready(served: Served, bound: float = 5.0) -> None:
    """Wait for the database to be back in the bot's eyes (a bound, not a slot)."""
    deadline = time.monotonic() + bound
    while get(served.url + "/readyz").status != 200:
        assert time.monotonic() < deadline, "the bot did not see the database come back"
        time.sleep(0.05)


def test_a_database_that_refuses_or_cuts_is_answered_at_once(
    served: Served, proxy: FaultyProxy, faulty_db: Database
) -> None:
    known(faulty_db, PEOPLE[0])
    first = command(served.url, "quiet 11:00-11:30", user=PEOPLE[0], response_url="")()
    assert "Quiet hours saved" in first.said

    proxy.cut()  # a restart or a failover: every pooled connection is reset
    again = command(served.url, "quiet 12:00-13:00", user=PEOPLE[0], response_url="")()
    assert "Quiet hours saved" in again.said  # the pool connects anew; nobody notices
    finding(
        "1 connections cut (database restarted)",
        "the next settings command is saved",
        again.seconds,
    )

    proxy.set(Mode.REFUSE)
    proxy.cut()
    refused = command(served.url, "quiet 13:00-14:00", user=PEOPLE[0], response_url="")()
    assert CANNOT_SAVE in refused.said and refused.seconds < FULL_SPEED
    ready = get(served.url + "/readyz")
    health = get(served.url + "/healthz")
    assert (ready.status, health.status) == (503, 200)
    finding("1 database refusing connections", "'I can't reach my database'", refused.seconds)


def test_readiness_reports_a_scheduler_that_stopped_passing() -> None:
    now = [1000.0]
    beat = PassBeat(monotonic=lambda: now[0])
    readiness = Readiness(None, scheduler_stale_after=60, beat=beat, monotonic=lambda: now[0])
    assert readiness.report().ready  # just started: the first pass is on its way
    now[0] += 61
    report = readiness.report()
    assert not report.ready and "no pass finished or progressed for 61 s" in report.scheduler
    beat.alive()  # a long pass's heartbeat
    assert readiness.report().ready
    now[0] += 30
    beat.succeeded()
    assert readiness.report().ready


def test_sqlite_held_by_another_writer_is_answered_within_the_bound(
    tmp_path: Path, settings: Settings, library: Library, standin: SlackStandIn
) -> None:
    url = fresh_sqlite_url(tmp_path)
    database = Database(url, Bounds(work_seconds=1.0, retry_seconds=0))
    known(database, "U0001")
    with AfterAck() as after_ack:
        app = build_app(settings, library=library, database=database, after_ack=after_ack)
        bot = DispatchedBot(app, standin, after_ack)
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing, and not finishing
        try:
            started = time.monotonic()
            reply = bot.command("quiet 12:00-13:00")
            seconds = time.monotonic() - started
            assert CANNOT_SAVE in reply.shown()["text"] and seconds < 1.5
            assert "Half kneel" in bot.command("half-kneel").shown()["text"]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert "Quiet hours saved" in bot.command("quiet 12:00-13:00").shown()["text"]
    finding("1 SQLite locked by another writer (1 s bound)", "'I can't reach my database'", seconds)
    database.dispose()


@pytest.mark.parametrize("seconds", [0.5])
def test_a_unit_of_work_that_outlives_its_bound_is_cut(faulty_db: Database, seconds: float) -> None:
    """The watchdog: a statement still running at the unit's bound has its socket cut."""
    from sqlalchemy import text

    from bot.data.database import DatabaseUnavailableError

    faulty_db.breaker.retry_seconds = 0  # the next unit may try at once
    started = time.monotonic()
    with (
        pytest.raises(DatabaseUnavailableError, match="within the bound"),
        faulty_db.session(seconds) as session,
    ):
        session.execute(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < seconds + 0.5
    with faulty_db.session() as session:  # the pool hands out a good connection next
        assert session.execute(text("SELECT 1")).scalar() == 1
        # And the server holds every statement to the request bound too.
        assert session.execute(text("SHOW statement_timeout")).scalar() == "2s"
    with faulty_db.session(15, fail_fast=False, statement_seconds=15) as session:
        assert session.execute(text("SHOW statement_timeout")).scalar() == "15s"


def test_with_oauth_a_workspace_seen_lately_keeps_its_exercises_while_the_database_is_down(
    standin: SlackStandIn,
    library: Library,
    faulty_db: Database,
    proxy: FaultyProxy,
    after_ack: AfterAck,
) -> None:
    """Many workspaces: each request is authorized from the installation store (SQL). A
    workspace seen in the last minutes is still recognised while the database is down, so
    what needs no database keeps answering; what does is told why it cannot."""
    from slack_sdk.oauth.installation_store import Installation

    from bot.settings import load_settings
    from tests.support.serving import BackgroundServer
    from tests.support.slack import SIGNING_SECRET

    oauth = load_settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_client_id="1111.2222",
        slack_client_secret="oauth-client-secret-9d",
        slack_api_url=standin.api_url,
    )
    app = build_app(oauth, library=library, database=faulty_db, after_ack=after_ack)
    store = app.installation_store
    assert store is not None
    store.save(
        Installation(
            app_id="A0001",
            team_id="T0001",
            user_id="U0001",
            bot_token="xoxb-new-workspace-token-77",
            bot_id="B0001",
            bot_user_id="UBOT",
            bot_scopes="commands,chat:write",
        )
    )
    known(faulty_db, "U0001")
    web_app = WebApp(app, max_body_bytes=oauth.max_body_bytes)
    with BackgroundServer(web_app, threads=8) as server:
        url = standin.response_url
        seen = command(server.url, "half-kneel", user="U0001", response_url=url("a"))()
        assert "Half kneel" in seen.said
        proxy.set(Mode.REFUSE)
        proxy.cut()
        exercise = command(server.url, "half-kneel", user="U0001", response_url=url("b"))()
        saving = command(server.url, "quiet 12:00-13:00", user="U0001", response_url=url("c"))()
        after_ack.settle()
    assert "Half kneel" in exercise.said and exercise.seconds < FULL_SPEED
    assert CANNOT_SAVE in saving.said and saving.seconds < FULL_SPEED
    finding("1 database refusing, many workspaces", "an exercise command still answered",
            exercise.seconds)  # fmt: skip


def test_the_database_url_keeps_its_own_libpq_settings() -> None:
    """DATABASE_URL's own settings win, and its `options` (a search_path) keep theirs."""
    from bot.data.database import _postgresql_connect_args

    args = _postgresql_connect_args(
        Bounds(), {"options": "-csearch_path=deploy", "connect_timeout": "9"}
    )
    assert args["options"] == "-csearch_path=deploy -c statement_timeout=2000 -c TimeZone=UTC"
    assert "connect_timeout" not in args and args["tcp_user_timeout"] == 5000
