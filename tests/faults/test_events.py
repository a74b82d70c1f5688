"""Point 2: no silent loss of events. An event whose handling failed because the database is
down is answered 503, so Slack delivers it again (with `X-Slack-Retry-Num`); once the
database is back, the redelivery takes effect, and a further redelivery changes nothing."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.core.changes import TurnOn
from bot.data.database import Database
from bot.data.models import Person, Workspace
from bot.data.people import Who, change_preferences, read_preferences
from tests.faults.conftest import Served, finding
from tests.faults.proxy import FaultyProxy, Mode
from tests.faults.support import Timed, get, post
from tests.support.slack import event_body, signed_headers

NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)


def deliver(served: Served, body: str, retry: int = 0) -> Timed:
    """One delivery of an event, as Slack sends it (a retry says which one it is)."""
    headers = signed_headers(body, json_body=True)
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"}
    return post(served.url + "/slack/events", body, headers)


def wait_until_ready(served: Served, bound: float = 5.0) -> None:
    deadline = time.monotonic() + bound
    while get(served.url + "/readyz").status != 200:
        assert time.monotonic() < deadline, "the bot did not see the database come back"
        time.sleep(0.05)


def stored(db: Database) -> tuple[list[str], list[tuple[str, str, str]]]:
    with db.session() as session:
        workspaces = sorted(session.scalars(select(Workspace.team_id)))
        people = sorted(session.execute(select(Person.team_id, Person.user_id, Person.tz)))
    return workspaces, [tuple(p) for p in people]


@pytest.mark.parametrize("fault", [Mode.REFUSE, Mode.HANG])
def test_an_uninstall_and_a_new_time_zone_during_an_outage_take_effect_once_it_ends(
    served: Served,
    proxy: FaultyProxy,
    faulty_db: Database,
    caplog: pytest.LogCaptureFixture,
    fault: Mode,
) -> None:
    for team in ("T0001", "T0002"):
        change_preferences(
            faulty_db, Who(team, "U0001"), TurnOn(), now=NOW, timezone_of=lambda: "UTC"
        )
    moved = event_body(
        {"type": "user_change", "user": {"id": "U0001", "team_id": "T0001", "tz": "Asia/Tokyo"}}
    )
    uninstalled = event_body({"type": "app_uninstalled"}, team="T0002")

    proxy.set(fault)
    proxy.cut()
    caplog.clear()
    first = [deliver(served, moved), deliver(served, uninstalled)]
    assert [a.status for a in first] == [503, 503]  # Slack will deliver both again
    warnings = [r for r in caplog.records if "answered 503" in r.getMessage()]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    finding(
        f"2 events during an outage ({fault})",
        "user_change and app_uninstalled answered 503 (Slack redelivers), the slower",
        max(a.seconds for a in first),
    )

    proxy.heal()
    wait_until_ready(served)
    # Slack's first retry comes about a minute later, its second about five minutes after.
    again = [deliver(served, moved, retry=1), deliver(served, uninstalled, retry=1)]
    assert [a.status for a in again] == [200, 200]
    after = stored(faulty_db)
    assert after == (["T0001"], [("T0001", "U0001", "Asia/Tokyo")])
    prefs = read_preferences(faulty_db, Who("T0001", "U0001"))
    assert prefs is not None and prefs.tz == "Asia/Tokyo"
    finding(
        f"2 events after the outage ({fault})",
        "Slack's redelivery: the new time zone is saved and the workspace's data deleted",
        max(a.seconds for a in again),
    )

    # A redelivery of what already took effect (Slack missed our 200) changes nothing.
    twice = [deliver(served, moved, retry=2), deliver(served, uninstalled, retry=2)]
    assert [a.status for a in twice] == [200, 200]
    assert stored(faulty_db) == after
