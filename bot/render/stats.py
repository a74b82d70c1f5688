"""Your movement: `/psoas stats`, and what an answered exercise or nudge becomes. Pure."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock, PlainTextObject

from bot.core.content import Library
from bot.core.stats import Stats
from bot.render.kit import Message, build_notice, context, escape, plain, render_message, section


def working_days(count: int) -> str:
    """`1 working day`, `3 working days`."""
    return f"{count} working day{'s' if count != 1 else ''}"


def stats_line(stats: Stats) -> str:
    return (
        f"Today: {stats.today} · This week: {stats.this_week} · "
        f"Streak: {working_days(stats.current_streak)} (best {stats.best_streak})"
    )


def team_line(stats: Stats) -> str:
    """`/psoas stats` counts the team stretch breaks joined (each is a completion too)."""
    return (
        f"*Team stretch breaks joined:* {stats.team_this_week} this week, {stats.team_total} in all"
    )


def build_done(headline: str, stats: Stats | None) -> Message:
    """What a nudge or walkthrough becomes once answered: no buttons left to press twice."""
    blocks: list[Block] = [section(headline)]
    if stats is not None:
        blocks.append(context(stats_line(stats)))
    text = plain(headline) + (f" {stats_line(stats)}" if stats else "")
    return render_message(text, blocks)


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
        f"*Streak:* {working_days(stats.current_streak)}   *Best:* {stats.best_streak}",
    ]
    if favourite:
        lines.append(f"*Most done:* {escape(favourite.title)}")
    if stats.team_total:
        lines.append(team_line(stats))
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Your movement")),
        section("\n".join(lines)),
        context("Streaks count your working days; days off never break them."),
    ]
    fallback = "Your movement: " + stats_line(stats)
    if stats.team_total:
        fallback += f" · Team breaks joined this week: {stats.team_this_week}"
    return render_message(fallback, blocks)
