"""Exercise messages: one exercise, the guided walkthrough, the list, and near misses. Pure."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot import ids
from bot.core.content import Exercise, Guidance, Library
from bot.render.kit import (
    Message,
    button,
    cached,
    context,
    credit,
    echo,
    escape,
    render_message,
    section,
)


def show_button(exercise: Exercise, action_id: str, text: str = "Show me") -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=text), action_id=action_id, value=exercise.slug)


def steps_markdown(exercise: Exercise) -> str:
    lines = []
    for number, step in enumerate(exercise.steps, start=1):
        hold = f"  _({escape(step.hold)})_" if step.hold else ""
        lines.append(f"{number}. {escape(step.do)}{hold}")
    return "\n".join(lines)


def exercise_fallback(exercise: Exercise) -> str:
    steps = " ".join(f"{n}. {s.do}" for n, s in enumerate(exercise.steps, start=1))
    return f"{exercise.title}: {steps}"


def build_exercise(
    exercise: Exercise,
    guidance: Guidance,
    *,
    corrected_from: str | None = None,
    with_actions: bool = True,
) -> Message:
    message = _exercise_message(exercise.slug, exercise, guidance)
    blocks = message.blocks if with_actions else message.blocks[:-1]
    if corrected_from is not None:
        note = context(f"Closest match to {echo(corrected_from)}: `/psoas {exercise.slug}`")
        blocks = [blocks[0], note.to_dict(), *blocks[1:]]
    return Message(message.text, blocks)


def exercise_body(exercise: Exercise, guidance: Guidance) -> list[Block]:
    kind = "Stretch" if exercise.kind == "stretch" else "Strengthen"
    equipment = ", ".join(exercise.equipment) or "no equipment"
    cautions = [*exercise.cautions, guidance.safety[0]]
    return [
        HeaderBlock(text=PlainTextObject(text=exercise.title)),
        context(f"*{kind}* · {escape(exercise.where)} · {escape(equipment)}"),
        section(f"*Steps*\n{steps_markdown(exercise)}"),
        section(f"*How much:* {escape(exercise.dose)}"),
        section(f"*Why it helps*\n{escape(exercise.why)}"),
        section(f"*Form cue*\n{escape(exercise.form_cue)}"),
        section("*Go easy*\n" + "\n".join(f"• {escape(c)}" for c in cautions)),
        context(credit(exercise.source)),
    ]


@functools.lru_cache(maxsize=64)
def _exercise_message(slug: str, exercise: Exercise, guidance: Guidance) -> Message:
    """Rendered once per exercise: validating the blocks is most of the cost of an answer.
    The last block is always the buttons, so views without them can drop it."""
    actions = ActionsBlock(
        block_id="exercise",
        elements=[
            button("Start guided", ids.ACTION_START_GUIDED, slug, "primary"),
            button("I did it", ids.ACTION_DID_IT, slug),
            button("Share in channel", ids.ACTION_SHARE_EXERCISE, slug),
        ],
    )
    return render_message(
        exercise_fallback(exercise), [*exercise_body(exercise, guidance), actions]
    )


def build_shared(exercise: Exercise, guidance: Guidance, user_id: str) -> Message:
    """The exercise posted visibly in a channel, saying who shared it."""
    blocks = [
        *exercise_body(exercise, guidance),
        context(f"Shared by <@{user_id}> · `/psoas {exercise.slug}` to try it"),
    ]
    fallback = f" shared a stretch: {exercise_fallback(exercise)}"
    return render_message(fallback, blocks, markup=f"<@{user_id}>")


def build_guided_step(exercise: Exercise, index: int) -> Message:
    """One step of a walkthrough: Step 2 of 4, with that step's hold, Back, Next and Done."""
    total = len(exercise.steps)
    index = max(0, min(index, total - 1))
    step = exercise.steps[index]
    buttons = []
    if index > 0:
        buttons.append(button("Back", ids.ACTION_GUIDED_BACK, f"{exercise.slug}:{index - 1}"))
    if index < total - 1:
        buttons.append(
            button("Next", ids.ACTION_GUIDED_NEXT, f"{exercise.slug}:{index + 1}", "primary")
        )
    buttons.append(
        button(
            "Done",
            ids.ACTION_GUIDED_DONE,
            f"{exercise.slug}:{index}",
            "primary" if index == total - 1 else None,
        )
    )
    blocks: list[Block] = [
        HeaderBlock(
            text=PlainTextObject(text=f"{exercise.title}: step {index + 1} of {total}"[:150])
        ),
        section(escape(step.do)),
    ]
    if step.hold:
        blocks.append(section(f":stopwatch: *{escape(step.hold)}*"))
    if index == total - 1:
        blocks.append(context(f"Form cue: {escape(exercise.form_cue)}"))
    blocks.append(ActionsBlock(block_id="guided", elements=buttons))
    return render_message(f"{exercise.title}, step {index + 1} of {total}: {step.do}", blocks)


def build_list(library: Library) -> Message:
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text="Psoas stretches and exercises"))]
    for exercise in library.exercises:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"*{escape(exercise.title)}* — {escape(exercise.summary)}\n"
                    f"`/psoas {exercise.slug}`"
                ),
                accessory=show_button(exercise, ids.ACTION_SHOW_EXERCISE),
            )
        )
    blocks.append(context(escape(library.guidance.move_every_hour)))
    blocks.append(context(credit(library.guidance.source)))
    fallback = "Psoas exercises: " + ", ".join(
        f"{e.title} (/psoas {e.slug})" for e in library.exercises
    )
    return render_message(fallback, blocks)


def build_did_you_mean(typed: str, exercises: Sequence[Exercise]) -> Message:
    buttons = [
        show_button(exercise, f"{ids.ACTION_SHOW_EXERCISE}-{index}", exercise.title[:75])
        for index, exercise in enumerate(exercises)
    ]
    names = ", ".join(e.title for e in exercises)
    blocks: list[Block] = [
        section(f"I don't know {echo(typed)}. Did you mean one of these?"),
        ActionsBlock(elements=buttons),
    ]
    return render_message(f"I don't know that exercise. Did you mean: {names}?", blocks)


def build_unknown(typed: str, suggestion: str | None, library: Library) -> Message:
    hint = f" Did you mean `/psoas {suggestion}`?" if suggestion else ""
    listing = cached(build_list, library)
    intro = section(
        f"I don't know {echo(typed)}.{hint} Here is what I can show you, or try `/psoas help`."
    )
    blocks = [intro.to_dict(), *listing.blocks]
    text = f"I don't know that.{hint} Try /psoas help or /psoas list."
    return Message(text=escape(text), blocks=blocks)


def library_blocks(library: Library) -> list[dict[str, Any]]:
    return cached(build_list, library).blocks
