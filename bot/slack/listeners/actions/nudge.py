"""The buttons on a nudge: Done, Snooze 1 h, Skip today, Show me how.

Each answers the nudge once; the message is replaced in place so there is nothing left to
press twice. A second click (from a stale client), a click on a nudge from another
workspace or after `forget me`, changes nothing and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, BoltContext, Respond

from bot.core.changes import SnoozeFor, SnoozeUntilTomorrow
from bot.core.formatting import fmt_local
from bot.data.activity import Answer, answer_nudge
from bot.data.models import NudgeAnswer
from bot.data.people import Who
from bot.render.exercise import build_exercise
from bot.render.kit import build_notice, escape
from bot.render.stats import build_done
from bot.slack.context import Services, services_of, who_from

ANSWER_WORDS = {
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
    message = build_notice(markdown, markdown.replace("*", ""))
    respond(replace_original=False, response_type="ephemeral", **message.as_kwargs())


def _answer(
    services: Services,
    who: Who,
    action: dict[str, Any],
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
        word = (
            ANSWER_WORDS.get(NudgeAnswer(result.previous), "answered")
            if result.previous
            else "answered"
        )
        _say(respond, f"You already answered this nudge ({word}); nothing changed.")
        return None
    return result, known.title if known else "your stretch"


def nudge_done(ack: Ack, action: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    services = services_of(context)
    answered = _answer(services, who_from(context), action, respond, NudgeAnswer.DONE)
    if answered:
        result, title = answered
        headline = f":white_check_mark: *Done: {escape(title)}.* Nice work."
        respond(replace_original=True, **build_done(headline, result.stats).as_kwargs())


def _pause(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond,
    *,
    answer: NudgeAnswer,
    change: SnoozeFor | SnoozeUntilTomorrow,
) -> None:
    ack()
    services = services_of(context)
    answered = _answer(services, who_from(context), action, respond, answer, change)
    if not answered or answered[0].prefs is None:
        return
    prefs, now = answered[0].prefs, services.clock()
    until = fmt_local(prefs.snoozed_until, prefs.zone, now) if prefs.snoozed_until else "later"
    headline = (
        f":zzz: Snoozed until {until}."
        if answer == NudgeAnswer.SNOOZED
        else ":palm_tree: Skipped for today. See you tomorrow."
    )
    respond(replace_original=True, **build_done(headline, None).as_kwargs())


def nudge_snooze_hour(
    ack: Ack, action: dict[str, Any], context: BoltContext, respond: Respond
) -> None:
    _pause(ack, action, context, respond, answer=NudgeAnswer.SNOOZED, change=SnoozeFor(60))


def nudge_skip_today(
    ack: Ack, action: dict[str, Any], context: BoltContext, respond: Respond
) -> None:
    _pause(ack, action, context, respond, answer=NudgeAnswer.SKIPPED, change=SnoozeUntilTomorrow(1))


def nudge_show_me(ack: Ack, action: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    services = services_of(context)
    parsed = parse_nudge_value(action.get("value"))
    exercise = services.library.get(parsed[1]) if parsed else None
    if exercise is None:
        exercise = services.library.exercises[0]
    message = build_exercise(exercise, services.library.guidance)
    respond(replace_original=False, response_type="ephemeral", **message.as_kwargs())
