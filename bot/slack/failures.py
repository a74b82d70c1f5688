"""The one error boundary for listeners, in the request and after the ack.

A database that cannot be reached is an expected bad day: one warning line and "I can't
reach my database right now". Anything else is logged with its stack trace and answered
with a short apology. Either way the person hears it where they asked (the command's
answer, the clicked message, the Home tab), and no trace ever reaches them.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse, Respond
from slack_sdk import WebClient

from bot.data.database import DatabaseUnavailableError
from bot.render.kit import Message, build_notice
from bot.render.settings import CANNOT_SAVE
from bot.slack.context import Payload, services_of, who_from

log = logging.getLogger(__name__)

SORRY = build_notice(
    ":wrench: Sorry, something went wrong on my side and nothing was changed. "
    "Please try again in a minute.",
    "Sorry, something went wrong on my side and nothing was changed. Try again in a minute.",
)


def _logged(error: Exception, context: BoltContext, logger: logging.Logger) -> Message:
    """Log the failure once, and the answer the person gets for it."""
    ids = {"team_id": context.team_id or context.enterprise_id, "user_id": context.user_id}
    if isinstance(error, DatabaseUnavailableError):
        logger.warning("database unavailable: %s", error, extra=ids)
        return CANNOT_SAVE
    logger.exception("listener failed: %s", type(error).__name__, exc_info=error, extra=ids)
    return SORRY


def answer_errors(
    error: Exception,
    body: Payload,
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    logger: logging.Logger,
) -> BoltResponse:
    """Bolt's error handler: a failure inside the request, before the answer went out."""
    message = _logged(error, context, logger)
    if body.get("command"):
        reply = {"response_type": "ephemeral", **message.as_kwargs()}
        return BoltResponse(
            status=200, body=json.dumps(reply), headers={"content-type": "application/json"}
        )
    tell(body, context, respond, client, message)
    return BoltResponse(status=200, body="")


def tell(
    body: Payload,
    context: BoltContext,
    respond: Respond | None,
    client: WebClient | None,
    message: Message,
) -> None:
    """Say `message` where the request came from: the command or the clicked message (by
    its response URL), or the Home tab a control was on."""
    from bot.slack.listeners.events.home import publish_home_for  # the Home tab's own code

    try:
        if respond is not None and body.get("response_url"):
            respond(replace_original=False, response_type="ephemeral", **message.as_kwargs())
        elif (body.get("view") or {}).get("type") == "home" and client is not None:
            notice = message.text
            publish_home_for(services_of(context), who_from(context, body), client, notice=notice)
    except Exception as exc:  # Slack unreachable too: the failure itself is logged already
        log.warning("could not tell the person about a failure: %s", type(exc).__name__)


def after_ack(listener: Callable[..., None]) -> Callable[..., None]:
    """For a lazy listener (work done after the ack): the same boundary as in the request.

    Bolt only logs a lazy listener's exception, so without this the person would hear
    nothing. Bolt injects arguments by the listener's own names (it unwraps this wrapper),
    so the listener declares `body` and `context`, and `respond` and `client` when it has
    them."""

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        try:
            listener(**kwargs)
        except Exception as error:
            context: BoltContext = kwargs["context"]
            message = _logged(error, context, log)
            tell(kwargs["body"], context, kwargs.get("respond"), kwargs.get("client"), message)

    return run


def acknowledge(ack: Callable[..., None]) -> None:
    """The ack of a request whose answer comes after it (views.publish, the response URL)."""
    ack()
