"""The exercise library: YAML files in `content/`, validated once at start-up.

Everything here is pure once loaded: lookups, fuzzy matching and the random pick
take the library as a value so the command parser and Block Kit builders can use it
without touching the disk.
"""

from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

# The library shipped inside the package (the wheel's build copies `content/` there), else the
# checkout's `content/` (an editable install); settings (`CONTENT_DIR`) may point elsewhere.
PACKAGED_CONTENT_DIR = Path(__file__).resolve().parents[1] / "content_data"
CHECKOUT_CONTENT_DIR = Path(__file__).resolve().parents[2] / "content"
DEFAULT_CONTENT_DIR = (
    PACKAGED_CONTENT_DIR if (PACKAGED_CONTENT_DIR / "exercises").is_dir() else CHECKOUT_CONTENT_DIR
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]
# Section text is capped at 3000 characters by Block Kit; keep every paragraph well below.
Paragraph = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1200)]


class ContentError(Exception):
    """A content file is missing or malformed; the message names the file and the field."""


class Kind(StrEnum):
    STRETCH = "stretch"
    STRENGTHEN = "strengthen"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    do: Paragraph
    # How long to hold, or how many times, when this step has its own dose.
    hold: ShortText | None = None


class Source(_Strict):
    title: ShortText
    publisher: ShortText
    published: ShortText
    expert: ShortText
    url: Annotated[str, StringConstraints(pattern=r"^https://\S+$")] | None = None


class Exercise(_Strict):
    slug: Slug
    title: ShortText
    # Position in lists and rotations; each exercise has its own.
    order: int = Field(ge=1)
    aliases: tuple[ShortText, ...] = ()
    kind: Kind
    summary: ShortText
    equipment: tuple[ShortText, ...] = ()
    where: ShortText
    steps: tuple[Step, ...] = Field(min_length=1, max_length=12)
    dose: ShortText
    why: Paragraph
    form_cue: Paragraph
    cautions: tuple[Paragraph, ...] = ()
    # A one-line version for a nudge: what to do in under a minute.
    micro: ShortText
    source: Source


class Guidance(_Strict):
    safety: tuple[Paragraph, ...] = Field(min_length=1)
    move_every_hour: Paragraph
    nudge_prompts: tuple[ShortText, ...] = Field(min_length=1)
    source: Source


def normalise(text: str) -> str:
    """Lower-case, and fold every run of spaces, hyphens and underscores into one space."""
    return re.sub(r"[\s\-_–—]+", " ", text.strip().lower()).strip()


@dataclass(frozen=True, eq=False)  # hashed by identity, so rendered messages can be cached
class Library:
    exercises: tuple[Exercise, ...]
    guidance: Guidance
    _names: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, exercises: list[Exercise], guidance: Guidance) -> Library:
        positions: dict[int, str] = {}
        names: dict[str, str] = {}
        for exercise in exercises:
            first = positions.setdefault(exercise.order, exercise.slug)
            if first != exercise.slug:
                raise ContentError(
                    f"{exercise.slug!r} and {first!r} both have order {exercise.order}"
                )
            for name in (exercise.slug, exercise.title, *exercise.aliases):
                key = normalise(name)
                owner = names.setdefault(key, exercise.slug)
                if owner != exercise.slug:
                    raise ContentError(
                        f"the name {name!r} is used by both {owner!r} and {exercise.slug!r}"
                    )
        return cls(tuple(exercises), guidance, names)

    @property
    def slugs(self) -> list[str]:
        return [exercise.slug for exercise in self.exercises]

    def get(self, slug: str) -> Exercise | None:
        return next((e for e in self.exercises if e.slug == slug), None)

    def find(self, text: str) -> Exercise | None:
        """An exact match on slug, title or alias, in any case and spacing."""
        slug = self._names.get(normalise(text))
        return self.get(slug) if slug else None

    def near_misses(self, text: str, limit: int = 5) -> list[Exercise]:
        """Exercises the person may have meant, in library order.

        First those with a name containing every typed word (`leg`, `hip flexor`), then,
        when none does, those whose name is spelled close to the text (`half-kneal`).
        """
        typed = normalise(text)
        if not typed:
            return []
        words = typed.split(" ")
        by_words = {
            slug
            for name, slug in self._names.items()
            if all(any(part.startswith(w) for part in name.split(" ")) for w in words)
            and all(len(w) >= 3 for w in words)
        }
        if not by_words:
            close = difflib.get_close_matches(typed, list(self._names), n=limit, cutoff=0.72)
            by_words = {self._names[name] for name in close}
        return [e for e in self.exercises if e.slug in by_words][:limit]

    def pick(self, rng: random.Random | None = None) -> Exercise:
        return (rng or random).choice(self.exercises)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"field {where!r}: {first['msg']}"


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: cannot be read as YAML: {exc}") from exc


def load_library(content_dir: Path | str = DEFAULT_CONTENT_DIR) -> Library:
    """Read and validate every exercise file and the guidance file.

    Raises ContentError naming the file and the field at the first problem.
    """
    root = Path(content_dir)
    exercise_files = sorted((root / "exercises").glob("*.yaml"))
    if not exercise_files:
        raise ContentError(
            f"{root / 'exercises'}: no exercise files (*.yaml) found; "
            "set CONTENT_DIR to the folder that holds exercises/ and guidance.yaml"
        )
    exercises: list[Exercise] = []
    for path in exercise_files:
        try:
            exercise = Exercise.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise ContentError(f"{path}: {_describe(exc)}") from exc
        if exercise.slug != path.stem:
            raise ContentError(
                f"{path}: field 'slug' is {exercise.slug!r}, but the file name says {path.stem!r}"
            )
        exercises.append(exercise)
    guidance_path = root / "guidance.yaml"
    try:
        guidance = Guidance.model_validate(_read_yaml(guidance_path))
    except ValidationError as exc:
        raise ContentError(f"{guidance_path}: {_describe(exc)}") from exc
    exercises.sort(key=lambda e: e.order)
    return Library.build(exercises, guidance)
