"""Block Kit messages built by pure functions, each with its plain-text fallback.

slack_sdk's block classes check Slack's limits when `to_dict()` runs, so a builder that
would produce an invalid payload fails in the tests rather than in a person's Slack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot import ids
from bot.commands import Invalid
from bot.content import Exercise, Guidance, Library, Source
from bot.preferences import Preferences, fmt_days, fmt_local, fmt_minutes, fmt_time
from bot.stats import Stats

MAX_MESSAGE_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_ECHO_CHARS = 80


@dataclass(frozen=True)
class Message:
    """What Slack receives: a fallback `text` for notifications and screen readers, and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def _render(text: str, blocks: Sequence[Block]) -> Message:
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks is over Slack's limit of {MAX_MESSAGE_BLOCKS}")
    return Message(text=text, blocks=[block.to_dict() for block in blocks])


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def echo(typed: str) -> str:
    """What the person typed, shortened and made safe to show back inside `code`."""
    short = typed if len(typed) <= MAX_ECHO_CHARS else typed[: MAX_ECHO_CHARS - 1] + "…"
    return "`" + escape(short.replace("`", "'")).replace("\n", " ") + "`"


def _section(markdown: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=markdown[:MAX_SECTION_CHARS]))


def _context(markdown: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=markdown)])


def credit(source: Source) -> str:
    link = f" <{source.url}|Read the article>" if source.url else ""
    return (
        f"Source: {source.publisher}, “{source.title}” ({source.published}), "
        f"with {source.expert}.{link}"
    )


def _show_button(exercise: Exercise, action_id: str, text: str = "Show me") -> ButtonElement:
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
        note = _context(f"Closest match to {echo(corrected_from)}: `/psoas {exercise.slug}`")
        blocks = [blocks[0], note.to_dict(), *blocks[1:]]
    return Message(message.text, blocks)


def _exercise_body(exercise: Exercise, guidance: Guidance) -> list[Block]:
    kind = "Stretch" if exercise.kind == "stretch" else "Strengthen"
    equipment = ", ".join(exercise.equipment) or "no equipment"
    cautions = [*exercise.cautions, guidance.safety[0]]
    return [
        HeaderBlock(text=PlainTextObject(text=exercise.title)),
        _context(f"*{kind}* · {escape(exercise.where)} · {escape(equipment)}"),
        _section(f"*Steps*\n{steps_markdown(exercise)}"),
        _section(f"*How much:* {escape(exercise.dose)}"),
        _section(f"*Why it helps*\n{escape(exercise.why)}"),
        _section(f"*Form cue*\n{escape(exercise.form_cue)}"),
        _section("*Go easy*\n" + "\n".join(f"• {escape(c)}" for c in cautions)),
        _context(credit(exercise.source)),
    ]


def _button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=text), action_id=action_id, value=value, style=style
    )


@functools.lru_cache(maxsize=64)
def _exercise_message(slug: str, exercise: Exercise, guidance: Guidance) -> Message:
    """Rendered once per exercise: validating the blocks is most of the cost of an answer.
    The last block is always the buttons, so views without them can drop it."""
    actions = ActionsBlock(
        block_id="exercise",
        elements=[
            _button("Start guided", ids.ACTION_START_GUIDED, slug, "primary"),
            _button("I did it", ids.ACTION_DID_IT, slug),
            _button("Share in channel", ids.ACTION_SHARE_EXERCISE, slug),
        ],
    )
    return _render(exercise_fallback(exercise), [*_exercise_body(exercise, guidance), actions])


def build_shared(exercise: Exercise, guidance: Guidance, user_id: str) -> Message:
    """The exercise posted visibly in a channel, saying who shared it."""
    blocks = [
        *_exercise_body(exercise, guidance),
        _context(f"Shared by <@{user_id}> · `/psoas {exercise.slug}` to try it"),
    ]
    return _render(f"<@{user_id}> shared a stretch: {exercise_fallback(exercise)}", blocks)


