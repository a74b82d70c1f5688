"""The buttons on a nudge: Done, Snooze 1 h, Skip today, Show me how.

Each answers the nudge once; the message is replaced in place so there is nothing left to
press twice. A second click (from a stale client), a click on a nudge from another
workspace or after `forget me`, changes nothing and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

from slack_bolt import BoltContext, Respond

from bot import ids
from bot.core.changes import SnoozeFor, SnoozeUntilTomorrow
from bot.core.formatting import fmt_local
from bot.data.activity import Answer, answer_nudge
from bot.data.models import NudgeAnswer
from bot.data.movement import read_movement
from bot.data.people import Who
from bot.render.exercise import build_exercise
from bot.render.kit import build_notice, escape
from bot.render.stats import build_done
from bot.slack.context import Payload, Services, services_of, who_from
from bot.slack.failures import after_ack

ANSWER_WORDS: dict[str, str] = {
    NudgeAnswer.DONE: "done",
    NudgeAnswer.SNOOZED: "snoozed",
    NudgeAnswer.SKIPPED: "skipped for today",
}


def parse_nudge_value(value: object) -> tuple[datetime, str] | None:
    """`<slot epoch seconds>:<exercise slug>`, as build_nudge writes it."""
    seconds, _, slug = str(value or "").partition(":")
    if not seconds.isdigit() or not slug:
        return None
    try:
        return datetime.fromtimestamp(int(seconds), UTC), slug
    except (OverflowError, OSError, ValueError):
        return None


def _say(respond: Respond, markdown: str) -> None:
    message = build_notice(markdown)
    respond(replace_original=False, response_type="ephemeral", **message.as_kwargs())


def _answer(
    services: Services,
    who: Who,
    action: Payload,
    respond: Respond,
    answer: NudgeAnswer,
    change: SnoozeFor | SnoozeUntilTomorrow | None = None,
) -> tuple[Answer, str] | None:
    parsed = parse_nudge_value(action.get("value"))
    if parsed is None:
        _say(respond, "I can't read that button, so nothing was changed.")
        return None
    slot, slug = parsed
    known = services.library.get(slug)
    result = answer_nudge(
        services.db, who, slot=slot, answer=answer,
        exercise=known.slug if known else None, now=services.clock(), change=change,
    )  # fmt: skip
    if result.status == "unknown":
        _say(
            respond,
            "I can't find this nudge for you any more (perhaps you asked me to forget you), "
            "so nothing was recorded.",
        )
        return None
    if result.status == "already":
        word = ANSWER_WORDS.get(str(result.previous), "answered")
        _say(respond, f"You already answered this nudge ({word}); nothing changed.")
        return None
    return result, known.title if known else "your stretch"


# What each answering button records, and the change it makes to the person's settings.
BUTTONS: dict[str, tuple[NudgeAnswer, SnoozeFor | SnoozeUntilTomorrow | None]] = {
    ids.ACTION_NUDGE_DONE: (NudgeAnswer.DONE, None),
    ids.ACTION_NUDGE_SNOOZE_HOUR: (NudgeAnswer.SNOOZED, SnoozeFor(60)),
    ids.ACTION_NUDGE_SKIP_TODAY: (NudgeAnswer.SKIPPED, SnoozeUntilTomorrow(1)),
}


@after_ack
def answer_nudge_button(
    action: Payload, body: Payload, context: BoltContext, respond: Respond
) -> None:
    """Done, Snooze 1 h or Skip today: recorded once, and the nudge replaced in place."""
    services = services_of(context)
    who = who_from(context, body)
    answer, change = BUTTONS[str(action.get("action_id"))]
    answered = _answer(services, who, action, respond, answer, change)
    if not answered:
        return
    result, title = answered
    prefs, now = result.prefs, services.clock()
    if answer == NudgeAnswer.DONE:
        headline = f":white_check_mark: *Done: {escape(title)}.* Nice work."
        # Stats as /psoas stats shows them: days away never break the streak.
        message = build_done(headline, read_movement(services.db, who, now=now) or result.stats)
    elif answer == NudgeAnswer.SNOOZED and prefs and prefs.snoozed_until:
        until = fmt_local(prefs.snoozed_until, prefs.zone, now)
        message = build_done(f":zzz: Snoozed until {until}.", None)
    else:
        message = build_done(":palm_tree: Skipped for today. See you tomorrow.", None)
    respond(replace_original=True, **message.as_kwargs())


@after_ack
def nudge_show_me(body: Payload, action: Payload, context: BoltContext, respond: Respond) -> None:
    services = services_of(context)
    parsed = parse_nudge_value(action.get("value"))
    exercise = services.library.get(parsed[1]) if parsed else None
    if exercise is None:
        exercise = services.library.exercises[0]
    message = build_exercise(exercise, services.library.guidance)
    respond(replace_original=False, response_type="ephemeral", **message.as_kwargs())
