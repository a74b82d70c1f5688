"""`build_app(settings)`: the one place the Bolt app is put together."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse, Respond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, default_retry_handlers
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from bot import ids
from bot.core.content import Library, load_library
from bot.data.database import Database, DatabaseUnavailableError
from bot.data.installations import EncryptedInstallationStore, parse_keys
from bot.data.workspaces import register_installation
from bot.metrics import REQUEST_SECONDS
from bot.render.help import build_welcome
from bot.render.kit import Message, build_notice
from bot.render.settings import CANNOT_SAVE
from bot.settings import Settings
from bot.slack import listeners
from bot.slack.context import CONTEXT_KEY, Services, services_of, utc_now, who_from
from bot.slack.listeners.events.home import publish_home_for

log = logging.getLogger(__name__)

SORRY = build_notice(
    ":wrench: Sorry, something went wrong on my side and nothing was changed. "
    "Please try again in a minute.",
    "Sorry, something went wrong on my side and nothing was changed. Try again in a minute.",
)


class _QuietTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN by itself and warns that our client (which carries that
    same token, plus SLACK_API_URL) wins over it: true, expected, and confusing in a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_bolt_logger = logging.getLogger("slack_bolt.App")
if not any(isinstance(f, _QuietTokenNotice) for f in _bolt_logger.filters):
    _bolt_logger.addFilter(_QuietTokenNotice())


def build_app(
    settings: Settings,
    *,
    library: Library | None = None,
    database: Database | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> App:
    """The Bolt app with every listener registered."""
    db = database or Database(settings.database_url)
    store = installation_store(settings, db)
    services = Services(
        settings=settings,
        library=library or load_library(settings.content_dir),
        db=db,
        clock=clock,
        installation_store=store,
    )
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = WebClient(
        token=None if store else token,
        base_url=settings.slack_api_url,
        # Slack's 429 carries Retry-After: wait it out once rather than tell the person
        # "something went wrong" (Bolt copies these handlers into every request's client).
        retry_handlers=[*default_retry_handlers(), RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        oauth_settings=oauth_settings(settings, db, store) if store else None,
        # auth.test at start-up would make the bot unable to start while Slack is unreachable;
        # a bad token shows up on the first call instead, with Slack's own error code.
        token_verification_enabled=False,
        # Run each listener in the request's own thread and answer when it is done: every
        # listener here finishes well within Slack's 3 seconds, and Bolt's other mode polls
        # for the ack every 10 ms, which would add that much to every answer.
        process_before_response=True,
    )

    @app.middleware
    def provide_services(
        body: dict[str, Any], context: BoltContext, next: Callable[[], Any]
    ) -> Any:
        context[CONTEXT_KEY] = services
        started = time.perf_counter()
        try:
            return next()
        finally:
            REQUEST_SECONDS.labels(request_kind(body)).observe(time.perf_counter() - started)

    app.error(answer_errors)
    listeners.register(app)
    return app


def request_kind(body: dict[str, Any]) -> str:
    if body.get("command"):
        return "command"
    kind = str(body.get("type") or "other")
    return kind if kind in ("block_actions", "event_callback", "view_submission") else "other"


def installation_store(settings: Settings, db: Database) -> InstallationStore | None:
    """Many workspaces when SLACK_CLIENT_ID is set; otherwise the single SLACK_BOT_TOKEN."""
    if not settings.slack_client_id:
        return None
    key = settings.token_encryption_key
    fernet = parse_keys(key.get_secret_value()) if key else None
    return EncryptedInstallationStore(settings.slack_client_id, db.engine, fernet)


def oauth_settings(settings: Settings, db: Database, store: InstallationStore) -> OAuthSettings:
    assert settings.slack_client_id and settings.slack_client_secret
    api_url = settings.slack_api_url

    def greet_installer(args: SuccessArgs) -> BoltResponse:
        """Say hello to whoever installed the app, with how to start."""
        installation = args.installation
        register_installation(
            db,
            team_id=installation.team_id,
            enterprise_id=installation.enterprise_id,
            org_install=bool(installation.is_enterprise_install),
        )
        try:
            WebClient(token=installation.bot_token, base_url=api_url).chat_postMessage(
                channel=installation.user_id, **build_welcome().as_kwargs()
            )
        except SlackApiError as exc:
            log.warning(
                "could not greet the installer: %s",
                exc.response.get("error"),
                extra={"team_id": installation.team_id},
            )
        return args.default.success(args)

    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(ids.BOT_SCOPES),
        installation_store=store,
        state_store=SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=db.engine),
        install_path=ids.INSTALL_PATH,
        redirect_uri_path=ids.REDIRECT_PATH,
        callback_options=CallbackOptions(success=greet_installer, failure=_failure),
    )


def _failure(args: FailureArgs) -> BoltResponse:
    log.warning("installation failed: %s", args.reason)
    return args.default.failure(args)


def answer_errors(
    error: Exception,
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    logger: logging.Logger,
) -> BoltResponse:
    """The one error boundary for listeners: log the failure, and tell the person in the
    place they asked. A database that cannot be reached is an expected bad day: one
    warning line and "I can't save that right now"; anything else is logged with its
    stack trace and answered with a short apology. No trace ever reaches the person."""
    if isinstance(error, DatabaseUnavailableError):
        logger.warning("database unavailable: %s", error, extra=_ids_of(context))
        message = CANNOT_SAVE
    else:
        logger.exception("listener failed: %s", type(error).__name__, extra=_ids_of(context))
        message = SORRY
    if body.get("command"):
        reply = {"response_type": "ephemeral", **message.as_kwargs()}
        return BoltResponse(
            status=200, body=json.dumps(reply), headers={"content-type": "application/json"}
        )
    if body.get("type") == "block_actions":
        _tell_clicker(body, context, respond, client, message, logger)
    return BoltResponse(status=200, body="")


def _ids_of(context: BoltContext) -> dict[str, str | None]:
    return {"team_id": context.team_id or context.enterprise_id, "user_id": context.user_id}


def _tell_clicker(
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    message: Message,
    logger: logging.Logger,
) -> None:
    """A button's answer goes where the button was: its message, or the Home tab."""
    try:
        if respond is not None and body.get("response_url"):
            respond(replace_original=False, response_type="ephemeral", **message.as_kwargs())
        elif (body.get("view") or {}).get("type") == "home":
            services = services_of(context)
            notice = message.text if message is CANNOT_SAVE else "Something went wrong; try again."
            publish_home_for(services, who_from(context, body), client, notice=notice)
    except Exception as exc:  # Slack unreachable too: the log line above already says why
        logger.warning("could not tell the person about the failure: %s", type(exc).__name__)
