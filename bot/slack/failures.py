"""The one error boundary for listeners, in the request and after the ack.

A database that cannot be reached is an expected bad day: one warning line and "I can't
reach my database right now". Anything else is logged with its stack trace and answered
with a short apology. Either way the person hears it where they asked (the command's
answer, the clicked message, the Home tab), and no trace ever reaches them.

An event has no one to tell: when the database (or the way to it) is down, it is answered
503 so that Slack delivers it again later (up to 3 times, with `X-Slack-Retry-Num`); its
handlers are idempotent, so a redelivery of an event that did take effect changes nothing.
A 200 would tell Slack it was handled, and the uninstall or the new time zone would be lost.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltRequest, BoltResponse, Respond
from slack_sdk import WebClient

from bot.data.database import DatabaseUnavailableError
from bot.metrics import DATABASE_UNAVAILABLE
from bot.render.kit import Message, build_notice
from bot.render.settings import CANNOT_SAVE
from bot.slack.context import MalformedRequestError, Payload, services_of, who_from

log = logging.getLogger(__name__)

CANNOT_READ = build_notice(
    ":warning: I couldn't read that request, so nothing was changed. "
    "If it keeps happening, please tell whoever runs this app.",
    "I couldn't read that request, so nothing was changed.",
)
SORRY = build_notice(
    ":wrench: Sorry, something went wrong on my side and nothing was changed. "
    "Please try again in a minute.",
    "Sorry, something went wrong on my side and nothing was changed. Try again in a minute.",
)


def _logged(error: Exception, context: BoltContext, logger: logging.Logger) -> Message:
    """Log the failure once, and the answer the person gets for it."""
    ids = {"team_id": context.team_id or context.enterprise_id, "user_id": context.user_id}
    if isinstance(error, MalformedRequestError):  # a request no Slack would send: no trace
        logger.warning("malformed request ignored: %s", error)
        return CANNOT_READ
    if isinstance(error, DatabaseUnavailableError):
        DATABASE_UNAVAILABLE.inc()
        logger.warning("database unavailable: %s", error, extra=ids)
        return CANNOT_SAVE
    logger.exception("listener failed: %s", type(error).__name__, exc_info=error, extra=ids)
    return SORRY


def _redeliver(error: Exception, body: Payload, request: BoltRequest | None) -> bool:
    """An event that failed because a dependency is down: ask Slack to deliver it again."""
    if body.get("type") != "event_callback" or not isinstance(error, DatabaseUnavailableError):
        return False
    return error.transient


def _delivery(request: BoltRequest | None) -> int:
    """Which delivery of an event this is: 1, then 2 to 4 for Slack's retries."""
    values = request.headers.get("x-slack-retry-num") if request is not None else None
    text = str(values[0]) if values else "0"
    return int(text) + 1 if text.isdigit() and len(text) < 3 else 1


def answer_errors(
    error: Exception,
    body: Payload,
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    logger: logging.Logger,
    request: BoltRequest | None = None,
) -> BoltResponse:
    """Bolt's error handler: a failure inside the request, before the answer went out."""
    if _redeliver(error, body, request):
        event = body.get("event")
        kind = event.get("type") if isinstance(event, dict) else None
        DATABASE_UNAVAILABLE.inc()
        logger.warning(
            "database unavailable: %s; %s answered 503 so that Slack delivers it again "
            "(delivery %d)",
            error,
            str(kind)[:40],
            _delivery(request),
            extra={"team_id": context.team_id or context.enterprise_id},
        )
        return BoltResponse(status=503, body="")
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
