"""`build_app(settings)`: the one place the Bolt app is put together."""

from __future__ import annotations

import html
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from datetime import datetime
from http.client import HTTPException
from typing import Any, cast

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.middleware import Middleware
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    HttpRequest,
    HttpResponse,
    RetryHandler,
    RetryState,
    default_retry_handlers,
)
from slack_sdk.oauth.installation_store import Installation, InstallationStore
from slack_sdk.web import SlackResponse

from bot import ids
from bot.core.content import Library, load_library
from bot.data.database import Database, DatabaseUnavailableError
from bot.data.installations import BoundedStateStore, TooManyInstallsError, installation_store
from bot.data.workspaces import register_installation
from bot.metrics import REQUEST_SECONDS
from bot.render.help import build_welcome
from bot.settings import Settings
from bot.slack import listeners
from bot.slack.context import CONTEXT_KEY, Services, payload_problem, utc_now
from bot.slack.failures import (
    CANNOT_READ,
    SlackHealth,
    SlackUnavailableError,
    answer_errors,
)

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
        elif message.startswith("Failed to send a request to Slack API server"):
            # slack_sdk's ERROR for every call that got no answer: those calls raise, and an
            # outage is logged once by SlackHealth (the nudge sender records its own).
            return False
        return True


def _add_filter(name: str, kind: type[logging.Filter]) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


_add_filter("slack_bolt.App", _QuietTokenNotice)
_add_filter("slack_bolt.App", _ShortLines)
_add_filter("slack_bolt.RequestVerification", _ShortLines)
_add_filter("slack_sdk.web.base_client", _ShortLines)


class AfterAck(ThreadPoolExecutor):
    """An executor for the work after an ack (Bolt's lazy listeners) that a caller can wait
    for: the sandbox before it shows what a request led to, and the tests before they look."""

    def __init__(self, name: str = "after-ack") -> None:
        super().__init__(max_workers=4, thread_name_prefix=name)
        self._pending: list[Future[Any]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._pending.append(future)
        return future

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until every piece of work started so far has finished."""
        with self._lock:
            pending, self._pending = self._pending, []
        wait(pending, timeout=timeout)


def build_app(
    settings: Settings,
    *,
    library: Library | None = None,
    database: Database | None = None,
    clock: Callable[[], datetime] = utc_now,
    after_ack: Executor | None = None,
    slack_health: SlackHealth | None = None,
) -> App:
    """The Bolt app with every listener registered. `after_ack` runs the work that follows
    an ack (Bolt's lazy listeners, and a command's); a pool like Bolt's own unless given.
    `slack_health` says whether Slack's Web API answers (tests give one on their own
    clock)."""
    db = database or Database(settings.database_url)
    store = installation_store(
        db,
        client_id=settings.slack_client_id,
        encryption_key=settings.encryption_key(),
    )
    # Bolt's own default when none is given (5 threads), made here so that a command can
    # start its work after the ack itself, only when it has some (see `Services.after_ack`).
    executor = after_ack or ThreadPoolExecutor(max_workers=5, thread_name_prefix="after-ack")
    services = Services(
        settings=settings,
        library=library or load_library(settings.content_dir),
        db=db,
        clock=clock,
        installation_store=store,
        after_ack=executor,
    )
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    health = slack_health or SlackHealth()
    client = GuardedWebClient(
        health=health,
        base_url=settings.slack_api_url,
        timeout=WEB_API_TIMEOUT,
        # Connection errors are tried once more; Slack's 429 is waited out once when its
        # Retry-After is short (Bolt copies these handlers into every request's client).
        retry_handlers=[*default_retry_handlers(), ShortRateLimitRetry()],
    )
    app = App(
        client=client,
        signing_secret=signing_secret(settings),
        oauth_flow=CarefulOAuthFlow(settings=oauth_settings(settings, db, store))
        if store
        else None,
        # Who the bot is comes from the installation (OAuth) or one auth.test kept for the
        # process: never a Web API call per request, and none at start-up, so the bot starts
        # and answers while Slack is unreachable.
        authorize=cast(
            Callable[..., AuthorizeResult], Identity(token=token, store=store, client=client)
        ),
        token_verification_enabled=False,
        # Answer when the ack function returns, in the request's own thread: every ack here
        # touches at most the database, and anything that calls Slack runs after it as a
        # lazy listener. (Bolt's other mode polls for the ack every 10 ms, which would add
        # that much to every answer.)
        process_before_response=True,
        listener_executor=executor,
        # Before anything reads the payload's ids (the installation lookup is SQL).
        before_authorize=RefuseMalformed(),
    )

    app.use(ProvideServices(services, client))
    app.error(answer_errors)
    listeners.register(app)
    return app


class ProvideServices(Middleware):
    """Hands every listener the `Services` and the request's Web API client, guarded (it
    knows whether Slack answers; Bolt made a plain one), and times the request.

    A plain `Middleware`, not a function: Bolt would build a function's arguments from the
    request on every request."""

    def __init__(self, services: Services, client: GuardedWebClient) -> None:
        self.services, self.client = services, client

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        context = req.context
        context[CONTEXT_KEY] = self.services
        context["client"] = self.client.for_request(context.client)
        started = time.perf_counter()
        try:
            return next()
        finally:
            REQUEST_SECONDS_BY_KIND[request_kind(req.body)].observe(time.perf_counter() - started)


# How long a Web API call may take before Slack counts as not answering (slack_sdk's 30 s
# would hold a thread that long per request while Slack hangs).
WEB_API_TIMEOUT = 10
# Learning who the bot is (auth.test) happens inside a request: a short bound of its own,
# and after a failure not again for a minute.
IDENTITY_TIMEOUT = 2
IDENTITY_RETRY_SECONDS = 60.0
# The longest Retry-After a request's Web API call waits out; longer, the person is told.
SHORT_RETRY_AFTER = 5.0


class GuardedWebClient(WebClient):
    """slack_sdk's client, for the Web API calls of requests: a call that finds Slack not
    answering (no connection, a timeout, a 5xx) raises `SlackUnavailableError`, and while
    Slack stays silent calls fail at once instead of each waiting its timeout (`SlackHealth`
    lets one through every so often, and logs the outage once)."""

    def __init__(self, *, health: SlackHealth, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.health = health

    def for_request(self, plain: WebClient) -> GuardedWebClient:
        """A guarded copy of the client Bolt made for one request (with its token, and the
        settings Bolt copied from this client): the same fields, so nothing of a client's
        set-up (proxy variables, user agent) is paid a second time per request."""
        guarded = GuardedWebClient.__new__(GuardedWebClient)
        guarded.__dict__.update(vars(plain))
        guarded.health = self.health
        return guarded

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        self.health.before_call(api_method)
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            if status >= 500:
                raise self.health.failed(api_method, f"HTTP {status}") from exc
            self.health.answered()  # Slack answered, if only to refuse
            raise
        except (OSError, HTTPException) as exc:
            raise self.health.failed(api_method, type(exc).__name__) from exc
        self.health.answered()
        return response


class ShortRateLimitRetry(RetryHandler):
    """Wait out a 429 once, when its Retry-After is short; a long (or unreadable) one is
    not waited in a request's thread: the person is told Slack asked to slow down."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and _retry_after(response) is not None
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = _retry_after(response) if response is not None else None
        time.sleep((wait or 1.0) + random.random() / 4)
        state.next_attempt_requested = True
        state.increment_current_attempt()


