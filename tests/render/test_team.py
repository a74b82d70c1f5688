"""Team stretch break messages: who stretched, and every message valid Block Kit with a
fallback that holds no markup but the mentions of people."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from bot.core.content import Library
from bot.core.preferences import WEEKDAYS
from bot.core.team import TeamBreak
from bot.render.team import (
    build_not_in_channel,
    build_team_announcement,
    build_team_break,
    build_team_ended_announcement,
    build_team_status,
    joined_line,
)
from tests.support.slack import assert_valid_message

RAW_MARKUP = re.compile(r"[<>]|&(?!amp;|lt;|gt;)")
MENTION = re.compile(r"<@U[0-9A-Z]+>")


def test_who_stretched() -> None:
    assert joined_line([]) == ""
    assert joined_line(["U1A"]) == "<@U1A> stretched"
    assert joined_line(["U1A", "U2B"]) == "<@U1A> and <@U2B> stretched"
    assert joined_line(["U1A", "U2B", "U3C"]) == "<@U1A>, <@U2B> and <@U3C> stretched"
    five = ["U1A", "U2B", "U3C", "U4D", "U5E"]
    assert joined_line(five) == "<@U1A>, <@U2B> and 3 others stretched"
    assert joined_line(["<!channel>"]) == "&lt;!channel&gt; stretched"  # never markup


def test_team_messages_are_valid_and_their_fallbacks_hold_only_mentions(
    library: Library,
) -> None:
    brk = TeamBreak("T1", "C1", time(15), WEEKDAYS, "Europe/Paris", "U0001", None, None)
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    messages = [
        build_team_break(library.exercises[0], 7),
        build_team_break(library.exercises[1], 7, ["U0001", "U0002", "U0003", "U0004"]),
        build_team_announcement(brk, None),
        build_team_announcement(brk, brk),
        build_team_ended_announcement("U0001"),
        build_team_status(brk, now),
        build_team_status(None, now),
        build_not_in_channel("not_in_channel"),
        build_not_in_channel("<weird>"),
    ]
    for message in messages:
        assert_valid_message(message.as_kwargs())
        assert not RAW_MARKUP.search(MENTION.sub("", message.text)), message.text