def build_guided_step(exercise: Exercise, index: int) -> Message:
    """One step of a walkthrough: Step 2 of 4, with that step's hold, Back, Next and Done."""
    total = len(exercise.steps)
    index = max(0, min(index, total - 1))
    step = exercise.steps[index]
    buttons = []
    if index > 0:
        buttons.append(_button("Back", ids.ACTION_GUIDED_BACK, f"{exercise.slug}:{index - 1}"))
    if index < total - 1:
        buttons.append(
            _button("Next", ids.ACTION_GUIDED_NEXT, f"{exercise.slug}:{index + 1}", "primary")
        )
    buttons.append(
        _button(
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
        _section(escape(step.do)),
    ]
    if step.hold:
        blocks.append(_section(f":stopwatch: *{escape(step.hold)}*"))
    if index == total - 1:
        blocks.append(_context(f"Form cue: {escape(exercise.form_cue)}"))
    blocks.append(ActionsBlock(block_id="guided", elements=buttons))
    return _render(f"{exercise.title}, step {index + 1} of {total}: {step.do}", blocks)


def stats_line(stats: Stats) -> str:
    streak = f"{stats.current_streak} working day{'s' if stats.current_streak != 1 else ''}"
    return (
        f"Today: {stats.today} · This week: {stats.this_week} · "
        f"Streak: {streak} (best {stats.best_streak})"
    )


def build_done(headline: str, stats: Stats | None) -> Message:
    """What a nudge or walkthrough becomes once answered: no buttons left to press twice."""
    blocks: list[Block] = [_section(headline)]
    if stats is not None:
        blocks.append(_context(stats_line(stats)))
    text = headline.replace("*", "") + (f" {stats_line(stats)}" if stats else "")
    return _render(text, blocks)


def build_stats(stats: Stats | None, library: Library) -> Message:
    if stats is None or stats.total == 0:
        return build_notice(
            "No stretches recorded yet. Press *I did it* under an exercise, or *Done* on a "
            "nudge, and they count here. Try `/psoas random`.",
            "No stretches recorded yet. Try /psoas random.",
        )
    favourite = library.get(stats.favourite) if stats.favourite else None
    lines = [
        f"*Today:* {stats.today}   *This week:* {stats.this_week}   *All time:* {stats.total}",
        f"*Streak:* {stats.current_streak} working days   *Best:* {stats.best_streak}",
    ]
    if favourite:
        lines.append(f"*Most done:* {escape(favourite.title)}")
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Your movement")),
        _section("\n".join(lines)),
        _context("Streaks count your working days; days off never break them."),
    ]
    return _render("Your movement: " + stats_line(stats), blocks)


def build_weekly_summary(stats: Stats, library: Library) -> Message:
    favourite = library.get(stats.favourite) if stats.favourite else None
    lines = [
        f"This week you stretched *{stats.this_week}* time{'s' if stats.this_week != 1 else ''}."
    ]
    if stats.current_streak:
        lines.append(
            f"Your streak is {stats.current_streak} working days (best {stats.best_streak})."
        )
    if favourite:
        lines.append(f"Your favourite: {escape(favourite.title)}.")
    if not stats.this_week:
        lines.append("Next week is a fresh start: even one half kneel a day helps.")
    blocks: list[Block] = [
        _section(":calendar: *Your week in movement*\n" + " ".join(lines)),
        _context("`/psoas summary off` stops these weekly notes."),
    ]
    return _render("Your week in movement: " + " ".join(lines).replace("*", ""), blocks)


@functools.lru_cache(maxsize=32)
def cached(builder: Callable[[Library], Message], library: Library) -> Message:
    """A library-wide message (help, list), rendered once per library."""
    return builder(library)


def build_list(library: Library) -> Message:
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text="Psoas stretches and exercises"))]
    for exercise in library.exercises:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"*{escape(exercise.title)}* — {escape(exercise.summary)}\n"
                    f"`/psoas {exercise.slug}`"
                ),
                accessory=_show_button(exercise, ids.ACTION_SHOW_EXERCISE),
            )
        )
    blocks.append(_context(escape(library.guidance.move_every_hour)))
    blocks.append(_context(credit(library.guidance.source)))
    fallback = "Psoas exercises: " + ", ".join(
        f"{e.title} (/psoas {e.slug})" for e in library.exercises
    )
    return _render(fallback, blocks)


SETTINGS_HELP = (
    "`/psoas on` · `/psoas off`: start or stop hourly stand-up nudges\n"
    "`/psoas hours 09:00-17:00` · `/psoas days mon-fri` · `/psoas every 60m`\n"
    "`/psoas quiet 12:00-13:00` · `/psoas quiet off`\n"
    "`/psoas snooze 2h` · `/psoas snooze today` · `/psoas snooze off`\n"
    "`/psoas summary off` · `/psoas status` · `/psoas stats` · `/psoas export` · "
    "`/psoas forget me`"
)


