"""A claim's schedule math from the rows it reads: the shortcut (`steady_catch_up`, through
`_steady_schedule`) gives what the general path (`_schedule_due`) gives for every row it
answers, takes most ordinary rows, and leaves the opted-out and the stopped alone. Pure:
rows are built as the claim's SELECT returns them (`DUE_COLUMNS`), no database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bot.core.preferences import Preferences, days_to_mask
from bot.core.schedule import NO_OFFSET, SteadyMemo, dnd_windows, next_nudge, spread_offset
from bot.engine import claims
from bot.engine.claims import DUE_COLUMNS

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
         "America/St_Johns", "Pacific/Chatham", "Europe/London"]  # fmt: skip
HOURS = [(time(9), time(17)), (time(8), time(16)), (time(7, 30), time(15)), (time(10), time(18))]
DAYS = [frozenset(range(5)), frozenset({6, 0, 1, 2, 3}), frozenset(range(6)), frozenset({2})]
INTERVALS = [15, 30, 45, 60, 90, 120]
# Quiet hours: none, lunch, overnight (wrapping midnight), and one end only (none at all).
QUIET = [(None, None), (time(12), time(13)), (time(22), time(7)), (time(12), None)]
# Daily DND, local: none, overnight, lunch, and a start Slack gave without an end.
DND = [None, (time(18), time(8)), (time(12), time(12, 30)), (time(12), None)]
# A Wednesday afternoon in UTC, and the mornings after Europe's and America's clocks change.
NOWS = [datetime(2026, 12, 2, 14, 0, 5, tzinfo=UTC), datetime(2026, 3, 30, 8, 0, 5, tzinfo=UTC),
        datetime(2026, 11, 2, 15, 30, 5, tzinfo=UTC)]  # fmt: skip


def local_dnd(zone: str, now: datetime, window: tuple[time, time | None] | None) -> tuple[Any, Any]:
    """The window's next occurrence as Slack reports it (start, end), in UTC."""
    if window is None:
        return None, None
    local = now.astimezone(Preferences(tz=zone).zone)
    start = datetime.combine(local.date(), window[0], tzinfo=local.tzinfo).astimezone(UTC)
    if window[1] is None:
        return start, None
    end = datetime.combine(local.date(), window[1], tzinfo=local.tzinfo).astimezone(UTC)
    if end <= start:
        end += timedelta(days=1)
    return start, end


def due_rows(rng: random.Random, now: datetime, count: int) -> list[tuple[Any, ...]]:
    """`count` rows due at `now` (`DUE_COLUMNS`), each stored as the engine left it: its
    next nudge worked out from its own settings, some of them from before downtime."""
    rows: list[tuple[Any, ...]] = []
    while len(rows) < count:
        tz = rng.choice(ZONES)
        start, end = rng.choice(HOURS)
        quiet_start, quiet_end = rng.choice(QUIET)
        dnd_start, dnd_end = local_dnd(tz, now, rng.choice(DND))
        prefs = Preferences(
            opted_in=True, tz=tz, work_start=start, work_end=end, work_days=rng.choice(DAYS),
            interval_minutes=rng.choice(INTERVALS), quiet_start=quiet_start, quiet_end=quiet_end,
        )  # fmt: skip
        # Mostly on time (the pass a minute ago found them not yet due); some after downtime.
        back = rng.choice([timedelta(minutes=15)] * 8 + [timedelta(minutes=40), timedelta(hours=3)])
        dnd = dnd_windows(start=dnd_start, end=dnd_end, now=now - back)
        stored = next_nudge(prefs, after=now - back, dnd=dnd)
        if stored is None or stored.send_at > now:
            continue  # not due: draw again
        roll = rng.random()
        snoozed = now + timedelta(hours=rng.randint(-2, 5)) if roll < 0.1 else None
        stopped = "account_inactive" if 0.1 <= roll < 0.15 else None
        opted_in = not 0.15 <= roll < 0.2
        spread = rng.choice([0, 0, 1200])
        rows.append(
            (f"T{len(rows) % 3}", f"U{len(rows):05d}", opted_in, tz, start, end,
             days_to_mask(prefs.work_days), prefs.interval_minutes, quiet_start, quiet_end,
             snoozed, stopped, True, stored.slot, stored.send_at, dnd_start, dnd_end, spread,
             stored.slot, stored.send_at)
        )  # fmt: skip
    assert len(rows[0]) == len(DUE_COLUMNS)
    return rows


def offset_of(row: tuple[Any, ...]) -> timedelta:
    team, user, spread = row[0], row[1], row[claims._SPREAD]
    if not spread:
        return NO_OFFSET
    return spread_offset(team, user, window_seconds=spread, interval_minutes=row[7])


@pytest.mark.parametrize("now", NOWS, ids=["december", "after-europes-change", "after-us-change"])
def test_the_shortcut_answers_most_rows_and_each_as_the_general_path_does(now: datetime) -> None:
    rows = due_rows(random.Random(now.toordinal()), now, 1500)
    memo: SteadyMemo = {}  # one claim's: every pattern and slot shares it
    answered = ordinary = 0
    for row in rows:
        offset = offset_of(row)
        quick = claims._steady_schedule(row, now, offset, memo)
        opted_in, stopped = row[2], row[11]
        if not opted_in or stopped:
            assert quick is None
            continue
        ordinary += 1
        if quick is not None:
            answered += 1
            assert quick == claims._schedule_due(row, now, offset), row
    # Most ordinary people take the shortcut (the rest: blocked or deferred next slots,
    # snoozes, downtime, clock changes); the memo holds far fewer entries than people.
    assert answered > ordinary * 0.6
    assert len(memo) < answered / 2


def test_a_claims_schedules_are_each_persons_own_whatever_path_worked_them_out() -> None:
    """`_schedule_all`, over chunks that share its memos, gives each person what the
    general path gives them alone: the same next nudges, the same claims."""
    now = NOWS[0]
    rows = due_rows(random.Random(5), now, 1000)
    memos = claims._Memos()
    chunked = [claims._schedule_all(rows[i : i + 250], now, memos) for i in range(0, 1000, 250)]
    expected = [claims._schedule_due(row, now, offset_of(row)) for row in rows]
    upcoming = [
        slot
        for rescheduled, _ in chunked
        for slot in zip(rescheduled.slots, rescheduled.sends, strict=True)
    ]
    assert upcoming == [(u.slot, u.send_at) if u else (None, None) for _, u in expected]
    claimed = [
        (t, u, s) for _, c in chunked for t, u, s in zip(c.teams, c.users, c.slots, strict=True)
    ]
    assert claimed == [
        (row[0], row[1], nudge.slot)
        for row, (nudge, _) in zip(rows, expected, strict=True)
        if nudge
    ]
    assert any(nudge is None for nudge, _ in expected)  # some too late or unwanted: not claimed
