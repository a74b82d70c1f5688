"""`/psoas` as Slack sends it (signed, through `app.dispatch()`): what the person sees."""

from __future__ import annotations

import random

import pytest

from bot.core.content import Library
from tests.support.bots import Bot
from tests.support.slack import assert_valid_message


def ephemeral(response) -> dict:
    assert response.status_code == 200, response.text
    payload = response.shown()
    assert payload["response_type"] == "ephemeral"
    assert_valid_message(payload)
    return payload


def header_of(payload: dict) -> str:
    return payload["blocks"][0]["text"]["text"]


@pytest.mark.parametrize("how", ["slug", "title", "alias"])
def test_each_exercise_by_slug_title_and_alias(slack: Bot, library: Library, how: str) -> None:
    for exercise in library.exercises:
        typed = {
            "slug": exercise.slug,
            "title": exercise.title.upper(),
            "alias": exercise.aliases[0],
        }[how]
        payload = ephemeral(slack.command(typed))
        assert header_of(payload) == exercise.title
        text = " ".join(str(b) for b in payload["blocks"])
        assert exercise.steps[0].do in payload["text"]
        assert "1." in text and "Cleveland Clinic" in text


def test_each_exercise_with_a_typo(slack: Bot, library: Library) -> None:
    typos = {
        "leg-dangle": "leg dangel",
        "half-kneel": "half-kneal",
        "bending-leg-lift": "bending leg lfit",
        "march": "marhc",
        "ball-hip-extension": "ball hip extention",
    }
    for slug, typo in typos.items():
        payload = ephemeral(slack.command(typo))
        assert header_of(payload) == library.get(slug).title, typo
        assert "Closest match" in str(payload["blocks"][1])


def test_spacing_and_case_do_not_matter(slack: Bot) -> None:
    payload = ephemeral(slack.command("   HALF    kneel  "))
    assert header_of(payload) == "Half kneel"


def test_help_and_empty_text_explain_the_bot(slack: Bot, library: Library) -> None:
    for text in ("", "help", "HELP"):
        payload = ephemeral(slack.command(text))
        blob = str(payload["blocks"])
        assert all(f"/psoas {slug}" in blob for slug in library.slugs)
        assert "/psoas on" in blob and "/psoas quiet" in blob


def test_list_shows_every_exercise_with_a_button(slack: Bot, library: Library) -> None:
    payload = ephemeral(slack.command("list"))
    buttons = [b["accessory"]["value"] for b in payload["blocks"] if "accessory" in b]
    assert buttons == library.slugs


def test_random_shows_one_of_the_exercises(slack: Bot, library: Library) -> None:
    seen = {header_of(ephemeral(slack.command("random"))) for _ in range(30)}
    titles = {e.title for e in library.exercises}
    assert seen <= titles and len(seen) >= 2


def test_unknown_word_gets_the_list(slack: Bot, library: Library) -> None:
    payload = ephemeral(slack.command("pizza"))
    blob = str(payload["blocks"])
    assert "I don't know `pizza`" in blob
    assert [b["accessory"]["value"] for b in payload["blocks"] if "accessory" in b] == library.slugs


def test_near_miss_of_a_settings_word_suggests_it(slack: Bot) -> None:
    payload = ephemeral(slack.command("snoze"))
    assert "Did you mean `/psoas snooze`?" in str(payload["blocks"])


def test_four_thousand_random_unicode_characters(slack: Bot) -> None:
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(0x20, 0x2FFF) if not 0xD800 <= c <= 0xDFFF]
    text = "".join(rng.choice(alphabet) for _ in range(4000))
    payload = ephemeral(slack.command(text))
    assert "I don't know" in str(payload["blocks"])


def test_markup_in_the_text_is_shown_not_obeyed(slack: Bot) -> None:
    payload = ephemeral(slack.command("<!channel> & <https://evil.example|x>"))
    blob = str(payload["blocks"])
    assert "<!channel>" not in blob and "&lt;!channel&gt;" in blob