def build_help(library: Library) -> Message:
    exercises = "\n".join(f"`/psoas {e.slug}`: {escape(e.summary)}" for e in library.exercises)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="psoas-bot keeps you moving")),
        _section(
            "Long sitting leaves the psoas, the hip flexor that links your spine to your "
            "thighs, short and stiff. I can walk you through a stretch any time, and nudge "
            "you to stand up during your working hours if you ask me to."
        ),
        _section(f"*Exercises*\n{exercises}\n`/psoas list` · `/psoas random`"),
        _section(f"*Nudges* (nobody gets them until they opt in)\n{SETTINGS_HELP}"),
        _context(escape(library.guidance.safety[0])),
        _context(credit(library.guidance.source)),
    ]
    fallback = (
        "psoas-bot: /psoas <exercise> shows a stretch step by step; /psoas list shows all; "
        "/psoas on starts stand-up nudges."
    )
    return _render(fallback, blocks)


def build_did_you_mean(typed: str, exercises: Sequence[Exercise]) -> Message:
    buttons = [
        _show_button(exercise, f"{ids.ACTION_SHOW_EXERCISE}-{index}", exercise.title[:75])
        for index, exercise in enumerate(exercises)
    ]
    names = ", ".join(e.title for e in exercises)
    blocks: list[Block] = [
        _section(f"I don't know {echo(typed)}. Did you mean one of these?"),
        ActionsBlock(elements=buttons),
    ]
    return _render(f"I don't know that exercise. Did you mean: {names}?", blocks)


def build_unknown(typed: str, suggestion: str | None, library: Library) -> Message:
    hint = f" Did you mean `/psoas {suggestion}`?" if suggestion else ""
    listing = cached(build_list, library)
    intro = _section(
        f"I don't know {echo(typed)}.{hint} Here is what I can show you, or try `/psoas help`."
    )
    blocks = [intro.to_dict(), *listing.blocks]
    text = f"I don't know that.{hint} Try /psoas help or /psoas list."
    return Message(text=text, blocks=blocks)


def build_invalid(command: Invalid) -> Message:
    blocks = [
        _section(f":warning: {escape(command.problem)} (you typed {echo(command.typed)}).")
        if command.typed
        else _section(f":warning: {escape(command.problem)}."),
        _section(f"Try {command.usage}."),
    ]
    text = f"{command.problem}. Try {command.usage.replace('`', '')}."
    return _render(text, blocks)


def build_notice(markdown: str, fallback: str) -> Message:
    """A one-paragraph answer, such as a confirmation or an apology."""
    return _render(fallback, [_section(markdown)])


MAX_VIEW_BLOCKS = 100


def build_view(kind: str, blocks: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    if len(blocks) > MAX_VIEW_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks is over Slack's limit of {MAX_VIEW_BLOCKS}")
    return View(type=kind, blocks=list(blocks), **extra).to_dict()


def build_modal(message: Message) -> dict[str, Any]:
    """A message shown where there is no conversation to answer in, such as the App Home tab.
    Its buttons answer through a response URL, which a modal does not have: they are left out."""
    return build_view(
        "modal",
        [block for block in message.blocks if block.get("type") != "actions"],
        title=PlainTextObject(text="psoas-bot"),
        close=PlainTextObject(text="Close"),
    )


def library_blocks(library: Library) -> list[dict[str, Any]]:
    return cached(build_list, library).blocks


STOPPED_REASONS = {
    "account_inactive": "your Slack account is deactivated",
    "user_not_found": "Slack could not find your account",
    "user_disabled": "your Slack account is disabled",
    "channel_not_found": "I could not open a DM with you",
    "messages_tab_disabled": "my Messages tab is turned off, so I cannot DM you",
}


def settings_lines(prefs: Preferences, now: datetime) -> list[str]:
    """Each setting in the person's own time, one line each."""
    zone = prefs.zone
    if prefs.workspace_paused and prefs.opted_in:
        state = (
            f"*paused for the whole workspace*: Slack refused my token "
            f"({escape(prefs.workspace_paused)}). A workspace admin needs to reinstall the app"
        )
    elif prefs.stopped_reason:
        reason = STOPPED_REASONS.get(prefs.stopped_reason, prefs.stopped_reason)
        state = f"*stopped*: {reason}. `/psoas on` starts them again"
    else:
        state = "*on*" if prefs.opted_in else "*off* (`/psoas on` to start)"
    lines = [
        f"Nudges: {state}",
        f"Working hours: {fmt_time(prefs.work_start)}–{fmt_time(prefs.work_end)}, "
        f"{fmt_days(prefs.work_days)}, every {fmt_minutes(prefs.interval_minutes)}",
        "Quiet hours: "
        + (f"{fmt_time(prefs.quiet[0])}–{fmt_time(prefs.quiet[1])}" if prefs.quiet else "none"),
    ]
    if prefs.snoozed_until and prefs.snoozed_at(now):
        lines.append(f"Snoozed until {fmt_local(prefs.snoozed_until, zone, now)}")
    lines.append(f"Weekly summary: {'on' if prefs.weekly_summary else 'off'}")
    lines.append(f"Time zone: {escape(prefs.tz)} (from your Slack profile)")
    if prefs.opted_in and not prefs.stopped_reason and not prefs.workspace_paused:
        next_at = prefs.next_nudge_at
        when = fmt_local(next_at, zone, now) if next_at else "none in the next three weeks"
        lines.append(f"Next nudge: {when}")
    return lines


def build_settings(prefs: Preferences, now: datetime, *, headline: str | None = None) -> Message:
    lines = settings_lines(prefs, now)
    blocks: list[Block] = []
    if headline:
        blocks.append(_section(f":white_check_mark: {headline}"))
    else:
        blocks.append(HeaderBlock(text=PlainTextObject(text="Your nudge settings")))
    blocks.append(_section("\n".join(lines)))
    blocks.append(_context("Change any of them: `/psoas help` lists the commands."))
    text = (headline + " " if headline else "") + "; ".join(
        line.replace("*", "").replace("`", "") for line in lines
    )
    return _render(text, blocks)


def build_rejected(typed: str, problem: str, usage: str) -> Message:
    return build_invalid(Invalid(typed, f"Not saved: {problem}", usage))


CANNOT_SAVE = build_notice(
    ":floppy_disk: I can't reach my database right now, so nothing was changed. "
    "Please try again in a few minutes. Exercises still work: try `/psoas list`.",
    "I can't reach my database right now, so nothing was changed. Try again in a few minutes.",
)


def build_forget_confirm() -> Message:
    blocks: list[Block] = [
        _section(
            "This deletes everything I store about you in this workspace: your nudge "
            "settings and your history. Nudges stop. It cannot be undone."
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Delete everything"),
                    action_id=ids.ACTION_FORGET_CONFIRM,
                    value="forget",
                    style="danger",
                ),
                ButtonElement(
                    text=PlainTextObject(text="Cancel"),
                    action_id=ids.ACTION_FORGET_CANCEL,
                    value="cancel",
                ),
            ]
        ),
    ]
    return _render("Delete everything psoas-bot stores about you? Confirm or cancel.", blocks)


