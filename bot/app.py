"""`build_app(settings)`: the one place the Bolt app is put together."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_sdk import WebClient

from bot import listeners
from bot.blocks import build_notice
from bot.content import Library, load_library
from bot.database import Database
from bot.services import CONTEXT_KEY, Services, utc_now
from bot.settings import Settings

log = logging.getLogger(__name__)

SORRY = build_notice(
    ":wrench: Sorry, something went wrong on my side and nothing was changed. "
    "Please try again in a minute.",
    "Sorry, something went wrong on my side and nothing was changed. Try again in a minute.",
)


def build_app(
    settings: Settings,
    *,
    library: Library | None = None,
    database: Database | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> App:
    """The Bolt app with every listener registered."""
    services = Services(
        settings=settings,
        library=library or load_library(settings.content_dir),
        db=database or Database(settings.database_url),
        clock=clock,
    )
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = WebClient(token=token, base_url=settings.slack_api_url)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # auth.test at start-up would make the bot unable to start while Slack is unreachable;
        # a bad token shows up on the first call instead, with Slack's own error code.
        token_verification_enabled=False,
        # Run each listener in the request's own thread and answer when it is done: every
        # listener here finishes well within Slack's 3 seconds, and Bolt's other mode polls
        # for the ack every 10 ms, which would add that much to every answer.
        process_before_response=True,
    )

    @app.middleware
    def provide_services(context: BoltContext, next: Callable[[], Any]) -> Any:
        context[CONTEXT_KEY] = services
        return next()

    app.error(answer_errors)
    listeners.register(app)
    return app


def answer_errors(error: Exception, request: BoltRequest, logger: logging.Logger) -> BoltResponse:
    """Log every listener failure with its stack trace; the person only sees a short apology."""
    logger.exception("listener failed: %s", type(error).__name__, exc_info=error)
    if request.body.get("command"):
        body = {"response_type": "ephemeral", **SORRY.as_kwargs()}
        return BoltResponse(
            status=200, body=json.dumps(body), headers={"content-type": "application/json"}
        )
    return BoltResponse(status=200, body="")
