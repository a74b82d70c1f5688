"""The exercise files: complete, validated at start-up, and in our own words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.content import DEFAULT_CONTENT_DIR, ContentError, Library, load_library
from tests.support.content import broken_copy

ARTICLE = Path(__file__).resolve().parents[3] / "shared" / "source" / "psoas-stretches-article.txt"


def test_the_five_exercises_of_the_article(library: Library) -> None:
    assert library.slugs == [
        "leg-dangle",
        "half-kneel",
        "bending-leg-lift",
        "march",
        "ball-hip-extension",
    ]
    for exercise in library.exercises:
        assert exercise.source.publisher == "Cleveland Clinic"
        assert len(exercise.steps) >= 3


def test_half_kneel_keeps_the_article_facts(library: Library) -> None:
    kneel = library.get("half-kneel")
    assert kneel is not None
    text = " ".join(step.do for step in kneel.steps).lower()
    assert "right" in text and "knee" in text and "left" in text
    assert "arch" in kneel.form_cue.lower()


@pytest.mark.skipif(not ARTICLE.exists(), reason="the source article is not beside the repo")
def test_no_eight_words_in_a_row_are_copied_from_the_article() -> None:
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9']+", text.lower().replace("\u2019", "'"))

    source = words(ARTICLE.read_text())
    grams = {" ".join(source[i : i + 8]) for i in range(len(source) - 7)}
    for path in DEFAULT_CONTENT_DIR.rglob("*.yaml"):
        mine = words(path.read_text())
        copied = [" ".join(mine[i : i + 8]) for i in range(len(mine) - 7)]
        assert not grams.intersection(copied), path


def test_a_missing_field_names_the_file_and_the_field(tmp_path: Path) -> None:
    content = broken_copy(tmp_path, "march", "form_cue:", "form_clue:")
    with pytest.raises(ContentError) as caught:
        load_library(content)
    assert "march.yaml" in str(caught.value) and "form_cue" in str(caught.value)


def test_a_bad_kind_names_the_field(tmp_path: Path) -> None:
    content = broken_copy(tmp_path, "half-kneel", "kind: stretch", "kind: nap")
    with pytest.raises(ContentError, match=r"half-kneel\.yaml.*'kind'"):
        load_library(content)


def test_broken_yaml_is_reported_not_raised(tmp_path: Path) -> None:
    content = broken_copy(tmp_path, "march", "slug: march", "slug: [march")
    with pytest.raises(ContentError, match=r"march\.yaml: cannot be read as YAML"):
        load_library(content)
