"""Team stretch breaks, pure: the commands as typed, when a break comes (DST included), and
the exercise rotation."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time

import pytest

from bot.core.content import Library
from bot.core.grammar import Invalid, parse_command
from bot.core.preferences import WEEKDAYS
from bot.core.team import SetTeam, ShowTeam, TeamOff, next_break, next_exercise


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("team", ShowTeam()),
        ("team off", TeamOff()),
        ("Team 15:00", SetTeam(time(15), WEEKDAYS)),
        ("team 3pm", SetTeam(time(15), WEEKDAYS)),
        ("team 3 pm mon,wed,fri", SetTeam(time(15), frozenset({0, 2, 4}))),
        ("team 09:30 weekdays", SetTeam(time(9, 30), WEEKDAYS)),
    ],
)
def test_team_commands_as_typed(library: Library, text: str, command: object) -> None:
    assert parse_command(text, library) == command


@pytest.mark.parametrize("text", ["team 25:00", "team 15:00 someday", "team later"])
def test_a_bad_time_or_day_list_is_invalid_about_team(library: Library, text: str) -> None:
    parsed = parse_command(text, library)
    assert isinstance(parsed, Invalid) and parsed.topic == "team"


def test_meetings_on_and_off(library: Library) -> None:
    from bot.core.changes import SetMeetings

    assert parse_command("meetings off", library) == SetMeetings(False)
    assert parse_command("Meetings ON", library) == SetMeetings(True)
    assert isinstance(parse_command("meetings maybe", library), Invalid)


def test_next_break_on_the_chosen_days_in_the_setters_zone() -> None:
    wednesday = datetime(2026, 11, 25, 21, tzinfo=UTC)  # 16:00 in New York
    at_three = time(15)
    # Today's 15:00 in New York has passed: tomorrow's.
    assert next_break(at_three, WEEKDAYS, "America/New_York", after=wednesday) == datetime(
        2026, 11, 26, 20, tzinfo=UTC
    )
    # Friday's, then Monday's: no weekend.
    friday_evening = datetime(2026, 11, 27, 22, tzinfo=UTC)
    assert next_break(at_three, WEEKDAYS, "America/New_York", after=friday_evening) == (
        datetime(2026, 11, 30, 20, tzinfo=UTC)
    )
    # Across the end of DST the wall time holds: 15:00 is 19:00 UTC before, 20:00 after.
    before = datetime(2026, 10, 30, 20, tzinfo=UTC)
    assert next_break(at_three, WEEKDAYS, "America/New_York", after=before) == datetime(
        2026, 11, 2, 20, tzinfo=UTC
    )
    assert next_break(at_three, frozenset(), "UTC", after=before) is None


def test_the_exercise_rotates_and_never_repeats(library: Library) -> None:
    slugs = library.slugs
    seen = [next_exercise(slugs, None)]
    for _ in range(2 * len(slugs)):
        seen.append(next_exercise(slugs, seen[-1]))
    assert all(a != b for a, b in itertools.pairwise(seen))
    assert set(seen) == set(slugs)
    assert next_exercise(slugs, "no-longer-there") == slugs[0]
