"""A stand-in for Slack: the Web API and `response_url`, on an ephemeral loopback port.

It is as strict as Slack, so that nothing passes here that Slack would refuse: every rule
below cites the reference page it follows (https://docs.slack.dev/reference/methods/<method>,
https://docs.slack.dev/interactivity/handling-user-interaction, ...). It is the sandbox's
built-in Slack and the tests' (`tests/support/standin.py` re-exports it), and it uses the
standard library's `http.server` only, so it ships without test dependencies.

Every call is recorded (`calls`, `calls_to`, `wait_for`). A call is then answered in order:

1. refused as Slack refuses it: an unknown method, a missing or wrong kind of token, a scope
   the app's manifest does not grant (`missing_scope`), a rate limit, or arguments Slack
   rejects (`no_text`, `invalid_blocks`, `channel_not_found`, `user_not_found`, ...);
2. else with the next scripted answer for the method (`script`), then the `responder`;
3. else as Slack answers it, from the stand-in's workspace: the messages it accepted, the
   people in its directory, the DMs it opened, the views it published.

What a test (or the sandbox) sets up:
- `add_user(...)`: the directory `users.info` and `dnd.info` answer from (`user_not_found`
  otherwise); `DEFAULT_USERS` (`U0001`, in America/New_York) is there from the start.
- `set_dnd(user, start, end)`: a person's scheduled Do Not Disturb window.
- `join(channel)` makes the bot a member of a channel; `add_channel(channel)` makes one
  exist without it. DMs need nothing: posting to a user id opens the DM, as Slack does. (A
  DM, or conversations.open, takes any well-formed user id, in the directory or not, so
  that engine tests can nudge people they never looked up; conversations.open refuses a
  deactivated one with `user_disabled`.)
- `issue_trigger()`: a `trigger_id` for `views.open`, usable once, for 3 seconds.
- `response_url(name, original=...)`: a live response URL; `seen_at(name)` is what the
  person sees through it.
- `rate_limits = True`: every method's documented tier, and chat.postMessage's own limit.
  `history_limited` (on by default, as for an app outside the Marketplace) is the 2025
  limit of one `conversations.history` call a minute; `marketplace` lifts both 2025 limits.
- `now`: the wall clock (epoch seconds) for message timestamps, expiry and rate limits.
- `observer`: called with each call and its answer, for the sandbox's screens.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import math
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

# An answer: the HTTP status, the JSON body and the headers. Where Slack answers in plain
# text (a refused `response_url` post, an upload), the body's `error` (or `text`) is sent.
Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass
class Call:
    method: str  # Web API method (`chat.postMessage`), `response_url` or `file_upload`
    args: dict[str, Any]
    token: str | None
    path: str


Responder = Callable[[Call], Answer | None]
Observer = Callable[[Call, Answer], None]

# The app's manifest: shipped in the package by the build, else the checkout's
# deploy/manifest.yaml (an editable install), as `psoas-bot manifest` finds it.
PACKAGED_MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yaml"
CHECKOUT_MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "manifest.yaml"


def manifest_bot_scopes() -> frozenset[str]:
    """The bot scopes the app's manifest asks for (`oauth_config.scopes.bot`): what an
    install grants, so what the stand-in grants."""
    path = PACKAGED_MANIFEST if PACKAGED_MANIFEST.is_file() else CHECKOUT_MANIFEST
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(str(scope) for scope in manifest["oauth_config"]["scopes"]["bot"])


BOT_SCOPES = manifest_bot_scopes()  # as read when this module was imported


# Slack's limits per tier, in calls per minute per method, per workspace and app
# (https://docs.slack.dev/apis/web-api/rate-limits).
TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}


@dataclass(frozen=True)
class Method:
    """What a Web API method needs, from its reference page: the scopes that grant it (any
    one of them; none for methods with "No scope required"), its rate-limit tier (None for a
    special limit), and the kind of token it takes."""

    scopes: tuple[str, ...]
    tier: int | None
    token: str = "bot"  # "bot", "app" (an app-level xapp- token) or "none" (client credentials)


def _method(scopes: tuple[str, ...], tier: int | None, token: str = "bot") -> Method:
    return Method(scopes, tier, token)


REFERENCE = "https://docs.slack.dev/reference/methods/"

# method -> scopes, tier; each from https://docs.slack.dev/reference/methods/<method>.
# Conversation methods whose scope depends on the kind of conversation list them all here
# and are narrowed by `needed_scopes`.
METHODS: dict[str, Method] = {
    "api.test": _method((), 4, "none"),
    "auth.test": _method((), None),  # special: "generous" limits
    "auth.revoke": _method((), 3),
    "oauth.v2.access": _method((), 4, "none"),
    "apps.connections.open": _method(("connections:write",), 1, "app"),
    "apps.uninstall": _method((), 4, "none"),
    "bots.info": _method(("users:read",), 3),
    "chat.postMessage": _method(("chat:write",), None),  # special: per channel
    "chat.postEphemeral": _method(("chat:write",), 4),
    "chat.update": _method(("chat:write",), 3),
    "chat.delete": _method(("chat:write",), 3),
    "chat.scheduleMessage": _method(("chat:write",), 3),
    "conversations.open": _method(("im:write", "mpim:write", "channels:manage", "groups:write"), 3),
    "conversations.history": _method(
        ("im:history", "channels:history", "groups:history", "mpim:history"), 3
    ),
    "conversations.replies": _method(
        ("im:history", "channels:history", "groups:history", "mpim:history"), 3
    ),
    "conversations.info": _method(("im:read", "channels:read", "groups:read", "mpim:read"), 3),
    "conversations.members": _method(("im:read", "channels:read", "groups:read", "mpim:read"), 4),
    "dnd.info": _method(("dnd:read",), 3),
    "dnd.teamInfo": _method(("dnd:read",), 2),
    "files.getUploadURLExternal": _method(("files:write",), 4),
    "files.completeUploadExternal": _method(("files:write",), 4),
    "reactions.add": _method(("reactions:write",), 3),
    "team.info": _method(("team:read",), 3),
    "users.info": _method(("users:read",), 4),
    "users.list": _method(("users:read",), 2),
    "users.lookupByEmail": _method(("users:read.email",), 3),
    "users.profile.get": _method(("users.profile:read",), 4),
    "views.open": _method((), 4),
    "views.publish": _method((), 4),
    "views.push": _method((), 4),
    "views.update": _method((), 4),
}

# The scope each kind of conversation needs, by the first letter of its id.
_HISTORY_SCOPE = {"D": "im:history", "C": "channels:history", "G": "groups:history"}
_READ_SCOPE = {"D": "im:read", "C": "channels:read", "G": "groups:read"}

USER_ID = re.compile(r"^[UW][A-Z0-9]+$")  # W... on Enterprise Grid
CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]+$")

# Slack's Block Kit limits: 50 blocks in a message, 100 in a Home tab or modal
# (https://docs.slack.dev/reference/block-kit/blocks).
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
TRIGGER_SECONDS = 3.0  # https://docs.slack.dev/interactivity/handling-user-interaction
RESPONSE_URL_USES = 5  # https://docs.slack.dev/interactivity/handling-user-interaction
RESPONSE_URL_SECONDS = 30 * 60
HISTORY_LIMIT_OUTSIDE_MARKETPLACE = (
    15  # https://docs.slack.dev/reference/methods/conversations.history
)
HISTORY_LIMIT_MAX = 999


@dataclass
class Person:
    """One member of the stand-in workspace, as users.info shows them."""

    id: str
    name: str
    tz: str = "America/New_York"
    team_id: str = "T0001"
    real_name: str = ""
    is_bot: bool = False
    deleted: bool = False
    bot_id: str | None = None
    # Scheduled Do Not Disturb (epoch seconds), as dnd.info shows it to a bot.
    dnd_start: int | None = None
    dnd_end: int | None = None


DEFAULT_USERS = (Person("U0001", "pat", "America/New_York", real_name="Pat Doe"),)


def _error(code: str, status: int = 200, **extra: Any) -> Answer:
    return status, {"ok": False, "error": code, **extra}, {}


def _invalid_arguments(*messages: str) -> Answer:
    """`invalid_arguments`, with what was wrong, as the views.* methods answer it
    (https://docs.slack.dev/reference/methods/views.open)."""
    return _error(
        "invalid_arguments",
        response_metadata={"messages": [f"[ERROR] {m}" for m in messages]},
    )


def _flag(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1")


class Bucket:
    """A token bucket: `capacity` calls at once, refilled at `capacity` per `seconds`, so
    "N a minute" allows a burst of N and then N spread over the minute."""

    def __init__(self, capacity: int, seconds: float, now: float) -> None:
        self.capacity, self.rate = float(capacity), capacity / seconds
        self.tokens, self.at = float(capacity), now

    def wait(self, now: float) -> float:
        """0 and the call counted if it may go now; else the seconds until it may."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class ResponseUrl:
    issued: float
    uses: int = 0
    # What the person sees through this URL: the message it belongs to (for an action),
    # then what was posted to it, as Slack shows them.
    seen: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SlackStandIn:
    calls: list[Call] = field(default_factory=list)
    # Per-method scripted answers, consumed in order; then the default ok answer.
    scripted: dict[str, list[Answer]] = field(default_factory=dict)
    responder: Responder | None = None
    observer: Observer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    # Messages accepted by chat.postMessage, by channel, oldest first.
    posted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # TCP connections accepted, and those still open (`drop_connections` closes them).
    connections: int = 0
    open_connections: set[Any] = field(default_factory=set)
    # Served over TLS with this context (a certificate for `localhost`), as Slack is.
    tls: ssl.SSLContext | None = None

    # Who the app is in its workspace (auth.test).
    team_id: str = "T0001"
    bot_user_id: str = "UBOT"
    bot_id: str = "B0001"
    app_id: str = "A0001"
    scopes: frozenset[str] = field(default_factory=manifest_bot_scopes)
    # Slack's 2025 limits for apps not approved for the Marketplace
    # (https://docs.slack.dev/reference/methods/conversations.history): at most 15 messages
    # a call, and one call a minute when `history_limited`.
    marketplace: bool = False
    history_limited: bool = True
    # Every method's documented tier (https://docs.slack.dev/apis/web-api/rate-limits), off
    # unless a test asks for it.
    rate_limits: bool = False
    now: Callable[[], float] = time.time

    users: dict[str, Person] = field(default_factory=dict)
    # Conversations the workspace has: channel id -> whether the bot is a member. DMs are
    # opened by conversations.open or by posting to a user id.
    channels: dict[str, bool] = field(default_factory=dict)
    dms: dict[str, str] = field(default_factory=dict)  # DM channel -> the person
    triggers: dict[str, float | None] = field(default_factory=dict)  # id -> issued, None: used
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)  # by path
    views: dict[str, dict[str, Any]] = field(default_factory=dict)  # by view id
    homes: dict[str, str] = field(default_factory=dict)  # user -> their Home view's id
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # file id -> the file
    windows: dict[tuple[str, ...], Bucket] = field(default_factory=dict)
    last_ts: float = 0.0
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._settings = {
            name: getattr(self, name)
            for name in ("scopes", "marketplace", "history_limited", "rate_limits", "now")
        }
        self._populate()

    def _populate(self) -> None:
        for person in DEFAULT_USERS:
            self.users[person.id] = Person(**{**person.__dict__, "team_id": self.team_id})

    # ------------------------------------------------------------------ set-up

    @property
    def api_url(self) -> str:
        assert self.server is not None
        if self.tls is not None:
            return f"https://localhost:{self.server.server_address[1]}/api/"
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def response_url(self, name: str = "r1", *, original: dict[str, Any] | None = None) -> str:
        """A response URL Slack gave for a command or an action, live from now on; with the
        message the action came from as `original` (what `replace_original` replaces)."""
        assert self.server is not None
        path = f"/response/{name}"
        with self.lock:
            if path not in self.response_urls:
                self.response_urls[path] = ResponseUrl(issued=self.now())
            if original is not None:
                self.response_urls[path].seen = [dict(original)]
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def seen_at(self, name: str) -> list[dict[str, Any]]:
        """What the person sees of the conversation through `response_url(name)`."""
        with self.lock:
            found = self.response_urls.get(f"/response/{name}")
            return [dict(m) for m in found.seen] if found else []

    def add_user(
        self,
        user_id: str,
        *,
        tz: str = "America/New_York",
        name: str | None = None,
        real_name: str | None = None,
        team_id: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> Person:
        assert USER_ID.match(user_id), f"not a Slack user id: {user_id}"
        person = Person(
            user_id,
            name or user_id.lower(),
            tz,
            team_id or self.team_id,
            real_name or (name or user_id).title(),
            is_bot=is_bot,
            deleted=deleted,
            bot_id=f"B{user_id[1:]}" if is_bot else None,
        )
        with self.lock:
            self.users[user_id] = person
        return person

    def set_dnd(self, user_id: str, start: float | None, end: float | None) -> None:
        """The person's next scheduled Do Not Disturb window; None, None: none scheduled."""
        with self.lock:
            person = self.users[user_id]
            person.dnd_start = None if start is None else int(start)
            person.dnd_end = None if end is None else int(end)

    def join(self, channel: str) -> None:
        """The bot is a member of `channel` (it was invited)."""
        with self.lock:
            self.channels[channel] = True

    def add_channel(self, channel: str) -> None:
        """`channel` exists in the workspace, without the bot in it."""
        with self.lock:
            self.channels.setdefault(channel, False)

    def open_dm(self, user_id: str) -> str:
        """The DM between the bot and a person (as conversations.open opens it)."""
        with self.lock:
            return self._dm_with(user_id)

    def issue_trigger(self) -> str:
        """A trigger_id as Slack puts in an interaction payload: one views.open, 3 s."""
        with self.lock:
            number = next(self._numbers)
            trigger = f"{number}.{int(self.now())}.{number:08x}"
            self.triggers[trigger] = self.now()
        return trigger

    def script(self, method: str, *answers: Answer) -> None:
        for answer in answers:
            check_answer(method, answer)
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
        """Back to a fresh workspace, with the settings the stand-in was made with."""
        with self.lock:
            for collection in (
                self.calls,
                self.scripted,
                self.posted,
                self.users,
                self.channels,
                self.dms,
                self.triggers,
                self.response_urls,
                self.views,
                self.homes,
                self.uploads,
                self.windows,
            ):
                collection.clear()
            for name, value in self._settings.items():
                setattr(self, name, value)
            self.last_ts = 0.0
            self.connections = 0
            self._populate()
        self.responder = None

    # ------------------------------------------------------------------ answering

    def answer(self, call: Call) -> Answer:
        with self.lock:
            self.calls.append(call)
            refused = self._refusal(call)
            queue = self.scripted.get(call.method) if refused is None else None
            scripted = queue.pop(0) if queue else None
        result = refused or scripted
        if result is None and self.responder is not None:
            custom = self.responder(call)
            if custom is not None:
                problem = answer_problem(call.method, custom)
                result = _error(f"stand-in: {problem}", 500) if problem else custom
        if result is None:
            with self.lock:
                result = self._answer_as_slack(call)
        if self.observer is not None:
            self.observer(call, result)
        return result

    def _refusal(self, call: Call) -> Answer | None:
        """Slack's refusal of the call, if it refuses it; the caller holds the lock."""
        if call.method == "response_url":
            return self._response_url_refusal(call)
        if call.method == "file_upload":
            file_id = call.path.removeprefix("/upload/")
            return None if file_id in self.uploads else _error("not_found", 404)
        method = METHODS.get(call.method)
        if method is None:  # https://docs.slack.dev/apis/web-api/#errors
            return _error("unknown_method", req_method=call.method)
        refused = self._token_refusal(call, method)
        if refused:
            return refused
        needed = needed_scopes(call.method, call.args)
        if needed and not self.scopes.intersection(needed):
            # https://docs.slack.dev/reference/scopes: the error names what is needed and
            # what the token has.
            return _error(
                "missing_scope", needed=",".join(needed), provided=",".join(sorted(self.scopes))
            )
        wait = self._rate_limit_wait(call, method)
        if wait > 0:
            # https://docs.slack.dev/apis/web-api/rate-limits: HTTP 429 and Retry-After.
            status, body, _ = _error("ratelimited", 429)
            return status, body, {"Retry-After": str(max(1, math.ceil(wait - 1e-6)))}
        check = ARGUMENT_CHECKS.get(call.method)
        return check(self, call.args) if check else None

    def _token_refusal(self, call: Call, method: Method) -> Answer | None:
        """https://docs.slack.dev/authentication/tokens: `not_authed` without a token,
        `invalid_auth` for what is no Slack token, `not_allowed_token_type` for the wrong
        kind (an app-level token for a bot method, or the other way round)."""
        if method.token == "none":
            return None
        token = call.token or ""
        if not token:
            return _error("not_authed")
        if not token.startswith(("xoxb-", "xoxp-", "xapp-")):
            return _error("invalid_auth")
        app_level = token.startswith("xapp-")
        if app_level != (method.token == "app"):
            return _error("not_allowed_token_type")
        return None

    def _rate_limit_wait(self, call: Call, method: Method) -> float:
        workspace = call.token or ""
        now = self.now()
        limits: list[tuple[tuple[str, ...], int, float]] = []
        if call.method == "conversations.history" and self.history_limited and not self.marketplace:
            # 2025: one call a minute for an app outside the Marketplace, per workspace
            # (https://docs.slack.dev/reference/methods/conversations.history).
            limits.append(((workspace, call.method), 1, 60.0))
        elif self.rate_limits and method.tier is not None:
            # https://docs.slack.dev/apis/web-api/rate-limits: per method, workspace and app.
            limits.append(((workspace, call.method), TIER_PER_MINUTE[method.tier], 60.0))
        if self.rate_limits and call.method == "chat.postMessage":
            # https://docs.slack.dev/reference/methods/chat.postMessage#rate_limiting: one
            # message a second per channel, short bursts allowed (here 5), several hundred a
            # minute per workspace.
            channel = str(call.args.get("channel", ""))
            limits.append(((workspace, call.method, channel), 5, 5.0))
            limits.append(((workspace, call.method), 300, 60.0))
        waits = []
        for key, limit, seconds in limits:
            bucket = self.windows.setdefault(key, Bucket(limit, seconds, now))
            waits.append(bucket.wait(now))
        return max(waits, default=0.0)

    # ------------------------------------------------------------------ conversations

    def _dm_with(self, user_id: str) -> str:
        channel = dm_channel(user_id)
        self.dms[channel] = user_id
        return channel

    def _conversation_refusal(self, channel: object, *, posting: bool) -> Answer | None:
        """https://docs.slack.dev/reference/methods/chat.postMessage: `channel_not_found` for
        a conversation the bot cannot see (an unknown id, a DM it never opened), and
        `not_in_channel` for a channel it is not a member of. A user id is a DM."""
        name = str(channel or "")
        if posting and USER_ID.match(name):
            return None
        if name in self.dms:
            return None
        if name in self.channels:
            return None if self.channels[name] else _error("not_in_channel")
        return _error("channel_not_found")

    def _next_ts(self) -> str:
        """Message timestamps are unique and increasing within a conversation."""
        self.last_ts = max(self.now(), self.last_ts + 0.000001)
        return f"{self.last_ts:.6f}"

    def _message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": args.get("text") or "",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": ts,
        }
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        return message

    # ------------------------------------------------------------------ Slack's own answers

    def _answer_as_slack(self, call: Call) -> Answer:
        """The answer to an accepted call, from the workspace; the caller holds the lock."""
        handler = ANSWERS.get(call.method)
        if handler is not None:
            return handler(self, call)
        return 200, default_answer(call), {}

    def _post_message(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/chat.postMessage: the channel (a user
        id posts in the app's DM with them), the ts, and the `message` as posted."""
        target = str(call.args["channel"])
        channel = self._dm_with(target) if USER_ID.match(target) else target
        ts = self._next_ts()
        message = self._message(call.args, ts)
        self.posted.setdefault(channel, []).append(message)
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}, {}

    def _post_ephemeral(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/chat.postEphemeral: only `message_ts`;
        the message is not kept (no history shows it)."""
        return 200, {"ok": True, "message_ts": self._next_ts()}, {}

    def _update(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/chat.update"""
        channel, ts = str(call.args["channel"]), str(call.args["ts"])
        messages = self.posted.get(channel, [])
        for index, message in enumerate(messages):
            if message["ts"] == ts:
                updated = {**self._message(call.args, ts), "edited": {"user": self.bot_user_id}}
                messages[index] = updated
                text = updated["text"]
                body = {"ok": True, "channel": channel, "ts": ts, "text": text, "message": updated}
                return 200, body, {}
        return _error("message_not_found")

    def _history(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/conversations.history: newest first,
        between `oldest` and `latest` (exclusive unless `inclusive`), at most `limit` a page
        (15 at most outside the Marketplace), `has_more` and a `next_cursor` for the rest;
        a message's `metadata` only with `include_all_metadata`."""
        args = call.args
        cap = HISTORY_LIMIT_MAX if self.marketplace else HISTORY_LIMIT_OUTSIDE_MARKETPLACE
        limit = min(int(args.get("limit") or (100 if self.marketplace else cap)), cap)
        limit = max(limit, 1)
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or self.now() + 1)
        inclusive = _flag(args.get("inclusive"))
        before = _cursor_ts(str(args.get("cursor") or ""))

        def in_range(ts: float) -> bool:
            after_oldest = ts >= oldest if inclusive else ts > oldest
            before_latest = ts <= latest if inclusive else ts < latest
            return after_oldest and before_latest and (before is None or ts <= before)

        newest_first = sorted(
            (m for m in self.posted.get(str(args["channel"]), []) if in_range(float(m["ts"]))),
            key=lambda m: float(m["ts"]),
            reverse=True,
        )
        page, rest = newest_first[:limit], newest_first[limit:]
        metadata = _flag(args.get("include_all_metadata"))
        messages = [
            {k: v for k, v in m.items() if k != "metadata" or metadata} for m in page
        ]  # fmt: skip
        body: dict[str, Any] = {"ok": True, "messages": messages, "has_more": bool(rest)}
        if rest:
            body["response_metadata"] = {"next_cursor": _cursor_for(rest[0]["ts"])}
        return 200, body, {}

    def _open(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/conversations.open"""
        users = [u for u in str(call.args.get("users") or "").split(",") if u]
        if call.args.get("channel"):
            channel = str(call.args["channel"])
            return (
                200,
                {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel}},
                {},
            )
        already = dm_channel(users[0]) in self.dms
        channel = self._dm_with(users[0])
        body = {"ok": True, "no_op": already, "already_open": already, "channel": {"id": channel}}
        return 200, body, {}

    def _user(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/users.info: the user object as Slack
        shapes it; a deactivated account has `deleted: true` and no time zone, a bot has
        `is_bot` and its `bot_id` in the profile."""
        return (
            200,
            {"ok": True, "user": user_object(self.users[str(call.args["user"])], self.now())},
            {},
        )

    def _dnd(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/dnd.info: for anyone but the caller (and
        a bot token is never the person) only the scheduled window: `dnd_enabled`,
        `next_dnd_start_ts`, `next_dnd_end_ts`; never the `snooze_*` fields."""
        person = self.users.get(str(call.args.get("user") or ""))
        if person is None or person.dnd_start is None or person.dnd_end is None:
            return (
                200,
                {"ok": True, "dnd_enabled": False, "next_dnd_start_ts": 1, "next_dnd_end_ts": 1},
                {},
            )
        body = {
            "ok": True,
            "dnd_enabled": True,
            "next_dnd_start_ts": person.dnd_start,
            "next_dnd_end_ts": person.dnd_end,
        }
        return 200, body, {}

    def _view_object(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        """The `view` in views.publish's and views.open's answer
        (https://docs.slack.dev/reference/methods/views.publish)."""
        number = next(self._numbers)
        shown = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self.now())}.{number:08x}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        if "title" in view:
            shown["title"] = view["title"]
        self.views[view_id] = shown
        return shown

    def _publish(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/views.publish: a person's Home tab keeps
        its view id; a `hash` that is not the current one is a `hash_conflict`."""
        user = str(call.args["user_id"])
        view_id = self.homes.get(user)
        current = self.views.get(view_id or "")
        if call.args.get("hash") and (current is None or current["hash"] != call.args["hash"]):
            return _error("hash_conflict")
        if view_id is None:
            view_id = self.homes[user] = f"V{next(self._numbers):08d}"
        return 200, {"ok": True, "view": self._view_object(call.args["view"], view_id)}, {}

    def _open_view(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/views.open"""
        view_id = f"V{next(self._numbers):08d}"
        return 200, {"ok": True, "view": self._view_object(call.args["view"], view_id)}, {}

    def _upload_url(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/files.getUploadURLExternal"""
        file_id = f"F{next(self._numbers):08d}"
        self.uploads[file_id] = {"id": file_id, "name": call.args["filename"]}
        base = self.api_url.removesuffix("/api/")
        return 200, {"ok": True, "upload_url": f"{base}/upload/{file_id}", "file_id": file_id}, {}

    def _complete_upload(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/files.completeUploadExternal"""
        files = [
            {"id": f["id"], "title": f.get("title") or self.uploads[f["id"]]["name"]}
            for f in call.args["files"]
        ]
        return 200, {"ok": True, "files": files}, {}

    def _upload(self, call: Call) -> Answer:
        """The file's bytes to the upload URL: Slack answers 200 with `OK - <length>`
        (https://docs.slack.dev/messaging/working-with-files#upload)."""
        return 200, {"ok": True, "text": f"OK - {len(str(call.args.get('body', '')))}"}, {}

    def _auth_test(self, call: Call) -> Answer:
        """https://docs.slack.dev/reference/methods/auth.test"""
        body = {
            "ok": True,
            "url": "https://example.slack.com/",
            "team": "Example",
            "user": "psoas-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }
        return 200, body, {}

    # ------------------------------------------------------------------ response_url

    def _response_url_refusal(self, call: Call) -> Answer | None:
        """https://docs.slack.dev/interactivity/handling-user-interaction#message_responses:
        a response URL works up to 5 times within 30 minutes. The page does not give the
        refusal; the stand-in answers as Slack answers a webhook it no longer serves, HTTP
        404 with the reason as plain text (as in
        https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors),
        and a message Slack cannot show with 400 and `no_text` or `invalid_blocks`."""
        found = self.response_urls.get(call.path.split("?")[0])
        if found is None or self.now() - found.issued > RESPONSE_URL_SECONDS:
            return _error("expired_url", 404)
        if found.uses >= RESPONSE_URL_USES:
            return _error("used_url", 404)
        args = call.args
        if not _flag(args.get("delete_original")):
            if not _has_text(args) and not args.get("blocks") and not args.get("attachments"):
                return _error("no_text", 400)
            if "blocks" in args and block_errors(args["blocks"], limit=MESSAGE_BLOCKS):
                return _error("invalid_blocks", 400)
        found.uses += 1
        return None

    def _respond(self, call: Call) -> Answer:
        """What the person sees: `delete_original` removes the message the URL belongs to,
        `replace_original` replaces it, anything else is a new message."""
        found = self.response_urls[call.path.split("?")[0]]
        args = call.args
        shown: dict[str, Any] = {
            k: args[k] for k in ("text", "blocks", "response_type") if k in args
        }
        shown.setdefault("response_type", "ephemeral")
        if _flag(args.get("delete_original")):
            if found.seen:
                found.seen.pop()
        elif _flag(args.get("replace_original")) and found.seen:
            found.seen[-1] = shown
        else:
            found.seen.append(shown)
        return 200, {"ok": True}, {}

    # ------------------------------------------------------------------ serving

    def start(self) -> SlackStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            # As Slack: HTTP/1.1, the connection kept open from call to call (every answer
            # has its Content-Length), and each answer written at once.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with standin.lock:
                    standin.connections += 1
                    standin.open_connections.add(self.connection)

            def finish(self) -> None:
                with standin.lock:
                    standin.open_connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length)
                if len(sent) < length:
                    # The caller went away mid-body (a process killed while posting): an
                    # HTTP server never hands an incomplete request on, so Slack neither
                    # posts it nor answers. Recorded, it was a call with no arguments.
                    self.close_connection = True
                    return
                raw = sent.decode("utf-8", errors="replace")
                kind = self.headers.get("Content-Type", "")
                auth = self.headers.get("Authorization", "")
                args = _parse_body(self.path, kind, raw)
                bearer = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
                # A JSON body must carry its token in the Authorization header
                # (https://docs.slack.dev/apis/web-api/#posting_json).
                body_token = None if "json" in kind else args.get("token")
                token = bearer or (str(body_token) if body_token else None)
                if self.path.startswith("/api/"):
                    method = self.path.removeprefix("/api/").split("?")[0]
                elif self.path.startswith("/upload/"):
                    method = "file_upload"
                else:
                    method = "response_url"
                status, body, headers = standin.answer(Call(method, args, token, self.path))
                text = _wire_text(method, status, body)
                payload = (json.dumps(body) if text is None else text).encode()
                self.send_response(status)
                content = "application/json" if text is None else "text/plain"
                self.send_header("Content-Type", f"{content}; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def wait_for_no_open_connections(self, timeout: float = 5.0) -> bool:
        """True once every connection a client opened has been closed (by either side)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.open_connections:
                    return True
            time.sleep(0.01)
        return False

    def drop_connections(self) -> None:
        """Close every open connection from this side, as Slack's edge closes idle ones."""
        with self.lock:
            for connection in self.open_connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a pass's senders opening their connections
    # at once overflow it, and Linux then resets some of them after their request was
    # written. Slack's edge takes such a burst in its stride.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller that hung up before its answer (its own timeout ran out) is not an error
        of the stand-in's: no traceback on stderr for it, as Slack keeps none for us."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------- what Slack checks


def needed_scopes(method: str, args: dict[str, Any]) -> tuple[str, ...]:
    """The scopes that grant a call (any one of them), from the method's reference page;
    conversation methods need the scope of the kind of conversation they touch."""
    scopes = METHODS[method].scopes
    channel = str(args.get("channel") or "")
    if method in ("conversations.history", "conversations.replies") and channel[:1] in (
        "C",
        "D",
        "G",
    ):
        # A G... id is a private channel or a group DM: either history scope reads it.
        return ("groups:history", "mpim:history") if channel[:1] == "G" else (
            _HISTORY_SCOPE[channel[:1]],
        )  # fmt: skip
    if method in ("conversations.info", "conversations.members") and channel[:1] in ("C", "D", "G"):
        return ("groups:read", "mpim:read") if channel[:1] == "G" else (_READ_SCOPE[channel[:1]],)
    if method == "conversations.open" and not channel:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        return ("mpim:write",) if len(users) > 1 else ("im:write",)
    return scopes


def _has_text(args: dict[str, Any]) -> bool:
    return isinstance(args.get("text"), str) and bool(args["text"].strip())


def unknown_fields(raw: Any, parsed: Any, where: str) -> list[str]:
    """Fields slack_sdk's models dropped (so not in Block Kit) or read as another type:
    Slack refuses a block with a field it does not know
    (https://docs.slack.dev/reference/block-kit/blocks)."""
    if isinstance(raw, dict):
        if not isinstance(parsed, dict):
            return [f"must be a {type(parsed).__name__} [json-pointer:{where}]"]
        problems = []
        for key, value in raw.items():
            if key not in parsed:
                problems.append(f"unknown field `{key}` [json-pointer:{where}/{key}]")
            else:
                problems += unknown_fields(value, parsed[key], f"{where}/{key}")
        return problems
    if isinstance(raw, list):
        if not isinstance(parsed, list) or len(parsed) != len(raw):
            return [f"is not a valid list [json-pointer:{where}]"]
        return [p for i, (r, q) in enumerate(zip(raw, parsed, strict=True))
                for p in unknown_fields(r, q, f"{where}/{i}")]  # fmt: skip
    if isinstance(parsed, dict | list):
        return [f"must be an object [json-pointer:{where}]"]
    return []


def block_errors(blocks: object, *, limit: int, pointer: str = "/blocks") -> list[str]:
    """What Slack would find wrong with `blocks`: not a list, more than `limit`, a block
    slack_sdk's models cannot parse or that breaks one of their limits (lengths, counts),
    or a field Block Kit does not have (https://docs.slack.dev/reference/block-kit/blocks)."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    if len(blocks) > limit:
        return [f"no more than {limit} items allowed [json-pointer:{pointer}]"]
    problems: list[str] = []
    for index, raw in enumerate(blocks):
        where = f"{pointer}/{index}"
        if not isinstance(raw, dict):
            problems.append(f"must be an object [json-pointer:{where}]")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # slack_sdk warns of unknown fields; we refuse
                block = Block.parse(raw)
                if block is None:
                    problems.append(f"unknown block type [json-pointer:{where}/type]")
                    continue
                parsed = block.to_dict()  # runs slack_sdk's validation of Slack's limits
        except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as exc:
            problems.append(f"{exc} [json-pointer:{where}]")
            continue
        problems += unknown_fields(raw, parsed, where)
        if raw.get("type") in ("actions", "context") and not raw.get("elements"):
            # https://docs.slack.dev/reference/block-kit/blocks/actions-block: 1 to 25
            # elements; context-block: 1 to 10.
            problems.append(f"must provide at least 1 item [json-pointer:{where}/elements]")
    return problems


def _invalid_blocks(problems: list[str]) -> Answer:
    """https://docs.slack.dev/reference/methods/chat.postMessage#errors: `invalid_blocks`,
    with what was wrong."""
    return _error(
        "invalid_blocks",
        errors=problems,
        response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
    )


def _message_refusal(args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/chat.postMessage: `no_text` without text,
    blocks or attachments; `invalid_blocks_format` for blocks that are not JSON;
    `invalid_blocks` for blocks Slack refuses or more than 50; `invalid_metadata_format` for
    metadata without an `event_type` and an `event_payload` object."""
    blocks = args.get("blocks")
    if not _has_text(args) and not blocks and not args.get("attachments"):
        return _error("no_text")
    if isinstance(blocks, str):
        return _error("invalid_blocks_format")
    if blocks is not None:
        problems = block_errors(blocks, limit=MESSAGE_BLOCKS)
        if problems:
            return _invalid_blocks(problems)
    metadata = args.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        return _error("invalid_metadata_format")
    return None


def _check_post_message(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    if not args.get("channel"):
        return _error("channel_not_found")
    return _message_refusal(args) or standin._conversation_refusal(args["channel"], posting=True)


def _check_post_ephemeral(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/chat.postEphemeral"""
    if not args.get("channel"):
        return _error("channel_not_found")
    if not USER_ID.match(str(args.get("user") or "")):
        return _error("user_not_found")
    return _message_refusal(args) or standin._conversation_refusal(args["channel"], posting=False)


def _check_update(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/chat.update"""
    if not args.get("channel"):
        return _error("channel_not_found")
    if not args.get("ts"):
        return _error("message_not_found")
    return _message_refusal(args) or standin._conversation_refusal(args["channel"], posting=False)


def _check_history(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/conversations.history#errors"""
    refused = standin._conversation_refusal(args.get("channel"), posting=False)
    if refused:
        return refused
    for key, code in (("oldest", "invalid_ts_oldest"), ("latest", "invalid_ts_latest")):
        if args.get(key) not in (None, "") and not _is_number(args[key]):
            return _error(code)
    if args.get("limit") not in (None, "") and not str(args["limit"]).isdigit():
        return _error("invalid_limit")
    if args.get("cursor") and _cursor_ts(str(args["cursor"])) is None:
        return _error("invalid_cursor")
    return None


def _check_open(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/conversations.open: `users` (1 to 8 ids) or
    a `channel` to resume."""
    if args.get("channel"):
        return standin._conversation_refusal(args["channel"], posting=False)
    users = [u for u in str(args.get("users") or "").split(",") if u]
    if not users:
        return _error("users_list_not_supplied")
    if len(users) > 8:
        return _error("too_many_users")
    if len(users) > 1:
        return _error("not_supported")  # group DMs: the stand-in has none
    if not all(USER_ID.match(u) for u in users):
        return _error("user_not_found")
    person = standin.users.get(users[0])
    if person is not None and person.deleted:
        return _error("user_disabled")
    return None


def _check_user(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/users.info: `user_not_found` for an id that
    is nobody in the workspace."""
    return None if str(args.get("user") or "") in standin.users else _error("user_not_found")


def _check_dnd(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/dnd.info#errors"""
    user = args.get("user")
    return None if user is None or str(user) in standin.users else _error("user_not_found")


def _view_problems(view: object, kind: str) -> list[str]:
    """https://docs.slack.dev/reference/views: a `home` or `modal` view (a modal needs a
    title), at most 100 blocks, each one Slack accepts."""
    if not isinstance(view, dict):
        return ["`view` must be a JSON object [json-pointer:/view]"]
    if view.get("type") != kind:
        return [f"`view.type` must be `{kind}` [json-pointer:/view/type]"]
    if kind == "modal" and not isinstance(view.get("title"), dict):
        return ["missing required field: title [json-pointer:/view/title]"]
    problems = block_errors(view.get("blocks"), limit=VIEW_BLOCKS, pointer="/view/blocks")
    if problems:
        return problems
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            View(**view).to_dict()  # the title's and other fields' limits
    except (SlackObjectFormationError, TypeError, ValueError) as exc:
        return [f"{exc} [json-pointer:/view]"]
    return []


def _check_publish(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/views.publish: `user_id` and `view` are
    required; the view is a Home tab of at most 100 blocks."""
    missing = [f"missing required field: {k}" for k in ("user_id", "view") if not args.get(k)]
    if missing:
        return _invalid_arguments(*missing)
    problems = _view_problems(args["view"], "home")
    return _invalid_arguments(*problems) if problems else None


def _check_open_view(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/views.open: `trigger_id` and `view` are
    required; a trigger works once (`exchanged_trigger_id`) and for 3 seconds
    (`expired_trigger_id`, also for one Slack never gave)."""
    missing = [f"missing required field: {k}" for k in ("trigger_id", "view") if not args.get(k)]
    if missing:
        return _invalid_arguments(*missing)
    problems = _view_problems(args["view"], "modal")
    if problems:
        return _invalid_arguments(*problems)
    trigger = str(args["trigger_id"])
    if trigger not in standin.triggers:
        return _error("expired_trigger_id")
    issued = standin.triggers[trigger]
    if issued is None:
        return _error("exchanged_trigger_id")
    if standin.now() - issued > TRIGGER_SECONDS:
        return _error("expired_trigger_id")
    standin.triggers[trigger] = None
    return None


def _check_upload_url(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/files.getUploadURLExternal: `filename` and
    `length` are required."""
    missing = [f"missing required field: {k}" for k in ("filename", "length") if not args.get(k)]
    return _invalid_arguments(*missing) if missing else None


def _check_complete_upload(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/files.completeUploadExternal: `files`, each
    one uploaded; a `channel_id` the bot can post in."""
    files = args.get("files")
    if not isinstance(files, list) or not files:
        return _invalid_arguments("missing required field: files")
    if not all(isinstance(f, dict) and f.get("id") in standin.uploads for f in files):
        return _error("file_not_found")
    if args.get("channel_id"):
        return standin._conversation_refusal(args["channel_id"], posting=False)
    return None


def _check_oauth(standin: SlackStandIn, args: dict[str, Any]) -> Answer | None:
    """https://docs.slack.dev/reference/methods/oauth.v2.access: a `code` Slack never
    issued is an `invalid_code` (tests script the answer to a code they made)."""
    if not args.get("code"):
        return _error("invalid_code")
    return None


ARGUMENT_CHECKS: dict[str, Callable[[SlackStandIn, dict[str, Any]], Answer | None]] = {
    "chat.postMessage": _check_post_message,
    "chat.postEphemeral": _check_post_ephemeral,
    "chat.update": _check_update,
    "conversations.history": _check_history,
    "conversations.open": _check_open,
    "users.info": _check_user,
    "dnd.info": _check_dnd,
    "views.publish": _check_publish,
    "views.open": _check_open_view,
    "files.getUploadURLExternal": _check_upload_url,
    "files.completeUploadExternal": _check_complete_upload,
    "oauth.v2.access": _check_oauth,
}

ANSWERS: dict[str, Callable[[SlackStandIn, Call], Answer]] = {
    "auth.test": SlackStandIn._auth_test,
    "chat.postMessage": SlackStandIn._post_message,
    "chat.postEphemeral": SlackStandIn._post_ephemeral,
    "chat.update": SlackStandIn._update,
    "conversations.history": SlackStandIn._history,
    "conversations.open": SlackStandIn._open,
    "users.info": SlackStandIn._user,
    "dnd.info": SlackStandIn._dnd,
    "views.publish": SlackStandIn._publish,
    "views.open": SlackStandIn._open_view,
    "files.getUploadURLExternal": SlackStandIn._upload_url,
    "files.completeUploadExternal": SlackStandIn._complete_upload,
    "file_upload": SlackStandIn._upload,
    "response_url": SlackStandIn._respond,
    "oauth.v2.access": lambda _standin, _call: _error("invalid_code"),
}


def answer_problem(method: str, answer: Answer) -> str | None:
    """Why a scripted or custom answer is not one Slack gives, if it is not: for dnd.info, a
    bot never sees the `snooze_*` fields (https://docs.slack.dev/reference/methods/dnd.info)."""
    _status, body, _headers = answer
    if method == "dnd.info" and isinstance(body, dict):
        snooze = sorted(k for k in body if k.startswith("snooze"))
        if snooze:
            return f"dnd.info never shows a bot {', '.join(snooze)}"
    return None


def check_answer(method: str, answer: Answer) -> None:
    problem = answer_problem(method, answer)
    if problem:
        raise ValueError(f"Slack would not answer that: {problem}")


def user_object(person: Person, now: float) -> dict[str, Any]:
    """A user as users.info shows them (https://docs.slack.dev/reference/methods/users.info,
    https://docs.slack.dev/reference/objects/user-object): no email without
    users:read.email; a deactivated account keeps little more than `deleted: true`."""
    profile: dict[str, Any] = {
        "real_name": person.real_name,
        "display_name": person.name,
        "real_name_normalized": person.real_name,
        "display_name_normalized": person.name,
        "status_text": "",
        "status_emoji": "",
        "team": person.team_id,
    }
    user: dict[str, Any] = {
        "id": person.id,
        "team_id": person.team_id,
        "name": person.name,
        "deleted": person.deleted,
        "profile": profile,
        "is_bot": person.is_bot,
        "is_app_user": False,
        "updated": int(now),
    }
    if person.is_bot:
        profile["bot_id"] = person.bot_id
        profile["always_active"] = True
    if person.deleted:
        return user
    try:
        offset = datetime.fromtimestamp(now, ZoneInfo(person.tz)).utcoffset()
        label = datetime.fromtimestamp(now, ZoneInfo(person.tz)).tzname() or person.tz
    except (ZoneInfoNotFoundError, ValueError):
        offset, label = None, person.tz
    user |= {
        "color": "9f69e7",
        "real_name": person.real_name,
        "tz": person.tz,
        "tz_label": label,
        "tz_offset": int(offset.total_seconds()) if offset else 0,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
    }
    return user


def _is_number(value: object) -> bool:
    try:
        return math.isfinite(float(str(value)))
    except ValueError:
        return False


def _cursor_for(ts: str) -> str:
    """Slack's cursors are opaque; this one reads `next_ts:<ts>`, as Slack's do."""
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _cursor_ts(cursor: str) -> float | None:
    if not cursor:
        return None
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    digits = decoded.removeprefix("next_ts:")
    if not decoded.startswith("next_ts:") or not digits.isdigit() or len(digits) <= 6:
        return None
    return float(f"{digits[:-6]}.{digits[-6:]}")


def _parse_body(path: str, kind: str, raw: str) -> dict[str, Any]:
    """The arguments of a call, from a JSON or a form body; form fields Slack reads as JSON
    are decoded (left as text if they are not JSON: Slack refuses them)."""
    if path.startswith("/upload/"):
        return {"body": raw}
    if "json" in kind:
        try:
            parsed = json.loads(raw or "{}")
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    args: dict[str, Any] = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
    if isinstance(args.get("payload"), str) and path.startswith("/response/"):
        args = _json_or_text(args["payload"]) or args
    for key in ("blocks", "view", "attachments", "metadata", "files"):
        if isinstance(args.get(key), str):
            args[key] = _json_or_text(args[key]) or args[key]
    return args


def _wire_text(method: str, status: int, body: dict[str, Any]) -> str | None:
    """The plain text Slack sends instead of JSON: a refused `response_url` post answers
    with its error code, as incoming webhooks do
    (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors),
    and an upload with `OK - <length>`."""
    if method == "response_url" and status != 200:
        return str(body.get("error", ""))
    if method == "file_upload" and status == 200:
        return str(body.get("text", "OK"))
    return None


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def default_answer(call: Call) -> dict[str, Any]:
    """The answer to a method the stand-in keeps no state for."""
    return {"ok": True}


def dm_channel(user_or_channel: str) -> str:
    """The DM with a user, as Slack names it: posting to `U123` (or `W123` on Grid) lands in
    `D123`."""
    if USER_ID.match(user_or_channel):
        return "D" + user_or_channel[1:]
    return user_or_channel


def error(code: str, status: int = 200) -> Answer:
    return status, {"ok": False, "error": code}, {}


def rate_limited(retry_after: int = 1) -> Answer:
    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
