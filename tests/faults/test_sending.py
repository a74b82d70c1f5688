"""Points 3 and 4: one rule for "did that DM go out?", and rate limits that pause one
workspace, not all. The stand-in answers a post after the client gave up, or closes the
connection without answering; one workspace's token is told to wait an hour.

Time is a parameter: the pass runs at a given `now`, the sender's waits are on a stepped
clock (recorded, not slept); the only real waits are the client's own timeouts."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import LogStatus, NudgeLog
from bot.data.people import Who
from bot.engine.claims import RELEASED
from bot.engine.sender import (
    DEFAULT_RETRY_AFTER,
    MAX_RETRY_AFTER,
    Sender,
    not_sent,
    parse_retry_after,
)
from bot.engine.tick import run_tick
from tests.faults.conftest import finding
from tests.faults.support import FaultyStandIn
from tests.support.clock import SteppedTime
from tests.support.people import opt_in, utc
from tests.support.slack import BOT_TOKEN
from tests.support.standin import rate_limited

SLOT = utc(2026, 11, 25, 10)
BEFORE = utc(2026, 11, 25, 9, 30)


def rows(db: Database) -> list[NudgeLog]:
    with db.session() as session:
        return list(session.scalars(select(NudgeLog).order_by(NudgeLog.team_id, NudgeLog.user_id)))


# -- point 3: an ambiguous send is checked before any retry ---------------------------------


@pytest.mark.parametrize("fault", ["answered after the client's timeout", "connection closed"])
def test_a_post_that_went_through_unanswered_is_one_dm(
    db: Database, library: Library, standin: FaultyStandIn, fault: str
) -> None:
    opt_in(db, Who("T0001", "U0001"), "UTC", BEFORE)
    if fault == "connection closed":
        standin.drop_post_answers = 1
    else:
        standin.answer_posts_after = 3.0  # Slack posts it, and answers 3 s later
    clock = SteppedTime()
    sender = Sender(
        api_url=standin.api_url,
        token_for=lambda _team: BOT_TOKEN,
        timeout=1,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    started = time.monotonic()
    report = run_tick(db, sender, library, now=SLOT)
    seconds = time.monotonic() - started
    dms = standin.posts_to("U0001")
    assert len(dms) == 1, "exactly one DM"
    assert len(standin.calls_to("chat.postMessage")) == 1, "never posted twice"
    assert len(standin.calls_to("conversations.history")) == 1, "the DM was read first"
    assert report.sent == 1
    [row] = rows(db)
    assert (row.status, row.message_ts) == (LogStatus.SENT, dms[0]["ts"])
    # Before looking, Slack was given as long again as the client waited for its answer.
    assert 1 in clock.slept or max(clock.slept) >= 1
    finding(f"3 a post {fault}", "one DM, recorded as sent, after", seconds)


def test_an_unanswered_post_whose_dm_cannot_be_read_is_not_sent_again(
    db: Database, library: Library, standin: FaultyStandIn
) -> None:
    opt_in(db, Who("T0001", "U0001"), "UTC", BEFORE)
    standin.drop_post_answers = 1
    standin.script("conversations.history", rate_limited(retry_after=60))
    clock = SteppedTime()
    sender = Sender(
        api_url=standin.api_url,
        token_for=lambda _team: BOT_TOKEN,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    report = run_tick(db, sender, library, now=SLOT)
    assert len(standin.posts_to("U0001")) == 1  # the one that went through; never two
    assert len(standin.calls_to("chat.postMessage")) == 1
    assert report.outcomes == {"unverified:ratelimited": 1}
    [row] = rows(db)
    assert row.status == LogStatus.UNVERIFIED


def test_what_tells_a_send_that_never_left_from_one_that_may_have() -> None:
    import urllib.error
    from http.client import RemoteDisconnected

    assert not_sent(urllib.error.URLError(ConnectionRefusedError()))  # while connecting
    assert not not_sent(TimeoutError("The read operation timed out"))  # waiting for the answer
    assert not not_sent(RemoteDisconnected("Remote end closed connection without response"))


# -- point 4: a long Retry-After pauses its workspace only ---------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3600", MAX_RETRY_AFTER),
        ("90", 90.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("abc", DEFAULT_RETRY_AFTER),
        ("", DEFAULT_RETRY_AFTER),
        (None, DEFAULT_RETRY_AFTER),
        ("-5", DEFAULT_RETRY_AFTER),
        ("nan", DEFAULT_RETRY_AFTER),
        ("inf", DEFAULT_RETRY_AFTER),
        ("1e400", DEFAULT_RETRY_AFTER),
        ("Wed, 25 Nov 2026 10:01:00 GMT", 60.0),
    ],
)
def test_retry_after_is_read_defensively(value: str | None, seconds: float) -> None:
    assert parse_retry_after(value, now=SLOT.timestamp()) == seconds


SLOW, FAST = "xoxb-slow-workspace-1", "xoxb-fast-workspace-2"
PEOPLE = {"T_SLOW": ["US001", "US002", "US003"], "T_FAST": ["UF001", "UF002", "UF003"]}


def two_workspaces(db: Database) -> None:
    for team, users in PEOPLE.items():
        for user in users:
            opt_in(db, Who(team, user), "UTC", BEFORE)


def dms(standin: FaultyStandIn, team: str) -> list[int]:
    """How many DMs (posts Slack took) each of the workspace's people has."""
    return [len(standin.posts_to(user)) for user in PEOPLE[team]]


