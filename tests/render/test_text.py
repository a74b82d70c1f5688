"""Text as Slack shows it: what a person typed is escaped exactly once, every plain-text
fallback shows `<`, `>` and `&` as themselves, and the Home tab shows the saved value after
a choice that was not saved.

Slack reads `&`, `<` and `>` as markup in message text, fallbacks included, and sends them
in command text already escaped as `&amp;`, `&lt;`, `&gt;`
(https://docs.slack.dev/messaging/formatting-message-text#escaping).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.content import Library
from bot.core.grammar import parse_command
from bot.core.preferences import Preferences
from bot.core.stats import Stats
from bot.render.answers import ContentCommand, reply_to
from bot.render.exercise import build_exercise, build_guided_step, build_shared
from bot.render.help import build_welcome
from bot.render.home import build_home
from bot.render.kit import Message, build_notice
from bot.render.nudge import build_nudge, build_weekly_summary
from bot.render.settings import CANNOT_SAVE, build_forget_confirm, build_settings
from bot.render.stats import build_done, build_stats
from bot.slack.context import typed_text

NOW = datetime(2026, 11, 25, 15, tzinfo=UTC)
# A character Slack would read as markup: not part of `&amp;`, `&lt;` or `&gt;`.
RAW_MARKUP = re.compile(r"[<>]|&(?!amp;|lt;|gt;)")
STATS = Stats(today=1, this_week=3, total=9, current_streak=2, best_streak=4, favourite="march")


def fallbacks(library: Library) -> dict[str, Message]:
    exercise = library.exercises[0]
    prefs = Preferences(tz="America/New_York", opted_in=True, next_nudge_at=NOW)
    messages = {
        "exercise": build_exercise(exercise, library.guidance),
        "guided": build_guided_step(exercise, 0),
        "settings": build_settings(prefs, NOW, headline="Quiet hours saved: no nudges then."),
        "stats": build_stats(STATS, library),
        "done": build_done(":tada: *Half kneel done.* That counts.", STATS),
        "nudge": build_nudge(library, NOW),
        "weekly summary": build_weekly_summary(STATS, library),
        "forget me": build_forget_confirm(),
        "cannot save": CANNOT_SAVE,
        "welcome": build_welcome(),
        "notice": build_notice("Shared *Half kneel & more* in the conversation."),
    }
    for text in ("help", "list", "leg", "<script>alert(1)</script> & co", "hours 25:00-<b>"):
        parsed = parse_command(text, library)
        assert isinstance(parsed, ContentCommand)
        messages[f"/psoas {text}"] = reply_to(parsed, library)
    return messages


def test_no_fallback_text_holds_markup_slack_would_misread(library: Library) -> None:
    raw = {
        name: RAW_MARKUP.findall(message.text)
        for name, message in fallbacks(library).items()
        if RAW_MARKUP.search(message.text)
    }
    assert raw == {}


def test_a_shared_exercise_mentions_who_shared_it_and_nothing_else_raw(library: Library) -> None:
    shared = build_shared(library.exercises[0], library.guidance, "U0001")
    assert shared.text.startswith("<@U0001> shared a stretch")
    assert not RAW_MARKUP.search(shared.text.removeprefix("<@U0001>"))


@pytest.mark.parametrize(
    ("sent_by_slack", "shown"),
    [
        ("hours &lt;b&gt;9-17", "&lt;b&gt;9-17"),  # `<b>` on screen, not `&lt;b&gt;`
        ("quiet 12 &amp; 13", "12 &amp; 13"),
    ],
)
def test_text_slack_escaped_is_shown_escaped_once(
    library: Library, sent_by_slack: str, shown: str
) -> None:
    typed = typed_text(sent_by_slack)
    assert "&lt;" not in typed and "&amp;" not in typed  # read back to what was typed
    parsed = parse_command(typed, library)
    assert isinstance(parsed, ContentCommand)
    answer = reply_to(parsed, library)
    first = answer.blocks[0]["text"]["text"]
    assert shown in first
    assert "&amp;lt;" not in first and "&amp;amp;" not in first


@given(st.text(max_size=80))
def test_any_typed_text_reaches_the_parser_as_typed(text: str) -> None:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert typed_text(escaped) == text


def test_the_home_tab_shows_the_saved_value_after_a_choice_that_was_not_saved(
    library: Library,
) -> None:
    """Slack keeps what a control shows while its block and action ids stay the same, so
    each render gives the controls' blocks new ids and the saved value is what shows."""
    prefs = Preferences(tz="UTC")
    before = build_home(library, prefs, NOW)
    after = build_home(library, prefs, NOW.replace(second=1), notice="Not saved: no.")

    def control_blocks(view: dict[str, object]) -> dict[str, str]:
        blocks = view["blocks"]
        assert isinstance(blocks, list)
        return {
            b["block_id"].rsplit("-", 1)[0]: b["block_id"]
            for b in blocks
            if b["type"] == "actions" and "block_id" in b
        }

    first, second = control_blocks(before), control_blocks(after)
    assert first.keys() == second.keys() and {"hours", "quiet", "days"} <= first.keys()
    assert all(first[name] != second[name] for name in first)


@pytest.mark.parametrize(("streak", "shown"), [(1, "1 working day "), (3, "3 working days")])
def test_a_streak_reads_as_a_person_would_say_it(library: Library, streak: int, shown: str) -> None:
    stats = Stats(
        today=1, this_week=1, total=1, current_streak=streak, best_streak=3, favourite=None
    )
    for message in (build_stats(stats, library), build_weekly_summary(stats, library)):
        assert shown.strip() in message.text
    assert f"Streak: {shown.strip()}" in build_stats(stats, library).blocks[1]["text"][
        "text"
    ].replace("*", "")
    assert "1 working days" not in build_stats(stats, library).text
