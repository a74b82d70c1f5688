"""A stand-in for Slack's Web API on an ephemeral loopback port.

It records every call and answers as Slack does: `{"ok": true, ...}` by default,
scripted errors (`account_inactive`, ...), 429 with `Retry-After`, and 5xx bursts.
Also serves `response_url` posts under /response/..., recorded the same way.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str  # Web API method (`chat.postMessage`) or `response_url`
    args: dict[str, Any]
    token: str | None
    path: str


Responder = Callable[[Call], tuple[int, dict[str, Any], dict[str, str]] | None]


@dataclass
class SlackStandIn:
    calls: list[Call] = field(default_factory=list)
    # Per-method scripted answers, consumed in order; then the default ok answer.
    scripted: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(
        default_factory=dict
    )
    responder: Responder | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    # Messages accepted by chat.postMessage, by DM channel, for conversations.history.
    posted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def response_url(self, name: str = "r1") -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/response/{name}"

    def script(self, method: str, *answers: tuple[int, dict[str, Any], dict[str, str]]) -> None:
        with self.lock:
            self.scripted.setdefault(method, []).extend(answers)

    def answers_at(self, name: str) -> list[Call]:
        """What was posted to the response URL `response_url(name)` gave."""
        return [c for c in self.calls_to("response_url") if c.path == f"/response/{name}"]

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """The calls to `method` once there are `count` of them (listeners run after the ack)."""
        deadline = time.monotonic() + timeout
        while len(calls := self.calls_to(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {method} call(s), got {len(calls)}")
            time.sleep(0.005)
        return calls

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.scripted.clear()
            self.posted.clear()
        self.responder = None

    def answer(self, call: Call) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.calls.append(call)
            queue = self.scripted.get(call.method)
            if queue:
                return queue.pop(0)
        if self.responder is not None:
            custom = self.responder(call)
            if custom is not None:
                return custom
        if call.method == "chat.postMessage":
            channel = dm_channel(str(call.args.get("channel", "")))
            ts = f"{time.time():.6f}"
            with self.lock:
                self.posted.setdefault(channel, []).append(
                    {"ts": ts, "text": call.args.get("text"), "metadata": call.args.get("metadata")}
                )
            return 200, {"ok": True, "channel": channel, "ts": ts}, {}
        if call.method == "conversations.history":
            with self.lock:
                messages = list(reversed(self.posted.get(str(call.args.get("channel")), [])))
            return 200, {"ok": True, "messages": messages, "has_more": False}, {}
        if call.method == "files.getUploadURLExternal":
            base = self.api_url.removesuffix("/api/")
            return 200, {"ok": True, "upload_url": f"{base}/upload/F0001", "file_id": "F0001"}, {}
        return 200, default_answer(call), {}

    def start(self) -> SlackStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", errors="replace")
                kind = self.headers.get("Content-Type", "")
                if self.path.startswith("/upload/"):
                    args: dict[str, Any] = {"body": raw}
                elif "json" in kind:
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                    for key in ("blocks", "view", "attachments", "metadata"):
                        if isinstance(args.get(key), str):
                            args[key] = json.loads(args[key])
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ") or args.get("token")
                if self.path.startswith("/api/"):
                    method = self.path.removeprefix("/api/").split("?")[0]
                elif self.path.startswith("/upload/"):
                    method = "file_upload"
                else:
                    method = "response_url"
                status, body, headers = standin.answer(Call(method, args, token, self.path))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def default_answer(call: Call) -> dict[str, Any]:
    match call.method:
        case "chat.postMessage" | "chat.update" | "chat.postEphemeral":
            return {
                "ok": True,
                "channel": call.args.get("channel", "D0001"),
                "ts": "1700000000.000100",
            }
        case "conversations.open":
            return {"ok": True, "channel": {"id": dm_channel(str(call.args.get("users", "U0")))}}
        case "users.info":
            user = call.args.get("user", "U0")
            return {"ok": True, "user": {"id": user, "tz": "America/New_York", "deleted": False}}
        case "dnd.info":
            return {"ok": True, "dnd_enabled": False, "snooze_enabled": False}
        case "files.completeUploadExternal":
            return {"ok": True, "files": [{"id": "F0001", "title": "export"}]}
        case "auth.test":
            return {"ok": True, "team_id": "T0001", "user_id": "UBOT", "bot_id": "B0001"}
        case _:
            return {"ok": True}


def dm_channel(user_or_channel: str) -> str:
    """The DM with a user, as Slack names it: posting to `U123` lands in `D123`."""
    return "D" + user_or_channel[1:] if user_or_channel.startswith("U") else user_or_channel


def error(code: str, status: int = 200) -> tuple[int, dict[str, Any], dict[str, str]]:
    return status, {"ok": False, "error": code}, {}


def rate_limited(retry_after: int = 1) -> tuple[int, dict[str, Any], dict[str, str]]:
    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
