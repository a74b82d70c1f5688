"""Sending: Slack's rate limits and outages, and its errors turned into state for one person
or one workspace, never stopping the others. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import NudgeLog
from bot.data.people import Who, read_preferences
from bot.engine.sender import Outcome, Sender
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
