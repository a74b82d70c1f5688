"""What a person's Slack status and huddle mean for nudges: busy or away. Pure once loaded.

Slack sends a person's whole profile with `user_change` and `user_huddle_changed`
(https://docs.slack.dev/reference/events/user_change,
https://docs.slack.dev/reference/events/user_huddle_changed): `status_text`, `status_emoji`,
`status_expiration` (epoch seconds, 0 for none) and `huddle_state` (`in_a_huddle`).

- **Busy** (in a huddle, or a status that says a meeting or a call): a nudge due then waits
  for it to end, by the same rule as the Do Not Disturb schedule (`schedule.next_nudge`).
- **Away** (a status that says vacation, out sick, out of office): no nudges and no weekly
  summary until it is cleared or expires.

What counts as busy or away is data: `content/presence.yaml`, validated by `load_presence`
like the exercise library. Only the derived state leaves this module (`Presence`: until when
busy or away); the status text itself is never kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from bot.core.content import ContentError

# A busy or away status with no expiration lasts until a later event clears it. This instant
# stands for "until cleared" wherever an end time is kept: later than any real one.
UNTIL_CLEARED = datetime(9999, 1, 1, tzinfo=UTC)

PRESENCE_FILE = "presence.yaml"
HUDDLE = "in_a_huddle"


class BusyKind(StrEnum):
    """Why a person is busy, for `/psoas status` to say."""

    HUDDLE = "huddle"
    MEETING = "meeting"


Emoji = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^:[a-z0-9_+'\-]+:$")
]
Phrase = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=2, max_length=60)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signs(_Strict):
    """The emoji and phrases that mark one kind of status."""

    emoji: tuple[Emoji, ...] = ()
    phrases: tuple[Phrase, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> Signs:
        if not self.emoji and not self.phrases:
            raise ValueError("give at least one emoji or phrase")
        return self

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        if not self.phrases:
            return None
        words = "|".join(re.escape(" ".join(p.split())) for p in self.phrases)
        return re.compile(rf"(?<![\w])(?:{words})(?![\w])")

    def match(self, emoji: str, text: str) -> bool:
        if emoji and emoji in self.emoji:
            return True
        # An emoji code typed into the text counts as well (`:palm_tree: back Monday`).
        if any(code in text for code in self.emoji):
            return True
        pattern = self._pattern
        return bool(pattern and pattern.search(text))


class PresenceRules(_Strict):
    busy: Signs
    away: Signs


@dataclass(frozen=True)
class Presence:
    """The state derived from one profile: until when busy (and why), until when away.
    None: not busy, not away. `UNTIL_CLEARED`: until a later event says otherwise."""

    busy_until: datetime | None = None
    busy_kind: BusyKind | None = None
    away_until: datetime | None = None


_SKIN_TONE = re.compile(r"::skin-tone-\d:$")


def _text(value: object) -> str:
    return " ".join(value.lower().split()) if isinstance(value, str) else ""


def _expiration(value: object) -> datetime | None:
    """`status_expiration` as an instant; None for 0 (no expiration) or nonsense."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def read_presence(profile: Mapping[str, object], rules: PresenceRules, now: datetime) -> Presence:
    """Busy and away from a Slack profile (`user.profile` of `user_change`, or users.info)."""
    emoji = _SKIN_TONE.sub(":", _text(profile.get("status_emoji")))
    text = _text(profile.get("status_text"))
    expires = _expiration(profile.get("status_expiration"))
    has_status = bool(emoji or text) and (expires is None or expires > now)
    status_until = expires or UNTIL_CLEARED
    away = has_status and rules.away.match(emoji, text)
    if profile.get("huddle_state") == HUDDLE:
        # Slack clears `huddle_state` when the person leaves; that event ends it.
        busy_until, kind = UNTIL_CLEARED, BusyKind.HUDDLE
    elif has_status and not away and rules.busy.match(emoji, text):
        busy_until, kind = status_until, BusyKind.MEETING
    else:
        return Presence(away_until=status_until if away else None)
    return Presence(busy_until, kind, status_until if away else None)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"field {where!r}: {first['msg']}"


def load_presence(content_dir: Path | str) -> PresenceRules:
    """Read and validate `presence.yaml`; ContentError naming the file and field if not."""
    path = Path(content_dir) / PRESENCE_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: cannot be read as YAML: {exc}") from exc
    try:
        return PresenceRules.model_validate(raw)
    except ValidationError as exc:
        raise ContentError(f"{path}: {_describe(exc)}") from exc