@pytest.mark.parametrize("retry_after", ["3600", "abc"])
def test_one_workspace_told_to_wait_delays_no_other_and_holds_no_pass(
    db: Database, library: Library, standin: FaultyStandIn, retry_after: str
) -> None:
    two_workspaces(db)
    standin.retry_after_for_token = {SLOW: retry_after}
    clock = SteppedTime()
    sender = Sender(
        api_url=standin.api_url,
        token_for={"T_SLOW": SLOW, "T_FAST": FAST}.get,
        rate_per_second=50,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    started = time.monotonic()
    report = run_tick(db, sender, library, now=SLOT)
    seconds = time.monotonic() - started
    # The other workspace's nudges went out in this pass, none held by the wait.
    assert dms(standin, "T_FAST") == [1, 1, 1]
    assert report.outcomes == {"sent": 3, "released:ratelimited": 3}
    assert max(clock.slept, default=0) < sender.max_pause  # no pass waits out the hour
    assert seconds < 5
    # The waiting workspace's claims are handed back, not held: due again when it may send.
    wait = parse_retry_after(retry_after)
    held = [r for r in rows(db) if r.team_id == "T_SLOW"]
    assert {r.claimed_by for r in held} == {RELEASED}
    assert all(r.status == LogStatus.CLAIMED for r in held)
    finding(
        f"4 one workspace answered Retry-After: {retry_after!r}",
        "the other workspace's 3 nudges arrived in the same pass, which took",
        seconds,
    )

    # The scheduler's next run, 20 s on, is not blocked, and sends nothing twice.
    clock.sleep(20)
    nxt = run_tick(db, sender, library, now=SLOT + timedelta(seconds=20))
    assert nxt.retried == 0 and nxt.sent == 0

    # Slack lets the workspace send again once its wait is over: a later pass sends each once.
    standin.retry_after_for_token = {}
    clock.sleep(wait)
    later = run_tick(db, sender, library, now=SLOT + timedelta(seconds=wait + 1))
    if wait < 15 * 60:  # within the catch-up limit: sent late, once
        assert later.retried == 3 and later.sent == 3
        assert dms(standin, "T_SLOW") == [1, 1, 1]
    else:  # too late to be worth a nudge: given up, never sent
        assert later.retried == 0 and later.abandoned == 3
    assert dms(standin, "T_FAST") == [1, 1, 1]
    finding(
        f"4 one workspace answered Retry-After: {retry_after!r}",
        f"its people's nudges: handed back to the pass {wait:.0f} s later, sent once",
        wait,
    )


def test_a_workspace_that_stays_limited_past_the_catch_up_limit_gives_its_nudges_up(
    db: Database, library: Library, standin: FaultyStandIn
) -> None:
    two_workspaces(db)
    standin.retry_after_for_token = {SLOW: "600"}
    clock = SteppedTime()
    sender = Sender(
        api_url=standin.api_url,
        token_for={"T_SLOW": SLOW, "T_FAST": FAST}.get,
        rate_per_second=50,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    assert run_tick(db, sender, library, now=SLOT).outcomes["released:ratelimited"] == 3
    for minutes in (10, 20):  # still limited at 10:10; at 10:20 the 10:00 nudge is too old
        clock.sleep(600)
        report = run_tick(db, sender, library, now=SLOT + timedelta(minutes=minutes))
    assert report.abandoned == 3
    assert dms(standin, "T_SLOW") == [0, 0, 0]
    with db.session() as session:
        errors = session.scalars(
            select(NudgeLog.error).where(NudgeLog.team_id == "T_SLOW", NudgeLog.slot_at == SLOT)
        ).all()
    assert set(errors) == {"ratelimited"}
