"""Completion stats and streaks. Pure: days in, numbers out.

A streak counts consecutive *working* days with at least one completion: days off neither
break nor extend it, and today only breaks it once today is over. Days the person was away
(their Slack status said vacation or out sick) count as days off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Stats:
    today: int
    this_week: int
    total: int
    current_streak: int
    best_streak: int
    favourite: str | None  # the most-done exercise's slug
    # Team stretch breaks joined (each also counts above, as a completion).
    team_this_week: int = 0
    team_total: int = 0


def _working_days_back(start: date, work_days: frozenset[int]) -> Iterable[date]:
    day = start
    for _ in range(3660):  # ten years back is plenty and keeps the loop bounded
        if day.weekday() in work_days:
            yield day
        day -= timedelta(days=1)


def current_streak(
    active: set[date], today: date, work_days: frozenset[int], away: Set[date] = frozenset()
) -> int:
    streak = 0
    for day in _working_days_back(today, work_days):
        if day in active:
            streak += 1
        elif day == today or day in away:
            continue  # today is not over yet; a day away is a day off
        else:
            break
    return streak


def best_streak(
    active: set[date], today: date, work_days: frozenset[int], away: Set[date] = frozenset()
) -> int:
    if not active or not work_days:
        return 0
    best = run = 0
    day = min(active)
    while day <= today:
        if day.weekday() in work_days:
            if day in active:
                run += 1
                best = max(best, run)
            elif day != today and day not in away:
                run = 0
        day += timedelta(days=1)
    return best


def compute_stats(
    completions: Sequence[tuple[date, str | None]],
    *,
    today: date,
    work_days: frozenset[int],
    away: Set[date] = frozenset(),
    team: Sequence[date] = (),
) -> Stats:
    """`completions`: (local day, exercise slug or None) for each one recorded; `away`: the
    local days the person was away; `team`: the local day of each team break joined."""
    days = [day for day, _ in completions]
    active = set(days)
    week_start = today - timedelta(days=today.weekday())
    exercises = Counter(slug for _, slug in completions if slug)
    return Stats(
        today=sum(1 for day in days if day == today),
        this_week=sum(1 for day in days if week_start <= day <= today),
        total=len(days),
        current_streak=current_streak(active, today, work_days, away) if work_days else 0,
        best_streak=best_streak(active, today, work_days, away),
        favourite=max(sorted(exercises), key=exercises.__getitem__) if exercises else None,
        team_this_week=sum(1 for day in team if week_start <= day <= today),
        team_total=len(team),
    )
