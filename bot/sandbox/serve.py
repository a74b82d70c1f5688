"""`psoas-bot sandbox`: the real bot and a page to try it on, at http://127.0.0.1:3000/.

One server (waitress, as `psoas-bot run` uses) serves the bot's own WSGI app, with
`/slack/events`, `/healthz` and `/metrics`, and beside it the page and the small JSON API
it calls:

    GET  /                        the page (static/index.html, app.js, app.css)
    GET  /sandbox/api/state       what a person sees: ?user=U0ANA
    POST /sandbox/api/command     {"user", "conversation", "text"}: the message box
    POST /sandbox/api/click       {"user", "surface", "message_id", "block_id", "action_id",
                                   "choice"}: a button, select, time picker or checkboxes
    POST /sandbox/api/home        {"user"}: open the App Home tab
    POST /sandbox/api/modal/close {"user"}
    POST /sandbox/api/clock       {"user", "step": "slot" | "hour" | "morning"}

Each POST answers with {"state": ..., "note": ...} once everything the request led to is
on screen. Nothing leaves the machine: the bot's Slack is the built-in one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer

from bot import logs
from bot.core.content import ContentError
from bot.sandbox.app import Sandbox
from bot.sandbox.people import PEOPLE
from bot.sandbox.screen import NotOnScreenError
from bot.settings import SettingsError, secrets_of
from bot.slack.wsgi import StartResponse, WebApp, make_server

API = "/sandbox/api/"
STATIC = "/sandbox/static/"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
MAX_API_BODY = 64 * 1024


class BadRequestError(ValueError):
    """A call to the API the page would never make."""


def static_file(name: str) -> bytes | None:
    """A file of the page, shipped inside the package (`bot/sandbox/static/`)."""
    if "/" in name or name.startswith(".") or Path(name).suffix not in STATIC_TYPES:
        return None
    resource = resources.files("bot.sandbox").joinpath("static", name)
    return resource.read_bytes() if resource.is_file() else None


class SandboxWebApp(WebApp):
    """The bot's WSGI app, with the page and its API beside Slack's one URL."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox.app, max_body_bytes=sandbox.settings.max_body_bytes)
        self.sandbox = sandbox

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET" and (path == "/" or path.startswith(STATIC)):
            body = static_file("index.html" if path == "/" else path.removeprefix(STATIC))
            if body is None:
                return _send(start_response, "404 Not Found", b"not found\n", "text/plain")
            content_type = STATIC_TYPES[Path(path if path != "/" else "index.html").suffix]
            return _send(start_response, "200 OK", body, content_type)
        if path.startswith(API):
            return self.api(path.removeprefix(API), method, environ, start_response)
        return super().__call__(environ, start_response)

    def api(
        self, name: str, method: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            if name == "state" and method == "GET":
                query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
                user = (query.get("user") or [PEOPLE[0].user_id])[0]
                return _json(start_response, "200 OK", self.sandbox.state(user))
            action = ACTIONS.get(name)
            if action is None or method != "POST":
                return _json(start_response, "404 Not Found", {"error": f"no {method} {name}"})
            request = _read_json(environ)
            user = str(request.get("user") or "")
            note = action(self.sandbox, user, request)
            answer = {"state": self.sandbox.state(user), "note": note}
            return _json(start_response, "200 OK", answer)
        except (BadRequestError, NotOnScreenError) as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})


def _command(sandbox: Sandbox, user: str, request: dict[str, Any]) -> str | None:
    sandbox.command(user, str(request.get("conversation") or ""), str(request.get("text") or ""))
    return None


def _click(sandbox: Sandbox, user: str, request: dict[str, Any]) -> str | None:
    choice = request.get("choice")
    sandbox.click(
        user,
        surface=str(request.get("surface") or "message"),
        message_id=str(request.get("message_id") or ""),
        block_id=str(request.get("block_id") or ""),
        action_id=str(request.get("action_id") or ""),
        choice=choice if isinstance(choice, dict) else None,
    )
    return None


def _home(sandbox: Sandbox, user: str, _request: dict[str, Any]) -> str | None:
    sandbox.open_home(user)
    return None


def _close_modal(sandbox: Sandbox, user: str, _request: dict[str, Any]) -> str | None:
    sandbox.close_modal(user)
    return None


def _clock(sandbox: Sandbox, user: str, request: dict[str, Any]) -> str | None:
    return sandbox.advance(user, str(request.get("step") or ""))


