"""Resending after a crash under Slack's 2025 limits for apps outside the Marketplace:
conversations.history answers at most 15 messages a call and one call a minute
(https://docs.slack.dev/reference/methods/conversations.history). A history the bot cannot
read means "not sent again": a lost nudge is better than a doubled one. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import LogStatus, NudgeLog
from bot.data.people import Who
from bot.engine.claims import claim_due
from bot.engine.sender import HISTORY_LIMIT, Sender
from bot.engine.tick import render_claim, run_tick
from bot.metrics import REGISTRY
from tests.support.people import opt_in, utc
from tests.support.standin import Call, SlackStandIn

PEOPLE = [Who("T1", f"U{n}") for n in range(1, 6)]


def one_history_call_a_minute(standin: SlackStandIn) -> None:
    """Slack's answer to a second conversations.history call within the minute."""
    seen: list[Call] = []

    def limit(call: Call) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if call.method != "conversations.history":
            return None
        seen.append(call)
        if len(seen) == 1:
            return None  # the first is answered as usual
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "60"}

    standin.responder = limit


def statuses(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(NudgeLog.status, func.count()).group_by(NudgeLog.status))
        return {status: count for status, count in rows}


def unverified_count() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "psoas_nudges_unverified"
        for sample in metric.samples
        if sample.name == "psoas_nudges_unverified_total"
    )


def test_five_resends_with_history_limited_to_one_call_a_minute_send_no_double(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    at_ten = utc(2026, 11, 25, 10)
    for who in PEOPLE:
        opt_in(db, who, "UTC", utc(2026, 11, 25, 9, 30))
    claims, _, _ = claim_due(db, now=at_ten, worker="crashed-process")
    assert len(claims) == 5
    for claim in claims:  # all five went out; the process died before recording any
        item = render_claim(db, claim, library, now=at_ten)
        assert item is not None and sender.send_one(item).kind == "sent"
    one_history_call_a_minute(standin)
    before = unverified_count()

    report = run_tick(db, sender, library, now=at_ten + timedelta(minutes=3))

    dms = standin.calls_to("chat.postMessage")
    assert len(dms) == 5, "a nudge went out twice"
    assert sorted(dm.args["channel"] for dm in dms) == sorted(w.user_id for w in PEOPLE)
    assert report.resent == 5 and report.sent == 1  # the one whose history could be read
    assert statuses(db) == {LogStatus.SENT: 1, LogStatus.UNVERIFIED: 4}
    assert unverified_count() - before == 4  # counted in /metrics, not hidden


def test_the_check_reads_at_most_fifteen_messages_from_the_slot_on(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    opt_in(db, PEOPLE[0], "UTC", utc(2026, 11, 25, 9, 30))
    at_ten = utc(2026, 11, 25, 10)
    claim_due(db, now=at_ten, worker="crashed-process")  # claimed, then the process died
    report = run_tick(db, sender, library, now=at_ten + timedelta(minutes=3))
    assert report.sent == 1  # the history showed it was never sent: sent now, once
    [check] = standin.calls_to("conversations.history")
    assert int(check.args["limit"]) <= HISTORY_LIMIT == 15
    assert float(check.args["oldest"]) <= at_ten.timestamp()  # from the slot on
    assert at_ten.timestamp() - float(check.args["oldest"]) <= 120  # ...not the whole DM
    assert check.args["include_all_metadata"] in (True, "true", "1", 1)
