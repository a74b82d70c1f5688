"""Weekly summaries for many people in one pass: each person's own week, Do Not Disturb and
downtime respected, someone forgotten meanwhile left alone, and as many statements for
thirty people as for three. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta

from sqlalchemy import event, select, text, update

from bot.core.changes import SetHours
from bot.core.content import Library
from bot.core.presence import Presence
from bot.core.schedule import DndStatus
from bot.data.activity import record_completion
from bot.data.database import Database
from bot.data.models import LogKind, LogStatus, NudgeLog, Person, SummarySchedule
from bot.data.people import Who, forget, record_dnd, record_presence
from bot.engine.claims import claim_due
from bot.engine.sender import Sender
from bot.engine.summaries import claim_summaries, summary_messages
from bot.engine.tick import run_tick
from tests.support.people import opt_in, utc
from tests.support.standin import SlackStandIn

MONDAY = utc(2026, 11, 23, 8)
FRIDAY_4PM = utc(2026, 11, 27, 16)  # the summary's time for 09:00-17:00 in London (UTC now)
# In November these zones all keep UTC, so a 09:00-17:00 week ends at 16:00 UTC in each.
ZONES = ("UTC", "Europe/London", "Africa/Abidjan", "Atlantic/Reykjavik", "Europe/Lisbon")


def summaries(standin: SlackStandIn) -> dict[str, list[str]]:
    """Each person's weekly summaries, by user id, in the order sent."""
    sent: dict[str, list[str]] = {}
    for call in standin.calls_to("chat.postMessage"):
        if "Your week in movement" in call.args["text"]:
            sent.setdefault(call.args["channel"], []).append(call.args["text"])
    return sent


def stretched(db: Database, who: Who, times: int, *, first: datetime = MONDAY) -> None:
    for n in range(times):
        record_completion(
            db, who, now=first + timedelta(hours=n), exercise="march", source="exercise",
            dedupe_key=f"{who.user_id}-{n}", timezone_of=lambda: "UTC",
        )  # fmt: skip