ACTIONS: dict[str, Callable[[Sandbox, str, dict[str, Any]], str | None]] = {
    "command": _command,
    "click": _click,
    "home": _home,
    "modal/close": _close_modal,
    "clock": _clock,
}


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    # JSON only: a form posted by another site cannot reach the API without a CORS
    # preflight, which this server never grants.
    if not str(environ.get("CONTENT_TYPE", "")).startswith("application/json"):
        raise BadRequestError("send JSON (Content-Type: application/json)")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BadRequestError("bad Content-Length") from None
    if not 0 <= length <= MAX_API_BODY:
        raise BadRequestError("request too large")
    try:
        parsed = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except ValueError:
        raise BadRequestError("the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise BadRequestError("send a JSON object")
    return parsed


def _send(
    start_response: StartResponse, status: str, body: bytes, content_type: str
) -> Iterable[bytes]:
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def _json(start_response: StartResponse, status: str, value: object) -> Iterable[bytes]:
    body = json.dumps(value).encode()
    return _send(start_response, status, body, "application/json")


class SandboxServer:
    """The sandbox behind waitress: in the foreground (`run`, until Ctrl-C) or in a
    background thread (`start`, `stop`), for tests. Stopping wakes waitress's loop at once."""

    def __init__(self, sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 3000) -> None:
        self.sandbox = sandbox
        host = "127.0.0.1" if host == "localhost" else host  # one address, not two
        server = make_server(
            SandboxWebApp(sandbox),
            host=host,
            port=port,
            threads=sandbox.settings.server_threads,
            max_body_bytes=sandbox.settings.max_body_bytes,
        )
        if not isinstance(server, BaseWSGIServer):
            server.close()
            raise OSError(f"{host} names several addresses; give one, such as 127.0.0.1")
        self.server = server
        bound = int(server.getsockname()[1])
        loopback = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.url = f"http://{loopback}:{bound}"
        sandbox.events_url = self.url + "/slack/events"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until `stop()` or Ctrl-C."""
        # The sockets waitress's loop watches (listener, trigger, clients); its stubs omit it.
        socket_map = vars(self.server)["_map"]
        timeout = self.server.adj.asyncore_loop_timeout
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=timeout, map=socket_map, count=1)
        finally:
            # In the loop's own thread, so no poll is using a socket while it closes.
            self.server.task_dispatcher.shutdown()
            wasyncore.close_all(socket_map)

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.run, name="sandbox-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        # Wakes the poll now; if the loop saw the flag first, it has closed the trigger.
        with contextlib.suppress(OSError):
            self.server.pull_trigger()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sandbox.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_sandbox(
    port: int = 3000,
    host: str = "127.0.0.1",
    database_url: str | None = None,
) -> int:
    """Serve the sandbox until Ctrl-C or SIGTERM; 0 then, 2 when it cannot start (and says
    why). A stop asked for during start-up also exits 0, leaving nothing behind."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a new sandbox is always migrated
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main else None
    try:
        return _serve(port, host, database_url)
    except KeyboardInterrupt:
        print("psoas-bot sandbox: stopped", flush=True)
        return 0
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _serve(port: int, host: str, database_url: str | None) -> int:
    try:
        sandbox = Sandbox(database_url=database_url, port=port)
    except (SettingsError, ContentError) as exc:
        print(f"psoas-bot sandbox: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            server = SandboxServer(sandbox, host=host, port=port)
        except OSError as exc:
            print(
                f"psoas-bot sandbox: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "choose another port with --port",
                file=sys.stderr,
            )
            return 2
        # Plain lines on stderr, with the sandbox's generated secrets kept out of them.
        logs.configure(secrets=secrets_of(sandbox.settings), json_lines=False)
        where = (database_url or "").removeprefix("sqlite:///")
        print(
            "psoas-bot sandbox: the real bot against a built-in Slack; no Slack app or tokens.\n"
            f"  Open {server.url}/ in your browser.\n"
            f"  Database: {where or 'a temporary file, deleted on exit'}\n"
            "  Ctrl-C stops it.",
            flush=True,
        )
        server.run()  # until Ctrl-C or SIGTERM: KeyboardInterrupt
    finally:
        sandbox.close()
    return 0


def _stop(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psoas-bot sandbox",
        description="Try psoas-bot with no Slack app: the real bot, a built-in Slack and a "
        "web page where sample people type /psoas, click buttons, open the Home tab and move "
        "a simulated clock to see nudges arrive.",
    )
    parser.add_argument("--port", type=int, default=3000, help="port for the page (default 3000)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--database",
        metavar="PATH",
        default=None,
        help="keep the sandbox's data in this SQLite file (default: a temporary one)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = f"sqlite:///{Path(args.database).expanduser().resolve()}" if args.database else None
    return run_sandbox(port=args.port, host=args.host, database_url=url)
