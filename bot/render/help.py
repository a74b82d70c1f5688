"""The help message, the accepted form of each setting, and the installer's welcome. Pure.

Usage text lives here, beside the messages that show it: the grammar and the settings rules
only say which setting (`Topic`) a problem is about.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock, PlainTextObject

from bot.core.changes import Rejected, Topic
from bot.core.content import Library
from bot.core.grammar import Invalid
from bot.render.kit import Message, context, credit, echo, escape, render_message, section

USAGE: dict[Topic, str] = {
    "hours": "`/psoas hours 09:00-17:00` (also `9-17` or `9am-5pm`)",
    "days": "`/psoas days mon-fri` (also `weekdays`, `every day` or `mon,wed,fri`)",
    "every": "`/psoas every 60m` (also `90m`, `1.5h` or `2h`; from 15 minutes to 4 hours)",
    "quiet": "`/psoas quiet 12:00-13:00` (may wrap midnight, e.g. `22:00-07:00`) or `quiet off`",
    "snooze": "`/psoas snooze 2h`, `snooze 30m`, `snooze today`, `snooze tomorrow` or `snooze off`",
    "summary": "`/psoas summary on` or `/psoas summary off` (the weekly summary DM)",
    "meetings": "`/psoas meetings on` or `/psoas meetings off` (whether your Slack status "
    "and huddles hold your nudges)",
    "team": "`/psoas team 15:00` in a channel (Monday to Friday; `/psoas team 15:00 mon,wed,fri` "
    "for other days), `/psoas team` to see it, `/psoas team off` to end it",
    "home": "the controls on my Home tab, or `/psoas help` for the commands",
}


SETTINGS_HELP = (
    "`/psoas on` · `/psoas off`: start or stop hourly stand-up nudges\n"
    "`/psoas hours 09:00-17:00` · `/psoas days mon-fri` · `/psoas every 60m`\n"
    "`/psoas quiet 12:00-13:00` · `/psoas quiet off`\n"
    "`/psoas snooze 2h` · `/psoas snooze today` · `/psoas snooze off` (Slack's Do Not Disturb "
    "schedule is always respected; a manual pause in Slack is not shared with apps, so "
    "snooze here)\n"
    "`/psoas meetings off` (a huddle or a meeting status holds a nudge until it ends, "
    "an away status pauses them; on unless you turn it off)\n"
    "`/psoas summary off` · `/psoas status` · `/psoas stats` · `/psoas export` · "
    "`/psoas forget me`"
)
TEAM_HELP = (
    "`/psoas team 15:00` in a channel: a daily one-minute team stretch there, with an "
    "*I'm in* button · `/psoas team` · `/psoas team off`"
)


def build_help(library: Library) -> Message:
    exercises = "\n".join(f"`/psoas {e.slug}`: {escape(e.summary)}" for e in library.exercises)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="psoas-bot keeps you moving")),
        section(
            "Long sitting leaves the psoas, the hip flexor that links your spine to your "
            "thighs, short and stiff. I can walk you through a stretch any time, and nudge "
            "you to stand up during your working hours if you ask me to."
        ),
        section(f"*Exercises*\n{exercises}\n`/psoas list` · `/psoas random`"),
        section(f"*Nudges* (nobody gets them until they opt in)\n{SETTINGS_HELP}"),
        section(f"*Team stretch breaks*\n{TEAM_HELP}"),
        context(escape(library.guidance.safety[0])),
        context(credit(library.guidance.source)),
    ]
    fallback = (
        "psoas-bot: /psoas <exercise> shows a stretch step by step; /psoas list shows all; "
        "/psoas on starts stand-up nudges."
    )
    return render_message(fallback, blocks)


def build_invalid(command: Invalid) -> Message:
    """What was wrong with a setting as typed, and the form that setting accepts."""
    usage = USAGE[command.topic]
    blocks = [
        section(f":warning: {escape(command.problem)} (you typed {echo(command.typed)}).")
        if command.typed
        else section(f":warning: {escape(command.problem)}."),
        section(f"Try {usage}."),
    ]
    text = f"{command.problem}. Try {usage.replace('`', '')}."
    return render_message(text, blocks)


def build_rejected(typed: str, rejected: Rejected) -> Message:
    """A change that parsed but cannot be saved (hours shorter than the interval, say)."""
    return build_invalid(Invalid(typed, f"Not saved: {rejected.problem}", rejected.topic))


def build_welcome() -> Message:
    """The DM to whoever installed the app."""
    blocks: list[Block] = [
        section(
            ":wave: *Thanks for installing psoas-bot.* It helps people here get up from their "
            "desks: `/psoas half-kneel` shows a hip flexor stretch step by step, and "
            "`/psoas on` starts a gentle stand-up nudge every hour within each person's own "
            "working hours and time zone. Nobody is nudged unless they opt in."
        ),
        section(
            "Try `/psoas list` for the five exercises, or open my *Home* tab for your own "
            "settings. Share `/psoas help` with your team when you're ready."
        ),
    ]
    return render_message(
        "Thanks for installing psoas-bot. Try /psoas list, and /psoas on for hourly nudges.",
        blocks,
    )
