"""Team stretch breaks in a channel: the commands as values, when a break comes, and which
exercise it brings. Pure.

`/psoas team 15:00 [days]` typed in a channel sets one daily break there, at that time in the
time zone of the person who set it; each channel has at most one. A break is posted once per
channel and local day, and the exercise rotates through the library in its order, so two
breaks in a row never bring the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.core.preferences import WEEKDAYS, zone_or_utc


@dataclass(frozen=True)
class ShowTeam:
    """`/psoas team`: the channel's break, if it has one."""


@dataclass(frozen=True)
class SetTeam:
    """`/psoas team 15:00 [days]`: set (or move) the channel's break."""

    at: time
    days: frozenset[int] = WEEKDAYS


@dataclass(frozen=True)
class TeamOff:
    """`/psoas team off`: end the channel's break."""


TeamCommand = ShowTeam | SetTeam | TeamOff
TEAM_COMMANDS = (ShowTeam, SetTeam, TeamOff)


@dataclass(frozen=True)
class TeamBreak:
    """A channel's daily break as stored: when, where, who set it, and what comes next."""

    team_id: str
    channel: str
    at: time
    days: frozenset[int]
    tz: str
    set_by: str
    next_at: datetime | None = None
    last_exercise: str | None = None


@dataclass(frozen=True)
class JoinedBreak:
    """A team break someone joined: when they pressed I'm in, in which channel, what it was."""

    done_at: datetime
    channel: str
    exercise: str | None


def next_break(at: time, days: frozenset[int], tz: str, *, after: datetime) -> datetime | None:
    """The first break strictly after `after`: `at` on one of `days`, in zone `tz`."""
    zone = zone_or_utc(tz)
    first = after.astimezone(zone).date()
    for offset in range(8):
        day = first + timedelta(days=offset)
        if day.weekday() in days:
            # fold=0: in a repeated hour the first occurrence, in a skipped one the wall time
            # moved on by the gap, as for personal nudges.
            instant = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
            if instant > after:
                return instant
    return None


def break_day(slot: datetime, tz: str) -> date:
    """The local day a break belongs to: the key that allows one per channel and day."""
    return slot.astimezone(zone_or_utc(tz)).date()


def next_exercise(slugs: Sequence[str], last: str | None) -> str:
    """The exercise after `last` in the library's order (the first if `last` is unknown):
    with two or more exercises, never the same twice in a row."""
    if last is not None and last in slugs:
        return slugs[(list(slugs).index(last) + 1) % len(slugs)]
    return slugs[0]
