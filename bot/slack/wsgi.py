"""The WSGI application (Slack's one URL, a health check, metrics, and nothing else exposed),
served by waitress, a production-grade pure-Python server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from bot import ids
from bot.metrics import REGISTRY

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
OAUTH_PATHS = (ids.INSTALL_PATH, ids.REDIRECT_PATH)

StartResponse = Callable[..., Any]


def _plain(start_response: StartResponse, status: str, body: bytes) -> Iterable[bytes]:
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


class WebApp:
    def __init__(self, app: App, *, max_body_bytes: int) -> None:
        self.slack = SlackRequestHandler(app, path=SLACK_PATH)
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _plain(start_response, "200 OK", b"ok\n")
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
