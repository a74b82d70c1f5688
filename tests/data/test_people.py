"""People and what is stored about them: one row per person, and `forget me` leaves nothing.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.core.changes import TurnOn
from bot.data.activity import record_completion
from bot.data.database import Database
from bot.data.models import Completion, CompletionSource, NudgeLog, Person
from bot.data.people import Who, change_preferences, ensure_person, find_person, forget
from bot.engine.claims import claim_due

WHO = Who("T1", "U1")


def test_two_first_requests_at_once_make_one_row(db: Database) -> None:
    with db.session() as session:
        ensure_person(session, team_id="T1", user_id="U1", tz="UTC")
        ensure_person(session, team_id="T1", user_id="U1", tz="Asia/Tokyo")
    with db.session() as session:
        assert find_person(session, team_id="T1", user_id="U1").tz == "UTC"


def test_forget_me_deletes_the_person_their_completions_and_their_nudge_log(
    db: Database,
) -> None:
    other = Who("T1", "U2")
    for who in (WHO, other):
        change_preferences(
            db, who, TurnOn(), now=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
            timezone_of=lambda: "UTC",
        )  # fmt: skip
        record_completion(
            db, who, now=datetime(2026, 11, 25, 9, 40, tzinfo=UTC), exercise="march",
            source=CompletionSource.EXERCISE, dedupe_key="m1", timezone_of=lambda: "UTC",
        )  # fmt: skip
    claims, _, _ = claim_due(db, now=datetime(2026, 11, 25, 10, tzinfo=UTC), worker="w")
    assert len(claims) == 2  # a nudge log row each
    assert forget(db, WHO) == 1
    with db.session() as session:
        assert session.get(Person, (WHO.team_id, WHO.user_id)) is None
        left = session.execute(select(Completion.user_id)).scalars().all()
        logged = session.execute(select(NudgeLog.user_id)).scalars().all()
    assert left == ["U2"] and logged == ["U2"]  # the other person keeps theirs
    assert forget(db, WHO) == 0  # nothing left to forget
