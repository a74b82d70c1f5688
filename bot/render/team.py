"""Team stretch breaks in a channel: the break itself with its I'm in button, the visible
announcement when one is set or ended, and the answers to `/psoas team`. Pure.

People appear as Slack mentions (`<@U123>`), which Slack shows as their names; the ids are
checked before they go into markup, and everything else in a fallback is escaped once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block

from bot import ids
from bot.core.content import Exercise, Library
from bot.core.formatting import fmt_days, fmt_local, fmt_time
from bot.core.preferences import zone_or_utc
from bot.core.stats import Stats
from bot.core.team import TeamBreak
from bot.render.kit import (
    Message,
    build_notice,
    button,
    context,
    credit,
    escape,
    plain,
    render_message,
    section,
)
from bot.render.stats import stats_line

_SLACK_ID = re.compile(r"^[UWB][A-Z0-9]{2,30}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")
# Named joiners before "and N others".
NAMED_JOINERS = 2


def mention(user_id: str) -> str:
    """A Slack mention, for an id that is one (anything else is shown as plain text)."""
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else escape(user_id)


def channel_link(channel: str) -> str:
    """A channel as Slack links it (`<#C123>`, shown as its name), for an id that is one."""
    return f"<#{channel}>" if _CHANNEL_ID.match(channel) else escape(channel)


def joined_line(joiners: Sequence[str]) -> str:
    """`<@A> stretched`, `<@A> and <@B> stretched`, `<@A>, <@B> and 3 others stretched`."""
    if not joiners:
        return ""
    names = [mention(user) for user in joiners]
    if len(names) <= NAMED_JOINERS + 1:
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    else:
        others = len(names) - NAMED_JOINERS
        listed = f"{', '.join(names[:NAMED_JOINERS])} and {others} others"
    return f"{listed} stretched"


def _message(fallback: str, blocks: Sequence[Block], markup: str = "") -> Message:
    """`render_message`, with mentions (already safe) after the escaped fallback."""
    message = render_message(fallback, blocks)
    return Message(text=message.text + markup, blocks=message.blocks)


def when(brk: TeamBreak) -> str:
    """`15:00 (Europe/Paris), Mon–Fri`."""
    return f"{fmt_time(brk.at)} ({brk.tz}), {fmt_days(brk.days)}"


def build_team_break(exercise: Exercise, log_id: int, joiners: Sequence[str] = ()) -> Message:
    """The break as posted in the channel, and as it is updated with each I'm in."""
    value = f"{log_id}:{exercise.slug}"
    joined = joined_line(joiners)
    blocks: list[Block] = [
        section(":people_holding_hands: *Team stretch break!* Everyone up for a minute."),
        section(f"Try this: {escape(exercise.micro)} (_{escape(exercise.title)}_)"),
        ActionsBlock(
            block_id="team_break",
            elements=[
                button("I'm in", ids.ACTION_TEAM_JOIN, value, "primary"),
                button("Show me how", ids.ACTION_SHOW_EXERCISE, exercise.slug),
            ],
        ),
        context(
            f":muscle: {joined}."
            if joined
            else "Press *I'm in* once you've done it: it counts toward your own streak."
        ),
        context(credit(exercise.source)),
    ]
    fallback = f"Team stretch break! Try this: {exercise.micro}"
    return _message(fallback, blocks, f" {joined}." if joined else "")


def build_team_announcement(brk: TeamBreak, previous: TeamBreak | None) -> Message:
    """Posted visibly in the channel when a break is set or moved: who, when, which zone."""
    who = mention(brk.set_by)
    did = (
        "moved the daily team stretch break here to"
        if previous
        else ("set a daily team stretch break here:")
    )
    markdown = (
        f":people_holding_hands: {who} {did} *{escape(when(brk))}*. At that time I'll post "
        "a one-minute exercise; press *I'm in* when you've done it and it counts toward "
        "your streak."
    )
    blocks: list[Block] = [
        section(markdown),
        context("`/psoas team` shows it · `/psoas team off` ends it"),
    ]
    message = render_message(f" {did} {when(brk)}.", blocks)
    return Message(text=who + message.text, blocks=message.blocks)


def build_team_ended_announcement(user_id: str) -> Message:
    who = mention(user_id)
    blocks: list[Block] = [
        section(f":wave: {who} ended the daily team stretch break in this channel."),
        context("`/psoas team 15:00` sets a new one."),
    ]
    message = render_message(" ended the daily team stretch break here.", blocks)
    return Message(text=who + message.text, blocks=message.blocks)


def build_team_status(brk: TeamBreak | None, now: datetime) -> Message:
    """`/psoas team`: the channel's break, or how to set one."""
    if brk is None:
        return build_notice(
            "There's no team stretch break in this channel yet. `/psoas team 15:00` sets one "
            "for Monday to Friday at 15:00 in your time zone "
            "(`/psoas team 15:00 mon,wed,fri` for other days)."
        )
    zone = zone_or_utc(brk.tz)
    upcoming = fmt_local(brk.next_at, zone, now) if brk.next_at else "none this week"
    lines = [
        f"*Team stretch break here:* {escape(when(brk))}",
        f"Set by {mention(brk.set_by)} · next: {upcoming} ({escape(brk.tz)})",
    ]
    blocks: list[Block] = [
        section("\n".join(lines)),
        context("`/psoas team 16:00` moves it · `/psoas team off` ends it"),
    ]
    fallback = f"Team stretch break here: {when(brk)}; next: {upcoming}."
    return render_message(fallback, blocks)


def build_team_saved(brk: TeamBreak, now: datetime) -> Message:
    zone = zone_or_utc(brk.tz)
    upcoming = fmt_local(brk.next_at, zone, now) if brk.next_at else "none this week"
    return build_notice(
        f":white_check_mark: Team stretch break saved: *{escape(when(brk))}*, first on "
        f"{upcoming}. I announced it in the channel."
    )


def build_team_ended(brk: TeamBreak | None) -> Message:
    if brk is None:
        return build_notice("There was no team stretch break in this channel, so nothing changed.")
    return build_notice("Team stretch break ended: no more breaks here. I said so in the channel.")


TEAM_IN_A_DM = build_notice(
    "Team breaks live in channels: type `/psoas team 15:00` in the channel your team uses, "
    "and I'll post a one-minute stretch there every working day. For your own reminders, "
    "use `/psoas on`."
)


def build_not_in_channel(code: str | None) -> Message:
    """Slack refused the announcement: the bot is not in the channel (or cannot see it)."""
    if code in ("not_in_channel", "channel_not_found"):
        return build_notice(
            "I'm not in this channel, so I can't post there and nothing was saved. Invite me "
            "with `/invite @psoas-bot` (private channels too), then type the command again."
        )
    if code == "is_archived":
        return build_notice("This channel is archived, so nothing was saved.")
    return build_notice(
        f"Slack didn't let me post in this channel ({escape(code or 'unknown error')}), "
        "so nothing was saved. Please try again in a minute."
    )


def build_joined(new: bool, exercise: Exercise | None, stats: Stats) -> Message:
    """The ephemeral answer to the person who pressed I'm in."""
    title = escape(exercise.title) if exercise else "the team stretch"
    headline = (
        f":muscle: You're in: *{title}* counts toward your streak."
        if new
        else f"You're already in on this one ({title}); it counted once."
    )
    blocks: list[Block] = [section(headline), context(stats_line(stats))]
    return render_message(f"{plain(headline)} {stats_line(stats)}", blocks)


def team_exercise(library: Library, slug: str) -> Exercise:
    """The exercise a break brings; the library's first if it was removed since."""
    return library.get(slug) or library.exercises[0]
