"""Sending: Slack's rate limits and outages, and its errors turned into state for one person
or one workspace, never stopping the others. On SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import NudgeLog, SummarySchedule
from bot.data.people import Who, read_preferences
from bot.engine.sender import Outcome, Outgoing, RateLimiter, Sender
from bot.engine.tick import run_tick
from bot.render.settings import settings_lines
from tests.support.clock import SteppedTime
from tests.support.people import opt_in, utc
from tests.support.slack import BOT_TOKEN
from tests.support.standin import SlackStandIn, error, rate_limited


def test_rate_limits_and_outages_still_deliver_each_once(
    db: Database, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    for n in range(20):
        opt_in(db, Who("T1", f"U{n:03d}"), "UTC", before)
    standin.script(
        "chat.postMessage",
        rate_limited(retry_after=1),
        rate_limited(retry_after=1),
        error("service_unavailable", status=503),
        error("internal_error", status=500),
        error("service_unavailable", status=503),
    )
    clock = SteppedTime()
    sender = Sender(
        api_url=standin.api_url,
        token_for=lambda _team: BOT_TOKEN,
        rate_per_second=200,
        burst=50,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    report = run_tick(db, sender, library, now=utc(2026, 11, 25, 10))
    assert report.sent == 20
    delivered = [c.args["channel"] for c in standin.calls_to("chat.postMessage")]
    assert len(delivered) == 25 and len(set(delivered)) == 20
    with db.session() as session:
        assert session.scalar(select(func.count()).where(NudgeLog.status == "sent")) == 20
    # Slack's Retry-After was waited out, and each 5xx backed off before the next try.
    assert max(clock.slept) >= 0.9
    assert sender.stats.rate_limit_waits >= 1 and sender.stats.retries >= 5


def test_account_inactive_stops_that_person_with_a_reason(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    opt_in(db, Who("T1", "U0GONE"), "UTC", before)
    opt_in(db, Who("T1", "U0HERE"), "UTC", before)

    def inactive_for_one(call):
        if call.method == "chat.postMessage" and call.args.get("channel") == "U0GONE":
            return error("account_inactive")
        return None

    standin.responder = inactive_for_one
    outcomes: list[Outcome] = []
    run_tick(db, sender, library, now=utc(2026, 11, 25, 10), on_outcome=outcomes.append)
    assert sorted((o.user_id, o.kind) for o in outcomes) == [
        ("U0GONE", "person"),
        ("U0HERE", "sent"),
    ]
    prefs = read_preferences(db, Who("T1", "U0GONE"))
    assert prefs.stopped_reason == "account_inactive"
    assert run_tick(db, sender, library, now=utc(2026, 11, 25, 11)).sent == 1  # only U_HERE
    with db.session() as session:  # no weekly summary for them either
        assert session.scalars(select(SummarySchedule.user_id)).all() == ["U0HERE"]


def test_a_revoked_token_stops_that_workspace_only(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    opt_in(db, Who("T_REVOKED", "U1"), "UTC", before)
    opt_in(db, Who("T_OK", "U1"), "UTC", before)
    tokens = {"T_REVOKED": "xoxb-revoked", "T_OK": BOT_TOKEN}
    per_team = Sender(api_url=standin.api_url, token_for=tokens.get, rate_per_second=200)
    standin.responder = lambda call: (
        error("token_revoked") if call.token == "xoxb-revoked" else None
    )
    report = run_tick(db, per_team, library, now=utc(2026, 11, 25, 10))
    assert report.outcomes == {"sent": 1, "workspace:token_revoked": 1}
    assert run_tick(db, per_team, library, now=utc(2026, 11, 25, 11)).due == 1
    # `status` there says why nothing comes, and who can fix it.
    paused = read_preferences(db, Who("T_REVOKED", "U1"))
    lines = " ".join(settings_lines(paused, utc(2026, 11, 25, 11)))
    assert "paused for the whole workspace" in lines and "token_revoked" in lines
    assert "Next nudge" not in lines
    assert read_preferences(db, Who("T_OK", "U1")).workspace_paused is None


def test_one_broken_workspace_does_not_stop_the_others(
    db: Database, library: Library, standin: SlackStandIn
) -> None:
    before = utc(2026, 11, 25, 9, 30)
    opt_in(db, Who("T_BROKEN", "U1"), "UTC", before)
    opt_in(db, Who("T_OK", "U1"), "UTC", before)

    def token_for(team: str) -> str:
        if team == "T_BROKEN":
            raise RuntimeError("a stored token does not decrypt")
        return BOT_TOKEN

    broken = Sender(api_url=standin.api_url, token_for=token_for, rate_per_second=200)
    report = run_tick(db, broken, library, now=utc(2026, 11, 25, 10))
    assert report.outcomes == {"sent": 1, "failed:RuntimeError": 1}


def pace(limiter: RateLimiter, clock: SteppedTime, sends: int) -> list[float]:
    """When each of `sends` one after the other may go, seconds after the first."""
    times = []
    for _ in range(sends):
        assert limiter.acquire() is not None
        times.append(clock.monotonic())
    return [t - times[0] for t in times]


def most_in_a_second(times: list[float]) -> int:
    """The most sends Slack sees in any one second (times the ends of a window)."""
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_a_workspace_sends_a_seconds_worth_quickly_and_never_more_in_any_second() -> None:
    clock = SteppedTime()
    limiter = RateLimiter(20, 20, clock.monotonic, clock.sleep)
    times = pace(limiter, clock, 500)
    assert most_in_a_second(times) == 20  # Slack's 20 a second, never 21
    # Never two closer than half the pace: a window's worth at twice the rate.
    assert min(b - a for a, b in itertools.pairwise(times)) >= limiter.interval / 2 - 1e-9
    # The last goes out sooner than at a steady pace (every interval), with the same
    # headroom in the long run: 24 windows of 20, then the last 20 at twice the rate.
    assert times[-1] < 499 * limiter.interval
    assert times[-1] == pytest.approx(24 * limiter.window + 19 * limiter.interval / 2)


def test_after_a_429_a_workspace_goes_on_at_a_steady_pace() -> None:
    clock = SteppedTime()
    limiter = RateLimiter(20, 20, clock.monotonic, clock.sleep)
    pace(limiter, clock, 5)
    limiter.pause(1.0)
    resumed = clock.monotonic() + 1.0
    times = pace(limiter, clock, 40)
    assert clock.monotonic() > resumed  # nothing inside the pause
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert min(steps) == pytest.approx(limiter.interval)  # no burst after Slack said wait


def test_rounds_added_while_sending_each_go_out_once(standin: SlackStandIn) -> None:
    sender = Sender(api_url=standin.api_url, token_for=lambda _team: BOT_TOKEN, rate_per_second=200)
    items = [Outgoing(n, f"T{n % 3}", f"U{n:03d}", "hi", []) for n in range(60)]
    outcomes: list[Outcome] = []
    with sender.dispatch(outcomes.append) as sending:
        sending.add(items[:10])  # the next rounds while the first is going out
        sending.add(items[10:40])
        sending.wait_for_room(10)
        sending.add(items[40:])
    assert sorted(o.key for o in outcomes) == list(range(60))
    assert {o.kind for o in outcomes} == {"sent"}
    delivered = [c.args["channel"] for c in standin.calls_to("chat.postMessage")]
    assert sorted(delivered) == sorted(item.user_id for item in items)
