"""The WSGI application (Slack's one URL, liveness and readiness, metrics, and nothing else
exposed), served by waitress, a production-grade pure-Python server.

`/healthz` is liveness: the process serves requests. It never touches the database, so a
database outage never gets a healthy process restarted. `/readyz` is readiness: the database
answers within a bound of its own, and the nudge scheduler passed recently.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from bot import ids
from bot.data.database import READINESS_SECONDS, Database
from bot.metrics import PASS_BEAT, REGISTRY, PassBeat

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
OAUTH_PATHS = (ids.INSTALL_PATH, ids.REDIRECT_PATH)

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
            return self.slack(environ, start_response)
        return _plain(start_response, "404 Not Found", b"not found\n")


def make_server(
    web_app: WebApp, *, host: str = "0.0.0.0", port: int, threads: int, max_body_bytes: int
) -> BaseWSGIServer | MultiSocketServer:
    """A bound server; `port=0` picks a free port, readable from `.effective_port`."""
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "threads": threads,
        "max_request_body_size": max_body_bytes,
        "ident": "psoas-bot",
        "clear_untrusted_proxy_headers": True,
    }
    return create_server(web_app, **options)