def test_everyone_due_together_reads_their_own_week(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    whos = [Who(f"T{i % 2}", f"U{i}") for i in range(10)]
    for i, who in enumerate(whos):
        # Different zones and hours, one time: the summary comes an hour before work ends.
        opt_in(db, who, ZONES[i % len(ZONES)], MONDAY, SetHours(time(8 + i % 3), time(17)))
        # U1 stretched once, today: a streak of one working day.
        stretched(db, who, i, first=FRIDAY_4PM - timedelta(hours=6) if i == 1 else MONDAY)
    report = run_tick(db, sender, library, now=FRIDAY_4PM)
    assert report.summaries == 10
    sent = summaries(standin)
    assert sorted(sent) == sorted(w.user_id for w in whos)
    assert sent["U0"] == [
        "Your week in movement: This week you stretched 0 times. "
        "Next week is a fresh start: even one half kneel a day helps."
    ]
    assert sent["U1"] == [
        "Your week in movement: This week you stretched 1 time. "
        "Your streak is 1 working day (best 1). Your favourite: March."
    ]
    for i in range(2, 10):
        assert f"stretched {i} times." in sent[f"U{i}"][0]
    run_tick(db, sender, library, now=FRIDAY_4PM + timedelta(minutes=15))
    assert summaries(standin) == sent  # once each


def test_a_weekly_summary_waits_for_do_not_disturb_to_end(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    who, free = Who("T1", "U1"), Who("T1", "U2")
    opt_in(db, who, "UTC", MONDAY)
    opt_in(db, free, "UTC", MONDAY)
    # Do Not Disturb every day from 15:50 to 16:20.
    dnd = DndStatus(start=utc(2026, 11, 23, 15, 50), end=utc(2026, 11, 23, 16, 20))
    assert record_dnd(db, who, dnd, now=MONDAY)
    run_tick(db, sender, library, now=FRIDAY_4PM)
    assert list(summaries(standin)) == ["U2"]
    run_tick(db, sender, library, now=FRIDAY_4PM + timedelta(minutes=15))
    assert list(summaries(standin)) == ["U2"]
    run_tick(db, sender, library, now=FRIDAY_4PM + timedelta(minutes=30))
    assert sorted(summaries(standin)) == ["U1", "U2"]
    run_tick(db, sender, library, now=FRIDAY_4PM + timedelta(minutes=45))
    assert [len(texts) for texts in summaries(standin).values()] == [1, 1]


def test_a_summary_put_off_by_do_not_disturb_outlasts_events_that_only_move_nudges(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    """Slack reports DND again, and a status says "In a meeting", while this week's summary
    waits for DND to end: it still comes when DND ends, not next week."""
    who = Who("T1", "U1")
    opt_in(db, who, "UTC", MONDAY)
    dnd = DndStatus(start=utc(2026, 11, 23, 15, 50), end=utc(2026, 11, 23, 16, 20))
    assert record_dnd(db, who, dnd, now=MONDAY)
    run_tick(db, sender, library, now=FRIDAY_4PM)
    assert summaries(standin) == {}  # put off until 16:20
    meanwhile = FRIDAY_4PM + timedelta(minutes=5)
    assert record_dnd(db, who, dnd, now=meanwhile)
    in_a_meeting = Presence(busy_until=FRIDAY_4PM + timedelta(minutes=10), busy_kind="meeting")
    assert record_presence(db, who, in_a_meeting, now=meanwhile)
    run_tick(db, sender, library, now=FRIDAY_4PM + timedelta(minutes=30))
    assert list(summaries(standin)) == ["U1"]


def test_a_summary_missed_by_downtime_waits_for_next_week(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    who = Who("T1", "U1")
    opt_in(db, who, "UTC", MONDAY)
    stretched(db, who, 2)
    # No pass ran from 16:00 until 17:05: over the hour's grace, this week's is not sent late.
    run_tick(db, sender, library, now=FRIDAY_4PM + timedelta(hours=1, minutes=5))
    assert summaries(standin) == {}
    run_tick(db, sender, library, now=FRIDAY_4PM + timedelta(days=7))
    [text] = summaries(standin)["U1"]
    assert "stretched 0 times" in text  # the next week's, with that week's numbers


def test_someone_forgotten_after_the_claim_gets_nothing(db: Database, library: Library) -> None:
    kept, gone = Who("T1", "U1"), Who("T1", "U2")
    opt_in(db, kept, "UTC", MONDAY)
    opt_in(db, gone, "UTC", MONDAY)
    claims = claim_summaries(db, now=FRIDAY_4PM, worker="w1")
    assert {c.user_id for c in claims} == {"U1", "U2"}
    forget(db, gone)
    messages = summary_messages(db, claims, library, now=FRIDAY_4PM)
    by_user = {c.user_id: messages[c.log_id] for c in claims}
    assert by_user["U2"] is None
    kept_message = by_user["U1"]
    assert kept_message is not None and "stretched 0 times" in kept_message.text
    with db.session() as session:
        rows = session.scalars(select(NudgeLog)).all()
        assert [(r.user_id, r.kind, r.status) for r in rows] == [
            ("U1", LogKind.SUMMARY, LogStatus.CLAIMED)
        ]


def next_summaries(db: Database) -> dict[str, datetime | None]:
    """Each stored next weekly summary, by user id."""
    with db.session() as session:
        rows = session.execute(select(SummarySchedule.user_id, SummarySchedule.next_summary_at))
        return {user: at for user, at in rows}


def test_someone_stopped_before_their_summary_gets_none_and_keeps_no_schedule(
    db: Database, sender: Sender, library: Library, standin: SlackStandIn
) -> None:
    """A person Slack stopped (an older release left their summary row) is dropped from the
    summary schedule by the pass, not kept as a row that is never due."""
    stopped, kept = Who("T1", "U1"), Who("T1", "U2")
    opt_in(db, stopped, "UTC", MONDAY)
    opt_in(db, kept, "UTC", MONDAY)
    with db.session() as session:
        session.execute(
            update(Person).where(Person.user_id == "U1").values(stopped_reason="account_inactive")
        )
    report = run_tick(db, sender, library, now=FRIDAY_4PM)
    assert report.summaries == 1 and list(summaries(standin)) == ["U2"]
    assert next_summaries(db) == {"U2": FRIDAY_4PM + timedelta(days=7)}


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def counted(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        statements.append(sql)

    event.listen(db.engine, "before_cursor_execute", counted)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", counted)


def claim_and_render(db: Database, library: Library, now: datetime) -> tuple[int, int]:
    """(summaries claimed and rendered, statements it took)."""
    with counting(db) as statements:
        claims = claim_summaries(db, now=now, worker="w1")
        messages = summary_messages(db, claims, library, now=now)
    assert all(messages.values())
    return len(claims), len(statements)


def test_thirty_summaries_take_as_many_statements_as_three(db: Database, library: Library) -> None:
    # Three people whose week ends at 16:00 UTC, thirty whose week ends at 15:00 UTC.
    for i in range(3):
        opt_in(db, Who("T1", f"UL{i}"), "Europe/London", MONDAY)
        stretched(db, Who("T1", f"UL{i}"), i)
    for i in range(30):
        opt_in(db, Who(f"T{i % 3}", f"UP{i}"), "Europe/Paris", MONDAY)
        stretched(db, Who(f"T{i % 3}", f"UP{i}"), i % 7)
    thirty = claim_and_render(db, library, FRIDAY_4PM - timedelta(hours=1))
    three = claim_and_render(db, library, FRIDAY_4PM)
    assert thirty[0] == 30 and three[0] == 3
    assert thirty[1] == three[1] <= 12


def test_passes_at_once_skip_a_summary_another_holds_and_still_send_its_persons_nudge(
    postgres_db: Database,
) -> None:
    """Replicas on PostgreSQL: a weekly summary another pass holds is skipped at once, not
    waited for, and claimed by that pass alone; holding it keeps no one's nudge back (the
    summary pass locks the summary's row, not the person's)."""
    held, free = Who("T1", "U1"), Who("T1", "U2")
    for who in (held, free):
        opt_in(postgres_db, who, "UTC", MONDAY)
    with postgres_db.engine.connect() as other_pass:
        other_pass.execute(text("SELECT 1 FROM summary_schedule WHERE user_id = 'U1' FOR UPDATE"))
        summaries_now = claim_summaries(postgres_db, now=FRIDAY_4PM, worker="w2")
        nudges_now, _, _ = claim_due(postgres_db, now=FRIDAY_4PM, worker="w2")
        other_pass.rollback()
    assert [claim.user_id for claim in summaries_now] == ["U2"]
    assert sorted(claim.user_id for claim in nudges_now) == ["U1", "U2"]
    later = claim_summaries(postgres_db, now=FRIDAY_4PM, worker="w1")
    assert [claim.user_id for claim in later] == ["U1"]
