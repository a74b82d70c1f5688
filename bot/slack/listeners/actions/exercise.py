"""Buttons on exercise messages: show, a guided walkthrough and its Done, I did it, share."""

from __future__ import annotations

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import ids
from bot.core.content import Exercise
from bot.core.grammar import ShowExercise
from bot.data.activity import record_completion
from bot.data.models import CompletionSource
from bot.data.movement import read_movement
from bot.render.answers import reply_to
from bot.render.exercise import build_guided_step, build_shared
from bot.render.kit import build_modal, build_notice, escape
from bot.render.stats import build_done
from bot.slack.context import Payload, Services, services_of, who_from
from bot.slack.failures import after_ack
from bot.slack.webapi import lookup_timezone


@after_ack
def show_exercise(
    action: Payload,
    body: Payload,
    context: BoltContext,
    respond: Respond,
    client: WebClient,
) -> None:
    services = services_of(context)
    message = reply_to(ShowExercise(str(action.get("value", ""))), services.library)
    if body.get("response_url"):
        # A "did you mean" answer is replaced by the exercise; a list stays and gains one.
        replace = action.get("action_id", "") != ids.ACTION_SHOW_EXERCISE
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
        respond(replace_original=False, **build_notice(text).as_kwargs())
        return None
    return exercise, int(step) if step.isdigit() else 0


@after_ack
def start_guided(body: Payload, action: Payload, context: BoltContext, respond: Respond) -> None:
    """Start guided, Back and Next: the same message, updated in place to the chosen step."""
    found = _exercise(services_of(context), action.get("value"), respond)
    if found:
        exercise, step = found
        message = build_guided_step(exercise, step)
        respond(replace_original=True, response_type="ephemeral", **message.as_kwargs())


def _message_key(body: Payload, action: Payload) -> str:
    container = body.get("container") or {}
    return str(container.get("message_ts") or action.get("action_ts") or "")


@after_ack
def record_done(
    action: Payload,
    body: Payload,
    context: BoltContext,
    respond: Respond,
    client: WebClient,
) -> None:
    """Done at the end of a walkthrough (which then closes), or I did it under an exercise
    (which stays): either way one completion per message, however often it is pressed."""
    services = services_of(context)
    found = _exercise(services, action.get("value"), respond)
    if not found:
        return
    exercise, _ = found
    guided = action.get("action_id") == ids.ACTION_GUIDED_DONE
    source = CompletionSource.GUIDED if guided else CompletionSource.EXERCISE
    who = who_from(context, body)
    recorded = record_completion(
        services.db,
        who,
        now=services.clock(),
        exercise=exercise.slug,
        source=source,
        dedupe_key=f"{source}:{_message_key(body, action)}:{exercise.slug}",
        timezone_of=lambda: lookup_timezone(client, who.user_id),
    )
    title = escape(exercise.title)
    if guided:
        headline = f":tada: *{title} done.* That counts."
    elif recorded.new:
        headline = f":white_check_mark: Logged *{title}*."
    else:
        headline = f"Already counted: *{title}* from this message."
    # Stats as /psoas stats shows them: days away never break the streak.
    stats = read_movement(services.db, who, now=services.clock()) or recorded.stats
    message = build_done(headline, stats)
    respond(replace_original=guided, response_type="ephemeral", **message.as_kwargs())


@after_ack
def share_exercise(
    action: Payload, body: Payload, context: BoltContext, respond: Respond, client: WebClient
) -> None:
    """Post the exercise visibly in the conversation it was asked for, naming who shared it."""
    services = services_of(context)
    found = _exercise(services, action.get("value"), respond)
    channel = context.channel_id
    if not found or not channel:
        return
    exercise, _ = found
    message = build_shared(exercise, services.library.guidance, context.user_id or "")
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
        respond(replace_original=False, **build_notice(text).as_kwargs())
        return
    text = f"Shared *{escape(exercise.title)}* in the conversation."
    respond(replace_original=False, **build_notice(text).as_kwargs())
