"""The `/psoas` grammar: a pure function from text to a command value. Pure."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.changes import (
    MAX_INTERVAL_MINUTES,
    MAX_SNOOZE_MINUTES,
    MIN_INTERVAL_MINUTES,
    ClearQuiet,
    SetDays,
    SetHours,
    SetInterval,
    SetQuiet,
    SnoozeFor,
    SnoozeOff,
    SnoozeUntilTomorrow,
    TurnOff,
    TurnOn,
)
from bot.core.content import Library
from bot.core.grammar import (
    Command,
    DidYouMean,
    ForgetMe,
    Invalid,
    ShowExercise,
    ShowHelp,
    ShowList,
    ShowRandom,
    ShowStatus,
    Unknown,
    parse_command,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ShowHelp()),
        ("  help ", ShowHelp()),
        ("LIST", ShowList()),
        ("random", ShowRandom()),
        ("on", TurnOn()),
        ("Off", TurnOff()),
        ("status", ShowStatus()),
        ("forget   me", ForgetMe()),
        ("half-kneel", ShowExercise("half-kneel")),
        ("Half Kneel", ShowExercise("half-kneel")),
        ("half_kneel", ShowExercise("half-kneel")),
        ("kneel", ShowExercise("half-kneel")),
        ("half-kneal", ShowExercise("half-kneel", corrected_from="half-kneal")),
        ("leg", DidYouMean("leg", ("leg-dangle", "bending-leg-lift"))),
    ],
)
def test_words(library: Library, text: str, expected: object) -> None:
    assert parse_command(text, library) == expected


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("hours 09:00-17:00", time(9), time(17)),
        ("hours 9-17", time(9), time(17)),
        ("hours 9am-5pm", time(9), time(17)),
        ("hours 9-5pm", time(9), time(17)),
        ("hours 09:00 – 17:30", time(9), time(17, 30)),
        ("hours 8.30 to 16.45", time(8, 30), time(16, 45)),
        ("hours 0830-1700", time(8, 30), time(17)),
        ("hours 12pm-8pm", time(12), time(20)),
    ],
)
def test_working_hours_in_the_forms_people_type(
    library: Library, text: str, start: time, end: time
) -> None:
    assert parse_command(text, library) == SetHours(start, end)


def test_quiet_hours_may_wrap_midnight(library: Library) -> None:
    assert parse_command("quiet 22:00-07:00", library) == SetQuiet(time(22), time(7))
    assert parse_command("quiet 12:00-13:00", library) == SetQuiet(time(12), time(13))
    assert parse_command("quiet off", library) == ClearQuiet()


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("days mon-fri", {0, 1, 2, 3, 4}),
        ("days weekdays", {0, 1, 2, 3, 4}),
        ("days mon,wed,fri", {0, 2, 4}),
        ("days Monday Wednesday", {0, 2}),
        ("days tues, thurs", {1, 3}),
        ("days fri-mon", {4, 5, 6, 0}),
        ("days every day", set(range(7))),
        ("days weekends", {5, 6}),
    ],
)
def test_days(library: Library, text: str, days: set[int]) -> None:
    assert parse_command(text, library) == SetDays(frozenset(days))


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("every 60m", 60), ("every 90m", 90), ("every 1.5h", 90), ("every 1h30m", 90),
     ("every 2 hours", 120), ("every 45", 45), ("every hourly", 60), ("every 15 min", 15)],
)  # fmt: skip
def test_interval(library: Library, text: str, minutes: int) -> None:
    assert parse_command(text, library) == SetInterval(minutes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("snooze 2h", SnoozeFor(120)),
        ("snooze 30m", SnoozeFor(30)),
        ("snooze for 1.5 hours", SnoozeFor(90)),
        ("snooze today", SnoozeUntilTomorrow(days=1)),
        ("snooze tomorrow", SnoozeUntilTomorrow(days=2)),
        ("snooze off", SnoozeOff()),
    ],
)
def test_snooze(library: Library, text: str, expected: object) -> None:
    assert parse_command(text, library) == expected


BAD_VALUES = [
    ("quiet 25:00-07:00", "hours run from 00 to 23"),
    ("hours 9:75-17:00", "minutes run from 00 to 59"),
    ("hours 17:00-09:00", "end later the same day"),
    ("hours 9-9", "the same time"),
    ("hours", "needs a value"),
    ("every 5m", "from 15 minutes to 4 hours"),
    ("every 6h", "from 15 minutes to 4 hours"),
    ("every soon", "is not a duration"),
    ("days funday", "is not a day"),
    ("snooze 30d", "from 1 minute to 14 days"),
    ("hours 13pm-5pm", "from 1 to 12"),
]


@pytest.mark.parametrize(("text", "says"), BAD_VALUES)
def test_bad_values_say_what_was_wrong_and_about_which_setting(
    library: Library, text: str, says: str
) -> None:
    command = parse_command(text, library)
    assert isinstance(command, Invalid)
    assert says in command.problem
    assert command.typed == text
    assert command.topic == text.split()[0]  # the answer shows this setting's right form


def test_unknown_words_stay_unknown(library: Library) -> None:
    assert parse_command("pizza", library) == Unknown("pizza")
    assert parse_command("snoze", library) == Unknown("snoze", suggestion="snooze")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_one_command(library: Library, text: str) -> None:
    assert isinstance(parse_command(text, library), Command)


# What each settings word may become: its own change, or Invalid about that setting.
SETTING_CHANGES = {
    "hours": (SetHours,),
    "quiet": (SetQuiet, ClearQuiet),
    "days": (SetDays,),
    "every": (SetInterval,),
    "snooze": (SnoozeFor, SnoozeUntilTomorrow, SnoozeOff),
}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(SETTING_CHANGES)),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
)
def test_a_settings_word_with_any_value_is_that_change_in_bounds_or_says_why_not(
    library: Library, word: str, value: str
) -> None:
    command = parse_command(f"{word} {value}", library)
    if isinstance(command, Invalid):
        assert command.topic == word and command.problem.strip()
        return
    assert isinstance(command, SETTING_CHANGES[word]), command
    match command:
        case SetHours(start=start, end=end):
            assert start < end  # working hours never wrap midnight
        case SetQuiet(start=start, end=end):
            assert start != end
        case SetDays(days=days):
            assert days and days <= set(range(7))
        case SetInterval(minutes=minutes):
            assert MIN_INTERVAL_MINUTES <= minutes <= MAX_INTERVAL_MINUTES
        case SnoozeFor(minutes=minutes):
            assert 1 <= minutes <= MAX_SNOOZE_MINUTES


def test_absurdly_long_numbers_are_refused_not_crashed_on(library: Library) -> None:
    for text in ("snooze " + "9" * 400, "every " + "9" * 400 + "m", "snooze 1e308h"):
        command = parse_command(text, library)
        assert isinstance(command, Invalid), text


@pytest.mark.parametrize("text", ["days mon - fri", "days Mon to Fri", "days mon – fri"])
def test_day_ranges_with_spaces(library: Library, text: str) -> None:
    assert parse_command(text, library) == SetDays(frozenset(range(5)))
