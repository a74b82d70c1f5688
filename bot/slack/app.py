"""`build_app(settings)`: the one place the Bolt app is put together."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.middleware import Middleware
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, default_retry_handlers
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from bot import ids
from bot.core.content import Library, load_library
from bot.data.database import Database
from bot.data.installations import EncryptedInstallationStore, parse_keys
from bot.data.workspaces import register_installation
from bot.metrics import REQUEST_SECONDS
from bot.render.help import build_welcome
from bot.settings import Settings
from bot.slack import listeners
from bot.slack.context import CONTEXT_KEY, Services, payload_problem, utc_now
from bot.slack.failures import CANNOT_READ, answer_errors

log = logging.getLogger(__name__)


class _QuietTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN by itself and warns that our client (which carries that
    same token, plus SLACK_API_URL) wins over it: true, expected, and confusing in a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


class _ShortLines(logging.Filter):
    """Bolt logs the whole body of a request that fails verification (a `response_url`, a
    legacy token, or megabytes an attacker sent), and a multi-line suggestion for a payload
    no listener handles. Keep one short line of each, never the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Invalid request signature detected"):
            record.msg, record.args = "refused request: invalid signature or timestamp", ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif message.startswith("Unhandled request"):
            record.msg, record.args = "unhandled request: " + message.split("\n", 1)[0][:200], ()
        return True


def _add_filter(name: str, kind: type[logging.Filter]) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


_add_filter("slack_bolt.App", _QuietTokenNotice)
_add_filter("slack_bolt.App", _ShortLines)
_add_filter("slack_bolt.RequestVerification", _ShortLines)


def build_app(
    settings: Settings,
    *,
    library: Library | None = None,
    database: Database | None = None,
    clock: Callable[[], datetime] = utc_now,
    after_ack: Executor | None = None,
) -> App:
    """The Bolt app with every listener registered. `after_ack` runs the work that follows
    an ack (Bolt's lazy listeners); Bolt's own thread pool unless given."""
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
        signing_secret=signing_secret(settings),
        oauth_settings=oauth_settings(settings, db, store) if store else None,
        # auth.test at start-up would make the bot unable to start while Slack is unreachable;
        # a bad token shows up on the first call instead, with Slack's own error code.
        token_verification_enabled=False,
        # Answer when the ack function returns, in the request's own thread: every ack here
        # touches at most the database, and anything that calls Slack runs after it as a
        # lazy listener. (Bolt's other mode polls for the ack every 10 ms, which would add
        # that much to every answer.)
        process_before_response=True,
        listener_executor=after_ack,
        # Before anything reads the payload's ids (the installation lookup is SQL).
        before_authorize=RefuseMalformed(),
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


def signing_secret(settings: Settings) -> str:
    """The signing secret; in Socket Mode without one, a random secret nobody knows, so an
    HTTP request to /slack/events can never pass verification (Socket Mode skips it)."""
    if settings.slack_signing_secret is not None:
        return settings.slack_signing_secret.get_secret_value()
    return secrets.token_urlsafe(32)


class RefuseMalformed(Middleware):
    """A signed payload that is not shaped as Slack's reference says (an id with characters
    no Slack id has, actions that are not a list, a DND time in the year 5000...) is not
    handed to a listener: one warning line, and for a command a clear answer; anything
    else is acknowledged and ignored (Slack would only send it again).

    A plain `Middleware`, not a function: Bolt builds a function's arguments (the action,
    the event...) from the payload first, and that is what fails on a malformed one."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        problem = payload_problem(req.body, req.context)
        if problem is None:
            return next()
        log.warning("malformed request ignored: %s", problem)
        if "command" in req.body:
            reply = json.dumps({"response_type": "ephemeral", **CANNOT_READ.as_kwargs()})
            headers: dict[str, str | Sequence[str]] = {"content-type": "application/json"}
            return BoltResponse(status=200, body=reply, headers=headers)
        return BoltResponse(status=200, body="")


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
    return EncryptedInstallationStore(settings.slack_client_id, db.engine, fernet, database=db)


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
