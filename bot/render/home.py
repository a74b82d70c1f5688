"""The App Home tab: the person's settings as controls, and the exercise library. Pure.

`change_from_home` turns a control's `block_actions` payload into the same change value a
slash command produces, so both paths share one set of rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InteractiveElement,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    TimePickerElement,
)

from bot import ids
from bot.core import changes
from bot.core.changes import Change, Rejected
from bot.core.content import Library
from bot.core.formatting import DAY_ABBREVIATIONS, fmt_minutes, fmt_time
from bot.core.grammar import parse_time
from bot.core.preferences import Preferences
from bot.core.stats import Stats
from bot.core.team import JoinedBreak
from bot.render.exercise import library_blocks
from bot.render.kit import build_view, escape, section
from bot.render.settings import settings_lines
from bot.render.stats import stats_line
from bot.render.team import channel_link

INTERVAL_CHOICES = (15, 30, 45, 60, 90, 120, 180, 240)
SNOOZE_CHOICES = {
    "30": "30 minutes",
    "60": "1 hour",
    "120": "2 hours",
    "today": "Rest of today",
    "tomorrow": "Until the day after tomorrow",
    "off": "Not snoozed",
}


def _option(value: str, label: str) -> Option:
    return Option(value=value, text=PlainTextObject(text=label))


def _timepicker(action_id: str, initial: time | None, placeholder: str) -> TimePickerElement:
    return TimePickerElement(
        action_id=action_id,
        initial_time=fmt_time(initial) if initial else None,
        placeholder=PlainTextObject(text=placeholder),
    )


TimeControl = tuple[str, time | None, str]  # action id, initial time, placeholder


def _times_row(
    block_id: str, start: TimeControl, end: TimeControl, extra: InteractiveElement
) -> ActionsBlock:
    """Two time pickers (a start and an end) and one more control, side by side."""
    return ActionsBlock(block_id=block_id, elements=[_timepicker(*start), _timepicker(*end), extra])


def build_home(
    library: Library,
    prefs: Preferences,
    now: datetime,
    *,
    stats: Stats | None = None,
    notice: str | None = None,
    joined: Sequence[JoinedBreak] = (),
) -> dict[str, Any]:
    on = prefs.opted_in and not prefs.stopped_reason
    # Slack keeps what a control shows on screen while its block and action ids stay the
    # same, even when the view sent sets another value; new block ids on every render make
    # each control show the saved value, also after a choice that was not saved
    # (bolt-js#290 and bolt-python#1064, answered by Slack's SDK maintainers).
    revision = format(int(now.timestamp() * 1000), "x")
    day_options = [_option(str(d), name) for d, name in enumerate(DAY_ABBREVIATIONS)]
    interval_options = [_option(str(m), f"Every {fmt_minutes(m)}") for m in INTERVAL_CHOICES]
    snooze_options = [_option(value, label) for value, label in SNOOZE_CHOICES.items()]
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text="Your stand-up nudges"))]
    if notice:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f":warning: {escape(notice)}")))
    blocks += [
        SectionBlock(text=MarkdownTextObject(text="\n".join(settings_lines(prefs, now)))),
        ActionsBlock(
            block_id=f"nudges-{revision}",
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Turn nudges off" if on else "Turn nudges on"),
                    action_id=ids.ACTION_HOME_TOGGLE,
                    value="off" if on else "on",
                    style=None if on else "primary",
                ),
                StaticSelectElement(
                    action_id=ids.ACTION_HOME_SNOOZE,
                    placeholder=PlainTextObject(text="Snooze…"),
                    options=snooze_options,
                ),
                ButtonElement(
                    text=PlainTextObject(
                        text="Weekly summary: on" if prefs.weekly_summary else "Weekly summary: off"
                    ),
                    action_id=ids.ACTION_HOME_SUMMARY,
                    value="off" if prefs.weekly_summary else "on",
                ),
                ButtonElement(
                    text=PlainTextObject(
                        text="Meeting-aware: on" if prefs.meetings else "Meeting-aware: off"
                    ),
                    action_id=ids.ACTION_HOME_MEETINGS,
                    value="off" if prefs.meetings else "on",
                ),
            ],
        ),
        section("*Working hours, days and interval*"),
        _times_row(
            f"hours-{revision}",
            (ids.ACTION_HOME_START, prefs.work_start, "Start"),
            (ids.ACTION_HOME_END, prefs.work_end, "End"),
            StaticSelectElement(
                action_id=ids.ACTION_HOME_INTERVAL,
                placeholder=PlainTextObject(text="Interval"),
                options=interval_options,
                initial_option=next(
                    (o for o in interval_options if o.value == str(prefs.interval_minutes)),
                    None,
                ),
            ),
        ),
        ActionsBlock(
            block_id=f"days-{revision}",
            elements=[
                CheckboxesElement(
                    action_id=ids.ACTION_HOME_DAYS,
                    options=day_options,
                    initial_options=[day_options[d] for d in sorted(prefs.work_days)] or None,
                )
            ],
        ),
        section("*Quiet hours* (no nudges; may wrap midnight)"),
        _times_row(
            f"quiet-{revision}",
            (ids.ACTION_HOME_QUIET_START, prefs.quiet_start, "From"),
            (ids.ACTION_HOME_QUIET_END, prefs.quiet_end, "Until"),
            ButtonElement(
                text=PlainTextObject(text="No quiet hours"),
                action_id=ids.ACTION_HOME_QUIET_CLEAR,
                value="clear",
            ),
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Times are in your Slack time zone. Your Do Not Disturb schedule "
                    "is respected; Slack doesn't tell apps about a manual pause, so use "
                    "Snooze for that. Meeting-aware: a huddle or a meeting status holds a "
                    "nudge until it ends, and an away status pauses them."
                )
            ]
        ),
        DividerBlock(),
    ]
    if stats is not None and stats.total:
        blocks += [
            SectionBlock(text=MarkdownTextObject(text=f"*Your movement*\n{stats_line(stats)}")),
            DividerBlock(),
        ]
    if joined:
        blocks += [section(joined_breaks_text(joined, prefs, library)), DividerBlock()]
    rendered = [block.to_dict() for block in blocks]
    return build_view("home", [*rendered, *library_blocks(library)])


def joined_breaks_text(joined: Sequence[JoinedBreak], prefs: Preferences, library: Library) -> str:
    """The team stretch breaks the person joined this week, in their own time."""
    lines = []
    for j in joined[-10:]:  # a week of them, and a section stays short
        exercise = library.get(j.exercise) if j.exercise else None
        what = f": {escape(exercise.title)}" if exercise else ""
        lines.append(
            f"• {j.done_at.astimezone(prefs.zone):%a %H:%M} in {channel_link(j.channel)}{what}"
        )
    count = len(joined)
    heading = f"*Team stretch breaks you joined this week: {count}*"
    return heading + "\n" + "\n".join(lines)


def _picked_time(action: dict[str, Any]) -> time | None:
    try:
        return parse_time(str(action.get("selected_time") or ""))
    except ValueError:
        return None


def change_from_home(action: dict[str, Any], prefs: Preferences) -> Change | Rejected:
    """The change a Home tab control asks for, checked against the current preferences."""
    action_id = action.get("action_id")
    if action_id == ids.ACTION_HOME_TOGGLE:
        return changes.TurnOn() if action.get("value") == "on" else changes.TurnOff()
    if action_id == ids.ACTION_HOME_QUIET_CLEAR:
        return changes.ClearQuiet()
    if action_id == ids.ACTION_HOME_SUMMARY:
        return changes.SetWeeklySummary(action.get("value") == "on")
    if action_id == ids.ACTION_HOME_MEETINGS:
        return changes.SetMeetings(action.get("value") == "on")
    if action_id == ids.ACTION_HOME_DAYS:
        values = [o.get("value") for o in action.get("selected_options") or []]
        days = frozenset(int(v) for v in values if v in {str(d) for d in range(7)})
        return changes.SetDays(days)
    if action_id in (ids.ACTION_HOME_INTERVAL, ids.ACTION_HOME_SNOOZE):
        value = str((action.get("selected_option") or {}).get("value", ""))
        if action_id == ids.ACTION_HOME_INTERVAL:
            if value.isdigit() and int(value) in INTERVAL_CHOICES:
                return changes.SetInterval(int(value))
            return Rejected("pick one of the listed intervals", "every")
        if value == "off":
            return changes.SnoozeOff()
        if value in ("today", "tomorrow"):
            return changes.SnoozeUntilTomorrow(days=1 if value == "today" else 2)
        if value.isdigit() and value in SNOOZE_CHOICES:
            return changes.SnoozeFor(int(value))
        return Rejected("pick one of the listed snooze lengths", "snooze")
    picked = _picked_time(action)
    if picked is None:
        return Rejected("pick a time", "hours")
    if action_id in (ids.ACTION_HOME_START, ids.ACTION_HOME_END):
        start = picked if action_id == ids.ACTION_HOME_START else prefs.work_start
        end = picked if action_id == ids.ACTION_HOME_END else prefs.work_end
        if end <= start:
            return Rejected("working hours must end after they start", "hours")
        return changes.SetHours(start, end)
    if action_id in (ids.ACTION_HOME_QUIET_START, ids.ACTION_HOME_QUIET_END):
        hour_later = (datetime.combine(datetime.min, picked) + timedelta(hours=1)).time()
        hour_earlier = (datetime.combine(datetime.min + timedelta(days=1), picked)
                        - timedelta(hours=1)).time()  # fmt: skip
        if action_id == ids.ACTION_HOME_QUIET_START:
            start, end = picked, prefs.quiet_end or hour_later
        else:
            start, end = prefs.quiet_start or hour_earlier, picked
        if start == end:
            return Rejected("quiet hours must start and end at different times", "quiet")
        return changes.SetQuiet(start, end)
    return Rejected("that control is not one I know", "home")
