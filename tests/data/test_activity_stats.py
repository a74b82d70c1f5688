"""Everyone's stats read at once (what the weekly summaries show) are, person by person, the
stats `/psoas stats` and the Home tab show. On SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import event

from bot.core.changes import SetDays
from bot.core.preferences import zone_or_utc
from bot.data.activity import read_stats, read_stats_many
from bot.data.database import Database
from bot.data.models import AwayPeriod, Completion, CompletionSource
from bot.data.movement import read_movement
from bot.data.people import Who, forget
from tests.support.people import opt_in, utc

NOW = utc(2026, 11, 27, 16, 5)  # a Friday
ZONES = (
    "UTC", "Europe/London", "America/New_York", "America/St_Johns", "Asia/Kathmandu",
    "Pacific/Kiritimati", "Pacific/Pago_Pago", "Australia/Lord_Howe",
)  # fmt: skip
EXERCISES = ("march", "half-kneel", "calf-raise", "shoulder-roll", None)
SOURCES = list(CompletionSource)
WEEKS = (
    frozenset(range(5)),  # Monday to Friday
    frozenset({0, 2, 4}),
    frozenset({6, 0, 1, 2, 3}),  # Sunday to Thursday
    frozenset(range(7)),
)


def history(db: Database, who: Who, tz: str, rng: random.Random) -> None:
    """Completions on a varied run of days (gaps, bursts, today, long ago) and periods away,
    some ended, one still open, one starting in the future."""
    zone = zone_or_utc(tz)
    completions = []
    for index in range(rng.choice((0, 1, 3, 12, 40, 120))):
        done = NOW - timedelta(
            days=rng.choice((0, 0, 1, 2, 3, 6, 9, 30, 200)), hours=rng.random() * 30
        )
        completions.append(
            {
                "team_id": who.team_id,
                "user_id": who.user_id,
                "done_at": done,
                "local_day": done.astimezone(zone).date(),
                "exercise": rng.choice(EXERCISES),
                "source": rng.choice(SOURCES),
                "dedupe_key": f"k{index}",
            }
        )
    away = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        started = NOW - timedelta(days=rng.randint(0, 20), hours=rng.random() * 24)
        ended = started + timedelta(hours=rng.choice((3, 30, 80, 24 * 60)))
        away.append(
            {
                "team_id": who.team_id,
                "user_id": who.user_id,
                "started_at": started,
                "ended_at": ended,
            }
        )
    with db.session() as session:
        if completions:
            session.execute(Completion.__table__.insert(), completions)
        if away:
            session.execute(AwayPeriod.__table__.insert(), away)


def people(db: Database, count: int, seed: int) -> list[Who]:
    rng = random.Random(seed)
    whos = []
    for index in range(count):
        # The same user id in two workspaces: two people, each with their own stats.
        who = Who(f"T{index % 2}", f"U{index // 2}")
        tz = ZONES[index % len(ZONES)]
        opt_in(db, who, tz, NOW - timedelta(days=300), SetDays(WEEKS[index % len(WEEKS)]))
        history(db, who, tz, rng)
        whos.append(who)
    return whos


def test_everyones_stats_at_once_are_each_persons_stats(db: Database) -> None:
    whos = people(db, 24, seed=13)
    forgotten = Who("T1", "UGONE")  # never stored
    for now in (NOW, NOW + timedelta(days=3, hours=7)):  # a Friday, then a Monday
        batch = read_stats_many(db, [*whos, forgotten], now=now)
        assert batch[forgotten] is None
        for who in whos:
            one = read_movement(db, who, now=now)
            assert one is not None
            assert batch[who] == one, who
            assert read_stats(db, who, now=now) == one
    # The histories are varied enough to show it: streaks, weeks and favourites differ.
    friday = [read_movement(db, who, now=NOW) for who in whos]
    assert len({s.current_streak for s in friday if s}) > 2
    assert len({s.this_week for s in friday if s}) > 2
    assert len({s.favourite for s in friday if s}) > 2
    assert any(s and s.team_total for s in friday)


def test_someone_forgotten_has_no_stats(db: Database) -> None:
    [kept, gone] = people(db, 2, seed=1)
    forget(db, gone)
    batch = read_stats_many(db, [kept, gone], now=NOW)
    assert batch[gone] is None and batch[kept] == read_movement(db, kept, now=NOW)


def statements(db: Database, whos: list[Who], now: datetime) -> int:
    count = 0

    def counted(*_: object) -> None:
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", counted)
    try:
        read_stats_many(db, whos, now=now)
    finally:
        event.remove(db.engine, "before_cursor_execute", counted)
    return count


def test_many_peoples_stats_cost_as_many_queries_as_one_persons(db: Database) -> None:
    whos = people(db, 20, seed=7)
    # Three queries (and SQLite's BEGIN IMMEDIATE), whoever is asked about.
    assert statements(db, whos, NOW) == statements(db, whos[:1], NOW) <= 4
