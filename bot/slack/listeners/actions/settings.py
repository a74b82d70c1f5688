"""Buttons and controls that change preferences: `forget me` and the App Home tab."""

from __future__ import annotations

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient

from bot.core.changes import Rejected
from bot.core.preferences import Preferences
from bot.data.people import forget, read_preferences
from bot.render.home import change_from_home
from bot.render.kit import build_notice
from bot.slack.context import Payload, services_of, who_from
from bot.slack.failures import after_ack
from bot.slack.listeners.events.home import publish_home_for
from bot.slack.listeners.events.people import change_asking_slack


@after_ack
def confirm_forget(body: Payload, context: BoltContext, respond: Respond) -> None:
    services = services_of(context)
    deleted = forget(services.db, who_from(context, body))
    done = (
        "Done: I deleted everything I stored about you. Nudges are off."
        if deleted
        else "There was nothing stored about you, so nothing needed deleting."
    )
    respond(replace_original=True, **build_notice(done).as_kwargs())


@after_ack
def cancel_forget(body: Payload, context: BoltContext, respond: Respond) -> None:
    text = "Cancelled: nothing was deleted."
    respond(replace_original=True, **build_notice(text).as_kwargs())


@after_ack
def change_from_home_tab(
    action: Payload, body: Payload, context: BoltContext, client: WebClient
) -> None:
    """Save what a Home tab control says, then re-render the tab with the result."""
    services = services_of(context)
    who = who_from(context, body)
    current = read_preferences(services.db, who) or Preferences()
    wanted = change_from_home(action, current)
    result = (
        wanted
        if isinstance(wanted, Rejected)
        else change_asking_slack(services, who, wanted, client)
    )
    notice = f"Not saved: {result.problem}." if isinstance(result, Rejected) else None
    publish_home_for(services, who, client, notice=notice)
