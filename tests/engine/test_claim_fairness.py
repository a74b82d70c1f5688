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


def test_a_round_that_cannot_take_everyone_takes_some_of_every_workspace(db: Database) -> None:
    """Twenty workspaces of 100 due at one instant and a round of 500: by due time alone the
    round would be the first five workspaces whole (people due together come in index
    order), and the other fifteen would wait rounds for a lane to send. In turns, each
    gets 25, its own earliest first, and the next rounds take the rest, once each."""
    teams = [f"T{n:02d}" for n in range(20)]
    for team in teams:
        add_crowd(db, team, 100, after=utc(2026, 11, 25, 9))
    rounds: list[Counter[str]] = []
    seen: list[tuple[str, str]] = []
    while True:
        claims, _, missed = claim_due(db, now=AT_TEN, worker="w", batch=500, per_workspace=60)
        if not claims:
            break
        assert missed == 0
        rounds.append(Counter(claim.team_id for claim in claims))
        seen += [(claim.team_id, claim.user_id) for claim in claims]
    assert rounds == [Counter(dict.fromkeys(teams, 25))] * 4
    assert len(seen) == len(set(seen)) == 2000
    # Within a workspace, its people in their own order (by due time, then id), round by round.
    first_round = sorted(user for team, user in seen[:500] if team == "T07")
    assert first_round == [f"U{index:06d}" for index in range(25)]