def pick_for_slot(library: Library, slot: datetime) -> tuple[str, Exercise]:
    """A prompt and a micro-exercise that rotate from one slot to the next."""
    turn = int(slot.timestamp()) // 900  # changes every 15 minutes, the shortest interval
    prompts = library.guidance.nudge_prompts
    return prompts[turn % len(prompts)], library.exercises[turn % len(library.exercises)]


def build_nudge(library: Library, slot: datetime) -> tuple[Message, str]:
    """The stand-up DM and the slug of the exercise it suggests."""
    prompt, exercise = pick_for_slot(library, slot)
    value = f"{int(slot.timestamp())}:{exercise.slug}"

    def button(text: str, action_id: str, style: str | None = None) -> ButtonElement:
        return ButtonElement(
            text=PlainTextObject(text=text), action_id=action_id, value=value, style=style
        )

    blocks: list[Block] = [
        _section(f"*{escape(prompt)}*"),
        _section(f"Try this: {escape(exercise.micro)} (_{escape(exercise.title)}_)"),
        ActionsBlock(
            block_id="nudge",
            elements=[
                button("Done", ids.ACTION_NUDGE_DONE, "primary"),
                button("Snooze 1 h", ids.ACTION_NUDGE_SNOOZE_HOUR),
                button("Skip today", ids.ACTION_NUDGE_SKIP_TODAY),
                button("Show me how", ids.ACTION_NUDGE_SHOW_ME),
            ],
        ),
        _context("`/psoas off` stops these; `/psoas status` shows your settings."),
    ]
    return _render(f"{prompt} Try this: {exercise.micro}", blocks), exercise.slug


def build_welcome() -> Message:
    """The DM to whoever installed the app."""
    blocks: list[Block] = [
        _section(
            ":wave: *Thanks for installing psoas-bot.* It helps people here get up from their "
            "desks: `/psoas half-kneel` shows a hip flexor stretch step by step, and "
            "`/psoas on` starts a gentle stand-up nudge every hour within each person's own "
            "working hours and time zone. Nobody is nudged unless they opt in."
        ),
        _section(
            "Try `/psoas list` for the five exercises, or open my *Home* tab for your own "
            "settings. Share `/psoas help` with your team when you're ready."
        ),
    ]
    return _render(
        "Thanks for installing psoas-bot. Try /psoas list, and /psoas on for hourly nudges.",
        blocks,
    )
