"""Buttons and controls that change preferences: `forget me` and the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import account, blocks
from bot.account import DatabaseUnavailableError
from bot.home import change_from_home
from bot.listeners.commands.psoas import who_from
from bot.listeners.events.home import publish_home_for
from bot.preferences import Preferences, Rejected
from bot.services import services_of


def confirm_forget(ack: Ack, context: BoltContext, respond: Respond) -> None:
    ack()
    services = services_of(context)
    try:
        deleted = account.forget(services.db, who_from(context))
    except DatabaseUnavailableError:
        respond(replace_original=False, **blocks.CANNOT_SAVE.as_kwargs())
        return
    done = (
        "Done: I deleted everything I stored about you. Nudges are off."
        if deleted
        else "There was nothing stored about you, so nothing needed deleting."
    )
    respond(replace_original=True, **blocks.build_notice(done, done).as_kwargs())


def cancel_forget(ack: Ack, respond: Respond) -> None:
    ack()
    text = "Cancelled: nothing was deleted."
    respond(replace_original=True, **blocks.build_notice(text, text).as_kwargs())


def change_from_home_tab(
    ack: Ack, action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """Save what a Home tab control says, then re-render the tab with the result."""
    ack()
    services = services_of(context)
    who = who_from(context)
    notice: str | None = None
    try:
        current = account.read_preferences(services.db, who) or Preferences()
        wanted = change_from_home(action, current)
        if isinstance(wanted, Rejected):
            notice = f"Not saved: {wanted.problem}."
        else:
            result = account.change_preferences(
                services.db,
                who,
                wanted,
                now=services.clock(),
                timezone_of=lambda: account.lookup_timezone(client, who.user_id),
                dnd_of=lambda: account.lookup_dnd(client, who.user_id),
            )
            if isinstance(result, Rejected):
                notice = f"Not saved: {result.problem}."
    except DatabaseUnavailableError:
        notice = "I can't reach my database right now, so nothing was changed."
    publish_home_for(services, who, client, notice=notice)
