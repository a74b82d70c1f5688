"""The answer to each command that needs only the exercise library. Pure."""

from __future__ import annotations

import random

from bot.core.content import Library
from bot.core.grammar import (
    DidYouMean,
    Invalid,
    ShowExercise,
    ShowHelp,
    ShowList,
    ShowRandom,
    Unknown,
)
from bot.render.exercise import build_did_you_mean, build_exercise, build_list, build_unknown
from bot.render.help import build_help, build_invalid
from bot.render.kit import Message, cached

ContentCommand = ShowHelp | ShowList | ShowRandom | ShowExercise | DidYouMean | Unknown | Invalid
# The commands whose answer depends on nothing but the command and the library (not
# `random`): the same command is answered alike every time, so its answer can be kept.
AnsweredAlike = ShowHelp | ShowList | ShowExercise | DidYouMean | Unknown | Invalid
ANSWERED_ALIKE = (ShowHelp, ShowList, ShowExercise, DidYouMean, Unknown, Invalid)


def reply_to(
    command: ContentCommand, library: Library, rng: random.Random | None = None
) -> Message:
    match command:
        case ShowHelp():
            return cached(build_help, library)
        case ShowList():
            return cached(build_list, library)
        case ShowRandom():
            return build_exercise(library.pick(rng), library.guidance)
        case ShowExercise(slug=slug, corrected_from=typed):
            exercise = library.get(slug)
            if exercise is None:  # a stale button from an older library
                return build_unknown(slug, None, library)
            return build_exercise(exercise, library.guidance, corrected_from=typed)
        case DidYouMean(typed=typed, slugs=slugs):
            found = [e for e in map(library.get, slugs) if e is not None]
            return build_did_you_mean(typed, found)
        case Unknown(typed=typed, suggestion=suggestion):
            return build_unknown(typed, suggestion, library)
        case Invalid():
            return build_invalid(command)
