"""The WSGI application (Slack's one URL, liveness and readiness, metrics, and nothing else
exposed), served by waitress, a production-grade pure-Python server.

`/healthz` is liveness: the process serves requests. It never touches the database, so a
database outage never gets a healthy process restarted. `/readyz` is readiness: the database
answers within a bound of its own, and the nudge scheduler passed recently.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from bot import ids
from bot.data.database import READINESS_SECONDS, Database
from bot.metrics import PASS_BEAT, REGISTRY, PassBeat

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
OAUTH_PATHS = (ids.INSTALL_PATH, ids.REDIRECT_PATH)
# Slack's requests are at most five minutes old
# (https://docs.slack.dev/authentication/verifying-requests-from-slack).
MAX_CLOCK_SKEW = 5 * 60

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def _plain(start_response: StartResponse, status: str, body: bytes) -> Iterable[bytes]:
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    database: str  # "ok", "not checked", or why it is unavailable
    scheduler: str  # "ok", "not run here", or how long it has been silent

    def as_json(self) -> bytes:
        body = {"ready": self.ready, "database": self.database, "scheduler": self.scheduler}
        return (json.dumps(body) + "\n").encode()


class Readiness:
    """Whether this process can do its whole job: the database answers within a bound of its
    own (`READINESS_SECONDS`), and the nudge scheduler, if it runs here, finished a pass or
    showed progress within `scheduler_stale_after` seconds. The answer is kept for
    `cache_seconds`, so probes (or anyone) cannot turn into database load."""

    def __init__(
        self,
        database: Database | None,
        *,
        scheduler_stale_after: float | None = None,
        beat: PassBeat = PASS_BEAT,
        cache_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.scheduler_stale_after = scheduler_stale_after
        self.beat = beat
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._started = monotonic()
        self._lock = threading.Lock()
        self._cached: tuple[float, str] | None = None
        self._checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness")
        self._check: Future[str | None] | None = None

    def _database(self) -> str:
        database = self.database
        if database is None:
            return "not checked"
        now = self._monotonic()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            # One check at a time, in a thread of its own: a new connection to a database
            # that hangs waits out libpq's 2 s, and the probe is answered after 1 s anyway.
            if self._check is None or self._check.done():
                self._check = self._checker.submit(database.ping, READINESS_SECONDS)
            check = self._check
        try:
            problem = check.result(timeout=READINESS_SECONDS)
        except FutureTimeout:
            problem = f"no answer within {READINESS_SECONDS:g} s"
        answer = "ok" if problem is None else f"unavailable: {problem}"
        with self._lock:
            self._cached = (self._monotonic(), answer)
        return answer

    def _scheduler(self) -> str:
        if self.scheduler_stale_after is None:
            return "not run here"
        last = self.beat.last_alive or self._started
        silent = self._monotonic() - last
        if silent <= self.scheduler_stale_after:
            return "ok"
        return f"no pass finished or progressed for {silent:.0f} s"

    def report(self) -> ReadinessReport:
        database, scheduler = self._database(), self._scheduler()
        ready = database in ("ok", "not checked") and scheduler in ("ok", "not run here")
        return ReadinessReport(ready, database, scheduler)


class WebApp:
    def __init__(
        self, app: App, *, max_body_bytes: int, readiness: Readiness | None = None
    ) -> None:
        self.slack = SlackRequestHandler(app, path=SLACK_PATH)
        self.max_body_bytes = max_body_bytes
        self.readiness = readiness or Readiness(None)
        # The app's own signing secret (random, so nothing verifies, in Socket Mode without one).
        self.verifier = SignatureVerifier(app._signing_secret)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _plain(start_response, "200 OK", b"ok\n")
        if path == READY_PATH and method in ("GET", "HEAD"):
            report = self.readiness.report()
            body = report.as_json()
            status = "200 OK" if report.ready else "503 Service Unavailable"
            start_response(
                status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if path == METRICS_PATH and method == "GET":
            body = generate_latest(REGISTRY)
            start_response(
                "200 OK",
                [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
            )
            return [body]
        if path in OAUTH_PATHS and method == "GET" and self.slack.app.oauth_flow is not None:
            return self.slack(environ, start_response)
        if path == SLACK_PATH:
            if method != "POST":
                return _plain(start_response, "405 Method Not Allowed", b"POST only\n")
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0:
                return _plain(start_response, "400 Bad Request", b"bad Content-Length\n")
            if length > self.max_body_bytes:
                return _plain(start_response, "413 Content Too Large", b"request too large\n")
            return self._from_slack(environ, start_response, length)
        return _plain(start_response, "404 Not Found", b"not found\n")

    def _from_slack(
        self, environ: dict[str, Any], start_response: StartResponse, length: int
    ) -> Iterable[bytes]:
        """Slack's one URL. What Bolt would choke on is answered here first, in one log line
        each (method, path, length, reason; never the body): a body that is not what Slack
        sends gets 400 before anything that can fail parses it, and a missing, malformed or
        stale timestamp, or a bad signature, gets 401."""
        raw = environ["wsgi.input"].read(length) if length else b""
        content_type = str(environ.get("CONTENT_TYPE") or "").split(";")[0].strip() or None
        text, payload, problem = readable_body(raw, content_type)
        if problem is None:
            problem = self._unverified(environ, text)
            status = "401 Unauthorized"
        else:
            status = "400 Bad Request"
        request = None
        if problem is None:
            request, problem = _bolt_request(environ, text, payload)
            status = "400 Bad Request"
        if request is None:
            log.warning(
                "refused request: %s %s, %d bytes: %s",
                environ.get("REQUEST_METHOD"),
                SLACK_PATH,
                len(raw),
                problem,
            )
            body = b'{"error": "invalid request"}' if status.startswith("401") else b"bad request\n"
            kind = "application/json" if status.startswith("401") else "text/plain; charset=utf-8"
            start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
            return [body]
        answer = self.slack.app.dispatch(request)
        response = WsgiHttpResponse(status=answer.status, headers=answer.headers, body=answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    def _unverified(self, environ: dict[str, Any], body: str) -> str | None:
        """Why the request is not Slack's own, or None: Slack's signing
        (https://docs.slack.dev/authentication/verifying-requests-from-slack)."""
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
        if not timestamp:
            return "no timestamp"
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return "the timestamp is not a number"
        if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
            return "the timestamp is more than 5 minutes off"
        if not signature:
            return "no signature"
        if not self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            return "bad signature"
        return None


def readable_body(raw: bytes, content_type: str | None) -> tuple[str, dict[str, Any], str | None]:
    """The body as text, its payload, and what makes it unreadable as Slack's, if anything:
    Bolt parses it the same way (`parse_body`), here with every failure caught."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "", {}, "the body is not UTF-8"
    try:
        parsed = parse_body(text, content_type)
    except ValueError:  # json.JSONDecodeError is one
        return text, {}, "the body is neither JSON nor a form with a JSON payload"
    if not isinstance(parsed, dict):
        return text, {}, "the payload is not a JSON object"
    return text, parsed, None


class ParsedBoltRequest(BoltRequest):
    """Bolt's request for a body read and parsed here already: Bolt's own constructor would
    parse it once more (a tenth of a settings command's CPU). Bolt builds the same request
    from a parsed payload in Socket Mode; this one is then an HTTP request with its raw body,
    as Bolt's signature check and its copies for lazy listeners need."""

    def __init__(
        self, *, raw_body: str, payload: dict[str, Any], query: str, headers: dict[str, Any]
    ) -> None:
        super().__init__(body=payload, query=query, headers=headers, mode="socket_mode")
        self.raw_body, self.mode = raw_body, "http"


def _bolt_request(
    environ: dict[str, Any], body: str, payload: dict[str, Any]
) -> tuple[BoltRequest | None, str | None]:
    """Bolt's request for a verified body; None and why, if Bolt cannot read its fields."""
    try:
        headers = WsgiHttpRequest(environ).get_headers()
        query = str(environ.get("QUERY_STRING", ""))
        request = ParsedBoltRequest(raw_body=body, payload=payload, query=query, headers=headers)
        return request, None
    except Exception as exc:  # signed, yet shaped as no Slack payload is
        return None, f"signed, but its fields are malformed ({type(exc).__name__})"


# How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms).
# waitress's loop thread finds a response's bytes in a channel's buffer while the worker
# that put them there holds the buffer's lock and is in send(); it polls every channel again
# and again, holding the GIL, until the interval makes it let go, and the worker waits that
# long to release the lock. Measured under a closed loop of settings commands on PostgreSQL
# (32 clients, 8 threads, after a burst of exercise commands): 510-680 us of the loop
# thread's CPU per request at 5 ms, 185-187 at 1 ms, and a third more requests served. At
# 0.5 ms the exercise command, which is all CPU, lost more to switching than it gained.
GIL_SWITCH_SECONDS = 0.001


def make_server(
    web_app: WebApp, *, host: str = "0.0.0.0", port: int, threads: int, max_body_bytes: int
) -> BaseWSGIServer | MultiSocketServer:
    """A bound server; `port=0` picks a free port, readable from `.effective_port`. Sets the
    process's GIL switch interval (`GIL_SWITCH_SECONDS`): the server is this process."""
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "threads": threads,
        "max_request_body_size": max_body_bytes,
        "ident": "psoas-bot",
        "clear_untrusted_proxy_headers": True,
    }
    return create_server(web_app, **options)
