"""`/psoas [text]` parsed into a command value. Pure: no Slack, no database, no clock.

Every text maps to exactly one command; text that cannot be understood becomes `Invalid`
(a settings word with a bad value: says what was wrong and the right form) or `Unknown`
(a word we do not know: answered with the list and, when close, a suggestion).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from typing import TypeVar

from bot.core import changes
from bot.core.changes import Change, Topic
from bot.core.content import Library, normalise
from bot.core.formatting import fmt_minutes
from bot.core.preferences import WEEKDAYS
from bot.core.team import SetTeam, ShowTeam, TeamCommand, TeamOff

# Slack caps slash command text far below this; the cap only bounds our own work.
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True)
class ShowHelp:
    pass


@dataclass(frozen=True)
class ShowList:
    pass


@dataclass(frozen=True)
class ShowRandom:
    pass


@dataclass(frozen=True)
class ShowExercise:
    slug: str
    # Set when the text was a near miss we corrected, so the answer can say so.
    corrected_from: str | None = None


@dataclass(frozen=True)
class DidYouMean:
    typed: str
    slugs: tuple[str, ...]


@dataclass(frozen=True)
class Unknown:
    typed: str
    suggestion: str | None = None


@dataclass(frozen=True)
class Invalid:
    """A settings word with a value we cannot use: what was wrong, and about which setting."""

    typed: str
    problem: str
    topic: Topic


@dataclass(frozen=True)
class ShowStatus:
    pass


@dataclass(frozen=True)
class ShowStats:
    pass


@dataclass(frozen=True)
class ForgetMe:
    pass


@dataclass(frozen=True)
class Export:
    pass


Command = (
    ShowHelp
    | ShowList
    | ShowRandom
    | ShowExercise
    | DidYouMean
    | Unknown
    | Invalid
    | Change
    | ShowStatus
    | ShowStats
    | ForgetMe
    | Export
    | TeamCommand
)

KEYWORDS = (
    "help", "list", "random", "on", "off", "hours", "days", "every", "quiet",
    "snooze", "status", "stats", "export", "forget me", "summary", "meetings", "team",
)  # fmt: skip


class _BadValueError(ValueError):
    """A value that does not parse; the message explains why in a user's terms."""


_DASHES = re.compile(r"\s*(?:-|–|—|\bto\b|\buntil\b)\s*")
_TIME = re.compile(r"^(?P<hour>\d{1,2})(?:[:.h](?P<minute>\d{2}))?\s*(?P<ampm>a\.?m\.?|p\.?m\.?)?$")


def parse_time(text: str) -> time:
    """`9`, `09:30`, `9.30`, `9am`, `5:15pm`, `noon`, `midnight` -> a local time of day."""
    typed = text.strip().lower()
    if typed in ("noon", "midday"):
        return time(12, 0)
    if typed == "midnight":
        return time(0, 0)
    compact = re.fullmatch(r"(\d{2})(\d{2})", typed)  # 0930
    match = _TIME.match(f"{compact[1]}:{compact[2]}" if compact else typed)
    if not match:
        raise _BadValueError(f"`{text.strip()}` is not a time of day")
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    if minute > 59:
        raise _BadValueError(f"`{text.strip()}`: minutes run from 00 to 59")
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise _BadValueError(f"`{text.strip()}`: with am or pm, hours run from 1 to 12")
        hour = hour % 12 + (12 if match["ampm"].startswith("p") else 0)
    elif hour > 23:
        raise _BadValueError(f"`{text.strip()}`: hours run from 00 to 23")
    return time(hour, minute)


