"""Serving the WSGI app with waitress, a production-grade pure-Python server."""

from __future__ import annotations

from typing import Any

from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from bot.web import WebApp


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
