"""Your settings as `/psoas status` and a saved change show them, and `forget me`. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock, PlainTextObject

from bot import ids
from bot.core import changes
from bot.core.changes import Change
from bot.core.formatting import fmt_days, fmt_local, fmt_minutes, fmt_time
from bot.core.preferences import Preferences
from bot.core.presence import UNTIL_CLEARED
from bot.render.kit import Message, build_notice, context, escape, plain, render_message, section

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
    lines.append(
        "Meetings: "
        + (
            "*on* (a huddle or a meeting status holds a nudge until it ends; "
            "an away status pauses them)"
            if prefs.meetings
            else "*off* (your Slack status and huddles don't change your nudges)"
        )
    )
    lines.append(f"Time zone: {escape(prefs.tz)} (from your Slack profile)")
    if prefs.opted_in and not prefs.stopped_reason and not prefs.workspace_paused:
        lines.append(next_nudge_line(prefs, now))
    return lines


def _until(instant: datetime | None, prefs: Preferences, now: datetime) -> str:
    if instant is None or instant >= UNTIL_CLEARED:
        return ""
    return f" until {fmt_local(instant, prefs.zone, now)}"


def next_nudge_line(prefs: Preferences, now: datetime) -> str:
    """When the next nudge comes, and why it waits when a status or huddle holds it."""
    next_at = prefs.next_nudge_at
    when = fmt_local(next_at, prefs.zone, now) if next_at else "none in the next three weeks"
    if prefs.away_at(now):
        until = _until(prefs.away_until, prefs, now)
        if next_at is None or next_at >= UNTIL_CLEARED:
            return (
                f"Next nudge: none while your status says you're away{until}; "
                "they start again when you clear it"
            )
        return f"Next nudge: {when}, when you're back (your status says you're away{until})"
    if prefs.busy_at(now):
        huddle = prefs.busy_kind == "huddle"
        what = "you're in a huddle" if huddle else "your status says you're in a meeting"
        if next_at is not None and next_at >= UNTIL_CLEARED:
            return f"Next nudge: {what}; your next nudge comes when it ends"
        if next_at is not None and prefs.busy_until is not None and next_at <= prefs.busy_until:
            ending = "the huddle ends" if huddle else "your meeting ends"
            return f"Next nudge: {when}, when {ending} ({what})"
    if next_at is not None and prefs.nudge_offset >= timedelta(minutes=1):
        # The real send time, a few minutes past the slot: say why, so it is not a surprise.
        return (
            f"Next nudge: {when} (your workspace is big, so its nudges go out over a few "
            f"minutes after each slot at Slack's pace; yours come "
            f"{fmt_minutes(prefs.nudge_offset // timedelta(minutes=1))} in)"
        )
    return f"Next nudge: {when}"


def build_settings(prefs: Preferences, now: datetime, *, headline: str | None = None) -> Message:
    lines = settings_lines(prefs, now)
    blocks: list[Block] = []
    if headline:
        blocks.append(section(f":white_check_mark: {headline}"))
    else:
        blocks.append(HeaderBlock(text=PlainTextObject(text="Your nudge settings")))
    blocks.append(section("\n".join(lines)))
    blocks.append(context("Change any of them: `/psoas help` lists the commands."))
    text = (headline + " " if headline else "") + "; ".join(plain(line) for line in lines)
    return render_message(text, blocks)


CANNOT_SAVE = build_notice(
    ":floppy_disk: I can't reach my database right now, so nothing was changed. "
    "Please try again in a few minutes. Exercises still work: try `/psoas list`.",
    "I can't reach my database right now, so nothing was changed. Try again in a few minutes.",
)


def build_forget_confirm() -> Message:
    blocks: list[Block] = [
        section(
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
    return render_message(
        "Delete everything psoas-bot stores about you? Confirm or cancel.", blocks
    )


def headline_for(change: Change) -> str:
    """The first line of the answer to a saved change."""
    match change:
        case changes.TurnOn():
            return "Nudges are on. I'll DM you during your working hours."
        case changes.TurnOff():
            return "Nudges are off. Your settings are kept for when you turn them back on."
        case changes.SetHours():
            return "Working hours saved."
        case changes.SetDays():
            return "Working days saved."
        case changes.SetInterval():
            return "Interval saved."
        case changes.SetQuiet():
            return "Quiet hours saved: no nudges then."
        case changes.ClearQuiet():
            return "Quiet hours removed."
        case changes.SnoozeFor() | changes.SnoozeUntilTomorrow():
            return "Snoozed."
        case changes.SnoozeOff():
            return "Snooze ended."
        case changes.SetWeeklySummary():
            return "Weekly summary setting saved."
        case changes.SetMeetings(on=True):
            return (
                "Meeting-aware nudges are on: a huddle or a meeting status holds a nudge until "
                "it ends, and an away status pauses them."
            )
        case changes.SetMeetings():
            return "Meeting-aware nudges are off: your Slack status and huddles no longer count."