def parse_time_range(text: str) -> tuple[time, time]:
    parts = _DASHES.split(text.strip(), maxsplit=1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise _BadValueError(f"`{text.strip()}` is not a range of two times")
    start_text, end_text = parts
    # `9-5pm`: an am/pm on the end applies to a bare start too, as people mean it.
    end_suffix = re.search(r"(a\.?m\.?|p\.?m\.?)$", end_text.strip().lower())
    start = parse_time(start_text)
    end = parse_time(end_text)
    if end_suffix and re.fullmatch(r"\d{1,2}(?:[:.]\d{2})?", start_text.strip()):
        with_suffix = parse_time(start_text + end_suffix[1])
        if with_suffix < end:
            start = with_suffix
    if start == end:
        raise _BadValueError("the start and end are the same time")
    return start, end


def parse_days(text: str) -> frozenset[int]:
    typed = text.strip().lower()
    if typed in ("weekdays", "workdays", "mon-fri", "monday-friday"):
        return WEEKDAYS
    if typed in ("weekends", "weekend"):
        return frozenset({5, 6})
    if typed in ("every day", "everyday", "daily", "all", "all days", "mon-sun"):
        return frozenset(range(7))
    days: set[int] = set()
    typed = _DASHES.sub("-", typed)  # `mon - fri`, `Mon to Fri` -> `mon-fri`
    for part in re.split(r"[\s,;/&+]+|\band\b", typed):
        if not part:
            continue
        bounds = _DASHES.split(part, maxsplit=1) if re.search(r"[-–—]", part) else [part]
        indexes = [_day_index(bound) for bound in bounds]
        if len(indexes) == 2:
            first, last = indexes
            days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            days.add(indexes[0])
    if not days:
        raise _BadValueError("no days were given")
    return frozenset(days)


FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day_index(word: str) -> int:
    """`mon`, `Tues`, `thursday`, `fridays` -> 0..6: any prefix of two letters or more."""
    typed = word.strip().rstrip(".")
    typed = typed[:-1] if typed.endswith("days") else typed
    if len(typed) >= 2:
        for index, full in enumerate(FULL_DAY_NAMES):
            if full.startswith(typed):
                return index
    raise _BadValueError(f"`{word.strip()}` is not a day (use mon, tue, wed, thu, fri, sat, sun)")


_DURATION_PART = re.compile(
    r"(?P<number>\d+(?:[.,]\d+)?)\s*(?P<unit>days?|d|hours?|hrs?|h|minutes?|mins?|m)?"
)


def parse_duration(text: str) -> int:
    """`90m`, `1.5h`, `1h30m`, `2 hours`, `45` (minutes) -> whole minutes."""
    typed = text.strip().lower()
    if typed in ("hourly", "an hour", "1 hour"):
        return 60
    if typed in ("half an hour", "half hour"):
        return 30
    position, total = 0, 0.0
    compact = typed.replace(" ", "")
    if not compact:
        raise _BadValueError("no duration was given")
    for match in _DURATION_PART.finditer(compact):
        if match.start() != position or not match.group(0):
            break
        number = float(match["number"].replace(",", "."))
        unit = (match["unit"] or "m")[0]
        total += number * {"d": 1440, "h": 60, "m": 1}[unit]
        position = match.end()
    if position != len(compact):
        raise _BadValueError(f"`{text.strip()}` is not a duration")
    if not math.isfinite(total) or total > 10 * changes.MAX_SNOOZE_MINUTES:
        raise _BadValueError(f"`{text.strip()[:20]}` is far too long")
    return round(total)


def _interval(rest: str) -> changes.SetInterval:
    minutes = parse_duration(rest)
    if not changes.MIN_INTERVAL_MINUTES <= minutes <= changes.MAX_INTERVAL_MINUTES:
        raise _BadValueError(
            f"`{rest.strip()}` is {fmt_minutes(minutes)}; the interval must be "
            "from 15 minutes to 4 hours"
        )
    return changes.SetInterval(minutes)


def _snooze(rest: str) -> Command:
    word = rest.strip().lower()
    if word in ("off", "cancel", "stop", "end", "none"):
        return changes.SnoozeOff()
    if word in ("today", "rest of today", "for today"):
        return changes.SnoozeUntilTomorrow(days=1)
    if word in ("tomorrow", "until tomorrow", "through tomorrow"):
        return changes.SnoozeUntilTomorrow(days=2)
    minutes = parse_duration(re.sub(r"^for\s+", "", word))
    if not 1 <= minutes <= changes.MAX_SNOOZE_MINUTES:
        raise _BadValueError(f"`{rest.strip()}`: a snooze lasts from 1 minute to 14 days")
    return changes.SnoozeFor(minutes)


OnOff = TypeVar("OnOff", changes.SetWeeklySummary, changes.SetMeetings)


def _on_off(rest: str, make: type[OnOff]) -> OnOff:
    word = rest.strip().lower()
    if word in ("on", "yes", "start"):
        return make(True)
    if word in ("off", "no", "stop"):
        return make(False)
    raise _BadValueError(f"`{rest.strip()}` is neither on nor off")


def _quiet(rest: str) -> Command:
    if rest.strip().lower() in ("off", "none", "clear", "no"):
        return changes.ClearQuiet()
    return changes.SetQuiet(*parse_time_range(rest))


def _hours(rest: str) -> changes.SetHours:
    start, end = parse_time_range(rest)
    if end < start:
        raise _BadValueError(
            "working hours must end later the same day than they start "
            "(quiet hours are the ones that may wrap midnight)"
        )
    return changes.SetHours(start, end)


def _team(rest: str) -> Command:
    """`off`, or a time of day and, optionally, the days: `15:00`, `3pm mon,wed,fri`."""
    word = rest.strip().lower()
    if word in ("off", "stop", "end", "none", "cancel"):
        return TeamOff()
    if word in ("show", "status"):
        return ShowTeam()
    words = word.split()
    problem: _BadValueError | None = None
    # The time may itself hold a space (`3 pm`): try the shortest reading first.
    for split in range(1, len(words) + 1):
        try:
            at = parse_time(" ".join(words[:split]))
        except _BadValueError as exc:
            problem = problem or exc
            continue
        days_text = " ".join(words[split:])
        try:
            return SetTeam(at, parse_days(days_text) if days_text else WEEKDAYS)
        except _BadValueError as exc:
            problem = exc
    assert problem is not None
    raise problem


_WITH_VALUE: dict[str, tuple[Topic, Callable[[str], Command]]] = {
    "hours": ("hours", _hours),
    "working": ("hours", lambda rest: _hours(re.sub(r"^hours\s*", "", rest))),
    "days": ("days", lambda rest: changes.SetDays(parse_days(rest))),
    "every": ("every", _interval),
    "interval": ("every", _interval),
    "quiet": ("quiet", _quiet),
    "snooze": ("snooze", _snooze),
    "summary": ("summary", lambda rest: _on_off(rest, changes.SetWeeklySummary)),
    "meetings": ("meetings", lambda rest: _on_off(rest, changes.SetMeetings)),
    "meeting": ("meetings", lambda rest: _on_off(rest, changes.SetMeetings)),
    "team": ("team", _team),
}
_BARE: dict[str, Callable[[], Command]] = {
    "help": ShowHelp,
    "?": ShowHelp,
    "list": ShowList,
    "exercises": ShowList,
    "random": ShowRandom,
    "surprise me": ShowRandom,
    "on": changes.TurnOn,
    "start": changes.TurnOn,
    "off": changes.TurnOff,
    "stop": changes.TurnOff,
    "status": ShowStatus,
    "settings": ShowStatus,
    "stats": ShowStats,
    "export": Export,
    "forget me": ForgetMe,
    "team": ShowTeam,
}


# What people paste along with a command: zero-width and direction marks, and the backticks
# and asterisks of Slack's formatting.
_PASTED = re.compile(r"[\u200b-\u200f\u2060\ufeff`*]")
_SPACES = re.compile(r"\s+")


def parse_command(text: str | None, library: Library) -> Command:
    raw = (text or "")[:MAX_TEXT_CHARS]
    # Slack sends what the person typed; strip formatting and invisible characters they pasted.
    cleaned = _PASTED.sub("", raw).strip()
    lowered = _SPACES.sub(" ", cleaned.lower())
    if not lowered:
        return ShowHelp()
    if lowered in _BARE:
        return _BARE[lowered]()
    exercise = library.find(cleaned)
    if exercise:
        return ShowExercise(exercise.slug)
    word, _, rest = lowered.partition(" ")
    if word in _WITH_VALUE:
        topic, parse_value = _WITH_VALUE[word]
        if not rest.strip():
            return Invalid(cleaned, f"`{word}` needs a value", topic)
        try:
            return parse_value(rest)
        except _BadValueError as exc:
            return Invalid(cleaned, str(exc), topic)
    return _closest(cleaned, library)


def _closest(typed: str, library: Library) -> Command:
    misses = library.near_misses(typed)
    if len(misses) == 1:
        return ShowExercise(misses[0].slug, corrected_from=typed)
    if misses:
        return DidYouMean(typed, tuple(e.slug for e in misses))
    first_words = normalise(typed).split(" ")
    candidates = [normalise(typed), first_words[0]]
    for candidate in candidates:
        keyword = difflib.get_close_matches(candidate, KEYWORDS, n=1, cutoff=0.75)
        if keyword:
            return Unknown(typed, suggestion=keyword[0])
    return Unknown(typed)
