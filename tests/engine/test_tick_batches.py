"""A pass in rounds and batches: claims streamed round by round with a share per workspace,
claims confirmed a chunk at a time, sent outcomes written together, a token looked up once
per workspace. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.core.content import Library
from bot.data.database import Database, DatabaseUnavailableError
from bot.data.models import NudgeLog
from bot.data.people import Who
from bot.engine import outcomes
from bot.engine.claims import claim_due
from bot.engine.outcomes import ClaimConfirmations, OutcomeBook
from bot.engine.sender import Outcome, Outgoing, Sender
from bot.engine.tick import run_tick
from tests.support.clock import SteppedTime
from tests.support.people import opt_in, utc
from tests.support.slack import BOT_TOKEN
from tests.support.standin import Call, SlackStandIn

TEN = utc(2026, 11, 25, 10)


def statuses(db: Database) -> Counter[str]:
    with db.session() as session:
        return Counter(session.scalars(select(NudgeLog.status)))


def paced_sender(standin: SlackStandIn, rate: float, lookups: list[str] | None = None) -> Sender:
    """At `rate` DMs a second per workspace, on a stepped clock (no real waiting)."""
    clock = SteppedTime()

    def token_for(team: str) -> str:
        if lookups is not None:
            lookups.append(team)
        return BOT_TOKEN

    return Sender(
        api_url=standin.api_url,
        token_for=token_for,
        rate_per_second=rate,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )


def test_a_pass_claims_in_rounds_until_no_one_is_due_and_counts_every_round(
    db: Database, library: Library, standin: SlackStandIn
) -> None:
    for n in range(7):
        opt_in(db, Who("T1", f"U{n:03d}"), "UTC", utc(2026, 11, 25, 9, 30))
    report = run_tick(db, paced_sender(standin, 200), library, now=TEN, batch=3)
    assert (report.due, report.claimed, report.missed, report.sent) == (7, 7, 0, 7)
    delivered = Counter(c.args["channel"] for c in standin.calls_to("chat.postMessage"))
    assert len(delivered) == 7 and set(delivered.values()) == {1}
    assert statuses(db) == {"sent": 7}
    assert run_tick(db, paced_sender(standin, 200), library, now=TEN).due == 0


def test_a_big_workspace_takes_only_its_share_of_a_round(
    db: Database, library: Library, standin: SlackStandIn
) -> None:
    for n in range(8):
        opt_in(db, Who("TBIG", f"UB{n:03d}"), "UTC", utc(2026, 11, 25, 9, 30))
    for n in range(2):
        opt_in(db, Who("TSMALL", f"US{n:03d}"), "UTC", utc(2026, 11, 25, 9, 30))
    # 0.05 DMs/s: a round takes 3 of a workspace (what it sends in a minute), 5 in all.
    report = run_tick(db, paced_sender(standin, 0.05), library, now=TEN, batch=5)
    assert report.sent == 10
    # Claims in the order they were made: the small workspace's two come among the first
    # five, not behind the big backlog. (The order of the posts is the threads' race: the
    # stepped clock moves every lane's time at once.)
    with db.session() as session:
        claims = session.execute(
            select(NudgeLog.user_id).order_by(NudgeLog.claimed_at, NudgeLog.id)
        ).scalars()
        first_five = list(claims)[:5]
    assert {"US000", "US001"} <= set(first_five), first_five
    posted = [c.args["channel"] for c in standin.calls_to("chat.postMessage")]
    assert Counter(posted) == Counter(
        {f"UB{n:03d}": 1 for n in range(8)} | {"US000": 1, "US001": 1}
    )


def test_a_token_is_looked_up_once_per_workspace_per_pass(
    db: Database, library: Library, standin: SlackStandIn
) -> None:
    for team in ("T1", "T2"):
        for n in range(4):
            opt_in(db, Who(team, f"U{team}{n}"), "UTC", utc(2026, 11, 25, 9, 30))
    lookups: list[str] = []
    report = run_tick(db, paced_sender(standin, 200, lookups), library, now=TEN, batch=3)
    assert report.sent == 8
    assert sorted(lookups) == ["T1", "T2"]


def claimed(db: Database, people: int) -> list[Outgoing]:
    for n in range(people):
        opt_in(db, Who("T1", f"U{n:03d}"), "UTC", utc(2026, 11, 25, 9, 30))
    claims, _, _ = claim_due(db, now=TEN, worker="me")
    return [Outgoing(c.log_id, c.team_id, c.user_id, "hi", []) for c in claims]


def test_a_claim_taken_over_is_not_confirmed_and_a_confirmation_expires(db: Database) -> None:
    items = claimed(db, 5)
    with db.session() as session:
        session.execute(
            update(NudgeLog).where(NudgeLog.id == items[3].key).values(claimed_by="another")
        )
    now = [0.0]
    mine = ClaimConfirmations(
        db, worker="me", clock=lambda: TEN, chunk=2, valid_seconds=10, monotonic=lambda: now[0]
    )
    mine.add(items)  # every lane's first chunk (2) at once
    assert mine.statements == 1
    assert [mine(item) for item in items[:2]] == [True, True]
    assert mine.statements == 1  # confirmed already
    assert [mine(item) for item in items[2:]] == [True, False, True]
    assert mine.statements == 3  # items 2-3, then 4
    now[0] = 11.0  # older than a confirmation lives: asked again before the send
    assert mine(items[0]) and mine.statements == 4


def test_sent_outcomes_are_written_after_a_failed_write_and_none_is_lost(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = claimed(db, 3)
    real = outcomes.record_sent
    calls: list[int] = []

    def flaky(database: Database, batch: list[Outcome], *, now: object) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise DatabaseUnavailableError("the database went away")
        real(database, batch, now=TEN)

    monkeypatch.setattr(outcomes, "record_sent", flaky)
    monkeypatch.setattr(outcomes, "RETRY_SECONDS", 0.0)
    with OutcomeBook(db, now=TEN, batch=50, seconds=3600) as book:
        for item in items:
            book.sent(Outcome(item.key, item.team_id, item.user_id, "sent", None, "D1", "1.0"))
    assert calls == [3, 3]  # one statement per batch, the failed one written again whole
    assert statuses(db) == {"sent": 3}


def test_a_pass_killed_before_its_outcomes_are_written_leaves_them_for_the_resend(
    db: Database, library: Library, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows stay `claimed`; the next pass after the lease reads the DM before sending."""

    def never(database: Database, batch: list[Outcome], *, now: object) -> None:
        raise DatabaseUnavailableError("the database went away")

    for n in range(2):
        opt_in(db, Who("T1", f"U{n:03d}"), "UTC", utc(2026, 11, 25, 9, 30))
    with monkeypatch.context() as patched:
        patched.setattr(outcomes, "record_sent", never)
        patched.setattr(outcomes, "RETRY_SECONDS", 0.0)
        patched.setattr(outcomes, "FINAL_ATTEMPTS", 1)
        assert run_tick(db, paced_sender(standin, 200), library, now=TEN).sent == 2
    assert statuses(db) == {"claimed": 2}
    later = run_tick(db, paced_sender(standin, 200), library, now=TEN + timedelta(minutes=3))
    # Each is looked for in its DM first: the first is found there; the second's history
    # may not be read again within the minute (Slack's limit), so it is left unverified.
    # Neither is posted again.
    assert later.resent == 2
    assert later.outcomes == {"sent": 1, "unverified:ratelimited": 1}
    assert len(standin.calls_to("chat.postMessage")) == 2
    assert statuses(db) == {"sent": 1, "unverified": 1}


def test_the_next_round_is_claimed_while_the_first_goes_out(
    db: Database, library: Library, standin: SlackStandIn
) -> None:
    """Claims and sends overlap: the first DM's answer waits until the pass has claimed its
    second round, which it does only if it claims while sending."""
    for n in range(12):
        opt_in(db, Who("T1", f"U{n:03d}"), "UTC", utc(2026, 11, 25, 9, 30))
    overlapped = threading.Event()

    def answer_once_the_next_round_is_claimed(call: Call) -> None:
        if call.method == "chat.postMessage" and not overlapped.is_set():
            for _ in range(200):  # at most 10 s: the pass without overlap would wait here
                if sum(statuses(db).values()) > 5:
                    overlapped.set()
                    break
                time.sleep(0.05)
        return None

    standin.responder = answer_once_the_next_round_is_claimed
    report = run_tick(db, paced_sender(standin, 200), library, now=TEN, batch=5)
    assert overlapped.is_set()
    assert (report.due, report.claimed, report.sent) == (12, 12, 12)
    delivered = Counter(c.args["channel"] for c in standin.calls_to("chat.postMessage"))
    assert len(delivered) == 12 and set(delivered.values()) == {1}
