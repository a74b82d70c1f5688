"""The stand-up nudge DM and the weekly summary DM. Pure."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block

from bot import ids
from bot.core.content import Exercise, Library
from bot.core.stats import Stats
from bot.render.kit import Message, button, context, escape, plain, render_message, section
from bot.render.stats import working_days


def build_weekly_summary(stats: Stats, library: Library) -> Message:
    favourite = library.get(stats.favourite) if stats.favourite else None
    lines = [
        f"This week you stretched *{stats.this_week}* time{'s' if stats.this_week != 1 else ''}."
    ]
    if stats.current_streak:
        lines.append(
            f"Your streak is {working_days(stats.current_streak)} (best {stats.best_streak})."
        )
    if favourite:
        lines.append(f"Your favourite: {escape(favourite.title)}.")
    if not stats.this_week:
        lines.append("Next week is a fresh start: even one half kneel a day helps.")
    blocks: list[Block] = [
        section(":calendar: *Your week in movement*\n" + " ".join(lines)),
        context("`/psoas summary off` stops these weekly notes."),
    ]
    return render_message("Your week in movement: " + plain(" ".join(lines)), blocks)


def pick_for_slot(library: Library, slot: datetime) -> tuple[str, Exercise]:
    """A prompt and a micro-exercise that rotate from one slot to the next."""
    turn = int(slot.timestamp()) // 900  # changes every 15 minutes, the shortest interval
    prompts = library.guidance.nudge_prompts
    return prompts[turn % len(prompts)], library.exercises[turn % len(library.exercises)]


def build_nudge(library: Library, slot: datetime) -> Message:
    """The stand-up DM for one slot. Every button carries the slot and the exercise, which
    is all an answer needs: `<slot epoch seconds>:<exercise slug>`."""
    prompt, exercise = pick_for_slot(library, slot)
    value = f"{int(slot.timestamp())}:{exercise.slug}"
    blocks: list[Block] = [
        section(f"*{escape(prompt)}*"),
        section(f"Try this: {escape(exercise.micro)} (_{escape(exercise.title)}_)"),
        ActionsBlock(
            block_id="nudge",
            elements=[
                button("Done", ids.ACTION_NUDGE_DONE, value, "primary"),
                button("Snooze 1 h", ids.ACTION_NUDGE_SNOOZE_HOUR, value),
                button("Skip today", ids.ACTION_NUDGE_SKIP_TODAY, value),
                button("Show me how", ids.ACTION_NUDGE_SHOW_ME, value),
            ],
        ),
        context("`/psoas off` stops these; `/psoas status` shows your settings."),
    ]
    return render_message(f"{prompt} Try this: {exercise.micro}", blocks)
