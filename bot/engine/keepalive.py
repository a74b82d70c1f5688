"""slack_sdk's `WebClient` on kept-alive connections, for the nudge sender.

slack_sdk's synchronous client opens every call with `urllib.request.urlopen`: a new TCP
connection, and against slack.com a new TLS handshake, for each DM. Over TLS that costs the
client about ten times the CPU of a call on a kept connection (2.7 ms against 0.28 ms here,
tests/bench/bench_transport.py), and the handshake's round trips come before every DM.
Here each sending thread keeps one connection per host and sends its calls on it, one after
another (HTTP/1.1 keep-alive).

Only the transport changes: the request slack_sdk built (its URL, headers and body) goes out
as it is, and what comes back is handed to slack_sdk as `urlopen` hands it (an `HTTPError`
for 4xx and 5xx, so 429's `Retry-After` reaches the sender as before). The sender tells a DM
that cannot have gone out from one that may have by the error's kind, as urllib raises them:
a failure while connecting or writing the request is a `URLError` (not sent); one while
waiting for the answer is raised as it comes (maybe sent: the sender looks in the DM before
any retry). A connection the server may have closed meanwhile is not reused: one idle longer
than `MAX_IDLE_SECONDS`, or one with something (its closing) waiting to be read. Behind a
proxy (`proxy=`, or HTTPS_PROXY, which slack_sdk reads) calls take slack_sdk's own path.
"""

from __future__ import annotations

import functools
import io
import select
import ssl
import threading
import time
import urllib.error
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient

# Slack's edge closes idle connections after a while; past this we connect anew rather than
# race its close with a DM.
MAX_IDLE_SECONDS = 20.0


class _Kept:
    """One thread's open connections, by (scheme, host, port), each with when it was last
    used; closed when the thread ends (its thread-local is dropped with it)."""

    def __init__(self) -> None:
        self.connections: dict[tuple[str, str, int], tuple[HTTPConnection, float]] = {}

    def __del__(self) -> None:
        for connection, _ in self.connections.values():
            connection.close()


_THREAD = threading.local()


def _kept() -> _Kept:
    kept: _Kept | None = getattr(_THREAD, "kept", None)
    if kept is None:
        kept = _THREAD.kept = _Kept()
    return kept


def _closed_by_peer(connection: HTTPConnection) -> bool:
    """Something to read on an idle connection is the server's close (or data it should
    not have sent): either way it cannot carry the next request."""
    sock = connection.sock
    if sock is None:
        return False  # not connected: the request connects it
    try:
        if hasattr(select, "poll"):  # no limit on descriptor numbers, as select has (1024)
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


_TLS_LOCK = threading.Lock()


@functools.cache
def _load_default_tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _default_tls() -> ssl.SSLContext:
    """urlopen's default for https (the system's trust store, hostnames checked), made once
    per process, under a lock (a pass's threads connect at once): loading the trust store
    costs tens of milliseconds of CPU, and in OAuth mode a pass makes a client per workspace."""
    with _TLS_LOCK:
        return _load_default_tls()


def reload_trust_store() -> None:
    """Forget the default TLS context: the next https connection loads the trust store
    anew (after SSL_CERT_FILE changed, in tests and benchmarks)."""
    with _TLS_LOCK:
        _load_default_tls.cache_clear()


class KeepAliveWebClient(WebClient):
    """A `WebClient` whose calls reuse this thread's connection to the API's host."""

    def _connection(self, scheme: str, host: str, port: int) -> HTTPConnection:
        kept = _kept()
        key = (scheme, host, port)
        found = kept.connections.pop(key, None)
        if found is not None:
            connection, last_used = found
            if time.monotonic() - last_used <= MAX_IDLE_SECONDS and not _closed_by_peer(connection):
                return connection
            connection.close()
        if scheme == "https":
            context = self.ssl or _default_tls()
            return HTTPSConnection(host, port, timeout=self.timeout, context=context)
        return HTTPConnection(host, port, timeout=self.timeout)

    def _keep(self, scheme: str, host: str, port: int, connection: HTTPConnection) -> None:
        _kept().connections[(scheme, host, port)] = (connection, time.monotonic())

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https") or not parts.hostname:
            return dict(super()._perform_urllib_http_request_internal(url, req))
        scheme, host = parts.scheme, parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection = self._connection(scheme, host, port)
        try:
            connection.request(
                req.get_method(), path, body=req.data, headers=dict(req.header_items())
            )
        except OSError as exc:
            connection.close()
            raise urllib.error.URLError(exc) from exc  # as urllib: not sent
        try:
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            connection.close()
            raise  # as urllib: raw, the request may have been handled
        if not response.will_close:
            self._keep(scheme, host, port, connection)
        if response.status >= 400:
            # As urlopen raises it: slack_sdk reads the status, headers and body from it.
            raise urllib.error.HTTPError(
                url, response.status, response.reason, response.headers, io.BytesIO(body)
            )
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": body}
        charset = response.headers.get_content_charset() or "utf-8"
        return {
            "status": response.status,
            "headers": response.headers,
            "body": body.decode(charset),
        }
