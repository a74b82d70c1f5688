"""Answers that need only the exercise library: valid Block Kit for whatever was typed. Pure."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.content import Library
from bot.core.grammar import Invalid, parse_command
from bot.render.answers import ContentCommand, reply_to
from bot.render.exercise import build_exercise
from tests.core.test_grammar import BAD_VALUES
from tests.support.slack import assert_valid_message


@pytest.mark.parametrize(("text", "says"), BAD_VALUES)
def test_a_bad_value_is_quoted_then_followed_by_the_right_form(
    library: Library, text: str, says: str
) -> None:
    command = parse_command(text, library)
    assert isinstance(command, Invalid)
    message = reply_to(command, library)
    assert_valid_message(message.as_kwargs())
    assert text.split()[0] in message.blocks[0]["text"]["text"]
    assert says in message.text
    # The right form of the same setting follows what was wrong.
    assert f"`/psoas {command.topic}" in message.blocks[1]["text"]["text"]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_no_text_makes_the_reply_raise_or_break_slack_limits(library: Library, text: str) -> None:
    command = parse_command(text, library)
    if isinstance(command, ContentCommand):
        assert_valid_message(reply_to(command, library).as_kwargs())


def test_every_exercise_renders_within_slack_limits(library: Library) -> None:
    for exercise in library.exercises:
        message = build_exercise(exercise, library.guidance)
        assert_valid_message(message.as_kwargs())
        assert message.blocks[0]["text"]["text"] == exercise.title
        assert "Cleveland Clinic" in str(message.blocks)
