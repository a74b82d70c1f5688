"""`/psoas` over real HTTP, signed as Slack signs it, answered by the running server."""

from __future__ import annotations

import random
import time

import pytest

from bot.core.content import Library
from tests.conftest import RunningBot
from tests.support.slack import assert_valid_message, command_body, signed_headers


def ephemeral(response) -> dict:
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["response_type"] == "ephemeral"
    assert_valid_message(payload)
    return payload


def header_of(payload: dict) -> str:
    return payload["blocks"][0]["text"]["text"]


@pytest.mark.parametrize("how", ["slug", "title", "alias"])
def test_each_exercise_by_slug_title_and_alias(bot: RunningBot, library: Library, how: str) -> None:
    for exercise in library.exercises:
        typed = {
            "slug": exercise.slug,
            "title": exercise.title.upper(),
            "alias": exercise.aliases[0],
        }[how]
        payload = ephemeral(bot.command(typed))
        assert header_of(payload) == exercise.title
        text = " ".join(str(b) for b in payload["blocks"])
        assert exercise.steps[0].do in payload["text"]
        assert "1." in text and "Cleveland Clinic" in text


def test_each_exercise_with_a_typo(bot: RunningBot, library: Library) -> None:
    typos = {
        "leg-dangle": "leg dangel",
        "half-kneel": "half-kneal",
        "bending-leg-lift": "bending leg lfit",
        "march": "marhc",
        "ball-hip-extension": "ball hip extention",
    }
    for slug, typo in typos.items():
        payload = ephemeral(bot.command(typo))
        assert header_of(payload) == library.get(slug).title, typo
        assert "Closest match" in str(payload["blocks"][1])


def test_spacing_and_case_do_not_matter(bot: RunningBot) -> None:
    payload = ephemeral(bot.command("   HALF    kneel  "))
    assert header_of(payload) == "Half kneel"


def test_help_and_empty_text_explain_the_bot(bot: RunningBot, library: Library) -> None:
    for text in ("", "help", "HELP"):
        payload = ephemeral(bot.command(text))
        blob = str(payload["blocks"])
        assert all(f"/psoas {slug}" in blob for slug in library.slugs)
        assert "/psoas on" in blob and "/psoas quiet" in blob


def test_list_shows_every_exercise_with_a_button(bot: RunningBot, library: Library) -> None:
    payload = ephemeral(bot.command("list"))
    buttons = [b["accessory"]["value"] for b in payload["blocks"] if "accessory" in b]
    assert buttons == library.slugs


def test_random_shows_one_of_the_exercises(bot: RunningBot, library: Library) -> None:
    seen = {header_of(ephemeral(bot.command("random"))) for _ in range(30)}
    titles = {e.title for e in library.exercises}
    assert seen <= titles and len(seen) >= 2


def test_unknown_word_gets_the_list(bot: RunningBot, library: Library) -> None:
    payload = ephemeral(bot.command("pizza"))
    blob = str(payload["blocks"])
    assert "I don't know `pizza`" in blob
    assert [b["accessory"]["value"] for b in payload["blocks"] if "accessory" in b] == library.slugs


def test_near_miss_of_a_settings_word_suggests_it(bot: RunningBot) -> None:
    payload = ephemeral(bot.command("snoze"))
    assert "Did you mean `/psoas snooze`?" in str(payload["blocks"])


def test_four_thousand_random_unicode_characters(bot: RunningBot) -> None:
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(0x20, 0x2FFF) if not 0xD800 <= c <= 0xDFFF]
    text = "".join(rng.choice(alphabet) for _ in range(4000))
    payload = ephemeral(bot.command(text))
    assert "I don't know" in str(payload["blocks"])


def test_markup_in_the_text_is_shown_not_obeyed(bot: RunningBot) -> None:
    payload = ephemeral(bot.command("<!channel> & <https://evil.example|x>"))
    blob = str(payload["blocks"])
    assert "<!channel>" not in blob and "&lt;!channel&gt;" in blob


def test_empty_body_is_answered_without_a_crash(bot: RunningBot) -> None:
    response = bot.post("", signed_headers(""))
    assert response.status_code in (200, 404)
    assert "Traceback" not in response.text


def test_bad_signature_is_rejected(bot: RunningBot) -> None:
    body = command_body("half-kneel")
    headers = signed_headers(body, secret="not-the-secret")
    assert bot.post(body, headers).status_code == 401


def test_six_minute_old_timestamp_is_rejected(bot: RunningBot) -> None:
    body = command_body("half-kneel")
    headers = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    assert bot.post(body, headers).status_code == 401


def test_health_check(bot: RunningBot) -> None:
    response = bot.session.get(bot.url + "/healthz")
    assert response.status_code == 200 and response.text == "ok\n"


def test_oversized_body_is_refused(bot: RunningBot) -> None:
    body = "x" * 2_000_000
    assert bot.post(body, signed_headers(body)).status_code == 413
