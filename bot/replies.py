"""The answer to each content command, as a Block Kit message. Pure."""

from __future__ import annotations

import random

from bot import blocks
from bot.blocks import Message
from bot.commands import (
    DidYouMean,
    Invalid,
    ShowExercise,
    ShowHelp,
    ShowList,
    ShowRandom,
    Unknown,
)
from bot.content import Library

ContentCommand = ShowHelp | ShowList | ShowRandom | ShowExercise | DidYouMean | Unknown | Invalid


def reply_to(
    command: ContentCommand, library: Library, rng: random.Random | None = None
) -> Message:
    match command:
        case ShowHelp():
            return blocks.cached(blocks.build_help, library)
        case ShowList():
            return blocks.cached(blocks.build_list, library)
        case ShowRandom():
            return blocks.build_exercise(library.pick(rng), library.guidance)
        case ShowExercise(slug=slug, corrected_from=typed):
            exercise = library.get(slug)
            if exercise is None:  # a stale button from an older library
                return blocks.build_unknown(slug, None, library)
            return blocks.build_exercise(exercise, library.guidance, corrected_from=typed)
        case DidYouMean(typed=typed, slugs=slugs):
            found = [e for e in map(library.get, slugs) if e is not None]
            return blocks.build_did_you_mean(typed, found)
        case Unknown(typed=typed, suggestion=suggestion):
            return blocks.build_unknown(typed, suggestion, library)
        case Invalid():
            return blocks.build_invalid(command)
