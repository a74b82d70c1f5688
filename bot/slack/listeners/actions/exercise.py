"""Buttons on exercise messages: show, start a guided walkthrough, I did it, share."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.content import Exercise
from bot.core.grammar import ShowExercise
from bot.data.activity import Recorded, record_completion
from bot.data.models import CompletionSource
from bot.render.answers import reply_to
from bot.render.exercise import build_guided_step, build_shared
from bot.render.kit import build_modal, build_notice, escape
from bot.render.stats import build_done
from bot.slack.context import Services, services_of, who_from
from bot.slack.webapi import lookup_timezone


def show_exercise(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond,
    client: WebClient,
) -> None:
    ack()
    services = services_of(context)
    message = reply_to(ShowExercise(str(action.get("value", ""))), services.library)
    if body.get("response_url"):
        # A "did you mean" answer is replaced by the exercise; a list stays and gains one.
        replace = action.get("action_id", "") != "show_exercise"
        respond(replace_original=replace, response_type="ephemeral", **message.as_kwargs())
    elif body.get("trigger_id"):
        # From the App Home tab there is no response URL: show the exercise in a modal.
        client.views_open(trigger_id=body["trigger_id"], view=build_modal(message))


def _exercise(services: Services, value: object, respond: Respond) -> tuple[Exercise, int] | None:
    """`slug` or `slug:step` from a button; None (and a word to the person) if stale."""
    slug, _, step = str(value or "").partition(":")
    exercise = services.library.get(slug)
    if exercise is None:
        text = "That exercise is no longer in the library. Try `/psoas list`."
        respond(replace_original=False, **build_notice(text, text).as_kwargs())
        return None
    return exercise, int(step) if step.isdigit() else 0


def start_guided(ack: Ack, action: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    """Start guided, Back and Next: the same message, updated in place to the chosen step."""
    ack()
    found = _exercise(services_of(context), action.get("value"), respond)
    if found:
        exercise, step = found
        message = build_guided_step(exercise, step)
        respond(replace_original=True, response_type="ephemeral", **message.as_kwargs())


def _message_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    container = body.get("container") or {}
    return str(container.get("message_ts") or action.get("action_ts") or "")


def _record(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond,
    client: WebClient,
    *,
    source: CompletionSource,
) -> tuple[Exercise, Recorded] | None:
    ack()
    services = services_of(context)
    found = _exercise(services, action.get("value"), respond)
    if not found:
        return None
    exercise, _ = found
    who = who_from(context)
    recorded = record_completion(
        services.db,
        who,
        now=services.clock(),
        exercise=exercise.slug,
        source=source,
        # One count per message: a double click, or Done pressed twice, counts once.
        dedupe_key=f"{source}:{_message_key(body, action)}:{exercise.slug}",
        timezone_of=lambda: lookup_timezone(client, who.user_id),
    )
    return exercise, recorded


def guided_done(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond,
    client: WebClient,
) -> None:
    result = _record(ack, action, body, context, respond, client, source=CompletionSource.GUIDED)
    if result:
        exercise, recorded = result
        headline = f":tada: *{escape(exercise.title)} done.* That counts."
        message = build_done(headline, recorded.stats)
        respond(replace_original=True, response_type="ephemeral", **message.as_kwargs())


def did_it(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond,
    client: WebClient,
) -> None:
    result = _record(ack, action, body, context, respond, client, source=CompletionSource.EXERCISE)
    if result:
        exercise, recorded = result
        headline = (
            f":white_check_mark: Logged *{escape(exercise.title)}*."
            if recorded.new
            else f"Already counted: *{escape(exercise.title)}* from this message."
        )
        message = build_done(headline, recorded.stats)
        respond(replace_original=False, response_type="ephemeral", **message.as_kwargs())


def share_exercise(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond,
    client: WebClient,
) -> None:
    """Post the exercise visibly in the conversation it was asked for, naming who shared it."""
    ack()
    services = services_of(context)
    found = _exercise(services, action.get("value"), respond)
    channel = (body.get("channel") or {}).get("id")
    if not found or not channel:
        return
    exercise, _ = found
    message = build_shared(exercise, services.library.guidance, who_from(context).user_id)
    try:
        client.chat_postMessage(channel=channel, **message.as_kwargs())
    except SlackApiError as exc:
        code = exc.response.get("error")
        text = (
            "I can't post in this conversation. Invite me first with `/invite @psoas-bot`, "
            "or share from a channel I'm in."
            if code in ("not_in_channel", "channel_not_found", "is_archived")
            else f"Slack didn't let me share it ({code}). Nothing was posted."
        )
        respond(replace_original=False, **build_notice(text, text).as_kwargs())
        return
    text = f"Shared *{escape(exercise.title)}* in the conversation."
    respond(replace_original=False, **build_notice(text, text.replace("*", "")).as_kwargs())