def _why(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or f"HTTP {error.response.status_code}")
    return type(error).__name__


def _retry_after(response: HttpResponse) -> float | None:
    """A short, well-formed Retry-After in seconds; None otherwise."""
    values = {k.lower(): v for k, v in response.headers.items()}.get("retry-after") or ["1"]
    try:
        seconds = float(values[0])
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds <= SHORT_RETRY_AFTER else None


class Identity(Authorize):
    """Who the bot is in the workspace a request comes from, without a Web API call per
    request.

    With OAuth, the installation carries it (its token, bot id and bot user id). With one
    bot token, auth.test is asked once and its answer kept for the life of the process; it
    is not asked again while Slack is not answering, and until it answers, requests go on
    with the token alone: only the filter of the bot's own events needs its ids."""

    def __init__(
        self, *, token: str | None, store: InstallationStore | None, client: GuardedWebClient
    ) -> None:
        self.token, self.store = token, store
        self.health = client.health
        # One try, on a short bound of its own: a request is waiting on it. A slow answer
        # here says nothing of Slack as a whole, so it does not count as an outage.
        self.client = WebClient(base_url=client.base_url, timeout=IDENTITY_TIMEOUT)
        self.client.retry_handlers = []
        self._known: SlackResponse | None = None
        self._lock = threading.Lock()
        self._next_try = 0.0

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        if self.store is not None:
            return self._installed(context, enterprise_id, team_id, user_id)
        known = self._learned()
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=self.token,
            bot_user_id=known.get("user_id") if known else None,
            bot_id=known.get("bot_id") if known else None,
        )

    def _learned(self) -> SlackResponse | None:
        if self._known is not None or self.token is None:
            return self._known
        with self._lock:
            if self._known is not None or time.monotonic() < self._next_try:
                return self._known
            if self.health.is_down:  # not now: Slack is known not to answer
                return None
            try:
                self._known = self.client.auth_test(token=self.token)
            except (SlackApiError, OSError, HTTPException) as exc:
                # Slow, down, or the token refused (then its calls will say so, with Slack's
                # own error code): asked again in a minute, never once per request.
                self._next_try = time.monotonic() + IDENTITY_RETRY_SECONDS
                log.info("who the bot is stays unknown for now (auth.test: %s)", _why(exc))
            return self._known

    def _installed(
        self,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
    ) -> AuthorizeResult | None:
        assert self.store is not None
        org_wide = bool(context.is_enterprise_install)
        installation = self.store.find_installation(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide
        )
        if installation is not None and installation.bot_token:
            bot_token, bot_id, bot_user_id = (
                installation.bot_token,
                installation.bot_id,
                installation.bot_user_id,
            )
        else:
            bot = self.store.find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide
            )
            if bot is None or not bot.bot_token:
                return None  # not installed here: Bolt tells the person to reinstall
            bot_token, bot_id, bot_user_id = bot.bot_token, bot.bot_id, bot.bot_user_id
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=bot_token,
            bot_id=bot_id,
            bot_user_id=bot_user_id,
        )


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


