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
import threading
import time
from collections.abc import Callable
from http.client import HTTPException
from typing import Any

from slack_bolt import BoltContext, BoltRequest, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.data.database import DatabaseUnavailableError
from bot.metrics import DATABASE_UNAVAILABLE, SLACK_UNAVAILABLE
from bot.render.kit import Message, build_notice
from bot.render.settings import CANNOT_SAVE
from bot.slack.context import MalformedRequestError, Payload, services_of, who_from

log = logging.getLogger(__name__)


class SlackUnavailableError(Exception):
    """Slack's Web API did not answer (no connection, a timeout, a 5xx), or was not asked
    because it did not answer moments ago (`SlackHealth`)."""


class SlackHealth:
    """Whether Slack's Web API answers, shared by every request of the app.

    The first call that finds Slack not answering starts an outage window and logs one line;
    while it lasts, calls fail at once without a request (one every `retry_seconds` tries
    Slack again), and the person hears "Slack isn't answering me right now". The first call
    that gets an answer ends the window, in one more line."""

    def __init__(
        self, retry_seconds: float = 15.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.retry_seconds = retry_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self._next_try = 0.0
        self.failed_calls = 0

    def before_call(self, method: str) -> None:
        """Raise instead of calling Slack while it is known not to answer."""
        with self._lock:
            if self.down_since is None:
                return
            now = self._monotonic()
            if now < self._next_try:
                self.failed_calls += 1
                SLACK_UNAVAILABLE.inc()
                raise SlackUnavailableError(f"{method}: not asked, Slack is not answering")
            self._next_try = now + self.retry_seconds  # this call is the one that tries

    def failed(self, method: str, reason: str) -> SlackUnavailableError:
        with self._lock:
            now = self._monotonic()
            self.failed_calls += 1
            self._next_try = now + self.retry_seconds
            first = self.down_since is None
            if first:
                self.down_since = now
        SLACK_UNAVAILABLE.inc()
        if first:
            log.warning(
                "Slack's Web API is not answering (%s: %s); requests that need it are told "
                "so until it answers again",
                method,
                reason,
            )
        return SlackUnavailableError(f"{method}: {reason}")

    def answered(self) -> None:
        if self.down_since is None:  # the usual case, without taking the lock
            return
        with self._lock:
            if self.down_since is None:
                return
            seconds, calls = self._monotonic() - self.down_since, self.failed_calls
            self.down_since, self.failed_calls = None, 0
        log.info(
            "Slack's Web API answers again after %.0f s (%d calls failed or not made)",
            seconds,
            calls,
        )

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def __deepcopy__(self, _memo: dict[int, object]) -> SlackHealth:
        # Bolt deep-copies a request (its client with it) for the work after the ack: every
        # copy must share the one state.
        return self


SLACK_DOWN = build_notice(
    ":hourglass: Slack isn't answering me right now, so I couldn't finish that. "
    "Please try again in a few minutes.",
    "Slack isn't answering me right now, so I couldn't finish that. Try again in a few minutes.",
)
SLACK_BUSY = build_notice(
    ":hourglass: Slack asked me to slow down, so I couldn't finish that. "
    "Please try again in a minute.",
    "Slack asked me to slow down, so I couldn't finish that. Try again in a minute.",
)

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
    if isinstance(error, SlackUnavailableError):  # logged once per outage, by SlackHealth
        return SLACK_DOWN
    if isinstance(error, SlackApiError) and error.response.status_code == 429:
        logger.warning("Slack asked to slow down: %s", error.response.get("error"), extra=ids)
        return SLACK_BUSY
    if isinstance(error, DatabaseUnavailableError):
        DATABASE_UNAVAILABLE.inc()
        logger.warning("database unavailable: %s", error, extra=ids)
        return CANNOT_SAVE
    logger.exception("listener failed: %s", type(error).__name__, exc_info=error, extra=ids)
    return SORRY


def _redeliver(error: Exception, body: Payload, request: BoltRequest | None) -> bool:
    """An event that failed because a dependency is down: ask Slack to deliver it again."""
    if body.get("type") != "event_callback":
        return False
    if isinstance(error, SlackUnavailableError):
        return True
    return isinstance(error, DatabaseUnavailableError) and error.transient


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
    except (OSError, HTTPException, SlackUnavailableError) as exc:
        # Slack unreachable too: the outage is logged once already, not once per request.
        log.debug("could not tell the person about a failure: %s", type(exc).__name__)
    except Exception as exc:
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
