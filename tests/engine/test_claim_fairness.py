"""Claims are fair: one workspace's backlog never holds back another's, repeated claims at
the same instant take the next earliest, and the due count is everyone due. On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections import Counter

from bot.data.database import Database
from bot.engine.claims import claim_due
from tests.engine.crowd import add_crowd
from tests.support.people import utc

NINE = [f"T{n}" for n in range(1, 10)]
AT_TEN = utc(2026, 11, 25, 10)  # a Wednesday: everyone's 10:00 slot


def big_and_small(db: Database) -> None:
    add_crowd(db, "TBIG", 10_000, after=utc(2026, 11, 25, 9))
    for team in NINE:
        add_crowd(db, team, 100, after=utc(2026, 11, 25, 9))


def test_a_big_backlog_leaves_room_for_every_other_workspace(db: Database) -> None:
    big_and_small(db)
    claims, due, missed = claim_due(db, now=AT_TEN, worker="w", batch=5000, per_workspace=1000)
    per_team = Counter(claim.team_id for claim in claims)
    assert {team: per_team[team] for team in NINE} == dict.fromkeys(NINE, 100)
    assert per_team["TBIG"] == 1000
    assert (due, missed) == (10_900, 0)  # everyone due, not the batch


def test_claiming_again_at_the_same_instant_takes_the_rest_once(db: Database) -> None:
    big_and_small(db)
    seen: list[tuple[str, str]] = []
    first_due = None
    while True:
        claims, due, _ = claim_due(db, now=AT_TEN, worker="w", batch=3000, per_workspace=1500)
        first_due = due if first_due is None else first_due
        if not claims:
            break
        seen += [(claim.team_id, claim.user_id) for claim in claims]
    assert first_due == 10_900
    assert len(seen) == len(set(seen)) == 10_900
    assert due == 0


def test_without_a_cap_the_due_count_is_still_everyone_due(db: Database) -> None:
    big_and_small(db)
    claims, due, _ = claim_due(db, now=AT_TEN, worker="w", batch=5000)
    assert (len(claims), due) == (5000, 10_900)