REQUEST_KINDS = ("command", "block_actions", "event_callback", "view_submission", "other")
# Each kind's histogram, found once rather than by label on every request.
REQUEST_SECONDS_BY_KIND = {kind: REQUEST_SECONDS.labels(kind) for kind in REQUEST_KINDS}


def request_kind(body: dict[str, Any]) -> str:
    if body.get("command"):
        return "command"
    kind = str(body.get("type") or "other")
    return kind if kind in REQUEST_KINDS else "other"


# How many installations may be under way at once (OAuth states issued and not yet used,
# each kept 10 minutes): the install page, fetched by anyone, adds one each time.
MAX_PENDING_INSTALLS = 500
STATE_SECONDS = 600


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
            WebClient(
                token=installation.bot_token, base_url=api_url, timeout=WEB_API_TIMEOUT
            ).chat_postMessage(channel=installation.user_id, **build_welcome().as_kwargs())
        except (SlackApiError, OSError, HTTPException) as exc:  # installed all the same
            log.warning(
                "could not greet the installer: %s",
                _why(exc),
                extra={"team_id": installation.team_id},
            )
        return args.default.success(args)

    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(ids.BOT_SCOPES),
        installation_store=store,
        state_store=BoundedStateStore(
            db, expiration_seconds=STATE_SECONDS, max_pending=MAX_PENDING_INSTALLS
        ),
        install_path=ids.INSTALL_PATH,
        redirect_uri_path=ids.REDIRECT_PATH,
        callback_options=CallbackOptions(success=greet_installer, failure=_failure),
    )


class InstallFailedError(Exception):
    """An installation that cannot complete, with the reason the failure page logs."""

    def __init__(self, reason: str, status: int = 503) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class CarefulOAuthFlow(OAuthFlow):
    """Bolt's OAuth flow, where every failure is answered with the clear failure page (or,
    for the install page, a short one) and one log line: Slack not answering oauth.v2.access,
    an answer without a token, the database failing to keep a state or an installation.
    Never a 500, and never SQL or its parameters in the log."""

    def handle_installation(self, request: BoltRequest) -> BoltResponse:
        try:
            return super().handle_installation(request)
        except TooManyInstallsError:
            log.warning("install page refused: too many installations under way")
            return _page(503, TOO_MANY_INSTALLS)
        except Exception as exc:  # the database, most likely: say so, without a trace
            log.warning("install page failed: %s", _why(exc))
            return _page(503, INSTALL_UNAVAILABLE)

    def run_installation(self, code: str) -> Installation | None:
        try:
            installation = super().run_installation(code)
        except (SlackUnavailableError, OSError, HTTPException) as exc:
            raise InstallFailedError(f"slack_unreachable ({_why(exc)})") from None
        except (KeyError, TypeError, ValueError) as exc:  # an answer shaped as no Slack one
            raise InstallFailedError(f"bad_answer ({type(exc).__name__})", 502) from None
        if installation is not None and not installation.bot_token:
            raise InstallFailedError("missing_token", 502)
        if installation is not None and not (installation.team_id or installation.enterprise_id):
            raise InstallFailedError("missing_workspace", 502)
        return installation

    def store_installation(self, request: BoltRequest, installation: Installation) -> None:
        try:
            super().store_installation(request, installation)
        except Exception as exc:
            raise InstallFailedError(f"storage_error ({_why(exc)})") from None

    def handle_callback(self, request: BoltRequest) -> BoltResponse:
        try:
            return super().handle_callback(request)
        except InstallFailedError as exc:
            reason, status = exc.reason, exc.status
        except DatabaseUnavailableError as exc:  # reading the state, or greeting the installer
            reason, status = f"storage_unavailable ({exc})", 503
        except Exception as exc:
            reason, status = f"internal_error ({type(exc).__name__})", 503
        return self.failure_handler(
            FailureArgs(
                request=request,
                reason=reason,
                suggested_status_code=status,
                settings=self.settings,
                default=self.default_callback_options,
            )
        )


TOO_MANY_INSTALLS = (
    "Too many installations of this app are under way right now. Please try again in a few minutes."
)
INSTALL_UNAVAILABLE = (
    "The install page is unavailable right now (the app cannot reach its database). "
    "Please try again in a few minutes."
)


def _page(status: int, text: str) -> BoltResponse:
    body = f"<html><body><p>{html.escape(text)}</p></body></html>"
    return BoltResponse(
        status=status, body=body, headers={"content-type": "text/html; charset=utf-8"}
    )


def _failure(args: FailureArgs) -> BoltResponse:
    log.warning("installation failed: %s", args.reason)
    if args.suggested_status_code == 500:  # a bad day on our side: try again later
        args.suggested_status_code = 503
    return args.default.failure(args)
