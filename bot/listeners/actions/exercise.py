"""Buttons that show an exercise: on the list, on "did you mean", on the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot.blocks import build_modal
from bot.commands import ShowExercise
from bot.replies import reply_to
from bot.services import services_of


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
