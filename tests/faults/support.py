"""What the fault tests add to the stand-in Slack and the test bots: Slack that is slow,
that answers after the client gave up, that is down, or that asks one workspace to wait;
and requests sent side by side, each timed from send to answer.

The stand-in itself (bot/sandbox/standin.py) stays as strict as Slack; these knobs live in a
subclass, and every wait they add is bounded (`release()` ends them at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bot.data.schema import upgrade
from tests.support.slack import command_body, signed_headers
from tests.support.standin import Answer, Call, SlackStandIn, dm_channel, error, rate_limited

# The longest any knob holds an answer back, whatever a test asks.
MAX_HOLD_SECONDS = 30.0


@dataclass
class FaultyStandIn(SlackStandIn):
    # Seconds to wait before answering a Web API method (by name; "*" for every method).
    latency: dict[str, float] = field(default_factory=dict)
    # chat.postMessage takes the message as Slack does, then answers this much later: a
    # client with a shorter timeout gives up on a message that was in fact posted.
    answer_posts_after: float = 0.0
    # The next this many chat.postMessage calls are taken as Slack does, then the connection
    # is closed without an answer (a proxy or a network that dropped it on the way back).
    drop_post_answers: int = 0
    # The Web API (not response URLs) answers 503 to everything, as during an outage.
    api_down: bool = False
    # token -> Retry-After value (any text, as a server might send) for chat.postMessage.
    retry_after_for_token: dict[str, str] = field(default_factory=dict)
    # Every call's method as it arrived (`calls` has them once they are answered).
    arrived: list[str] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """End every wait a knob holds now, and the knobs with it."""
        self._released.set()

    def reset(self) -> None:
        super().reset()
        self.latency = {}
        self.answer_posts_after = 0.0
        self.drop_post_answers = 0
        self.api_down = False
        self.retry_after_for_token = {}
        self.arrived = []
        self._released = threading.Event()

    def _hold(self, seconds: float) -> None:
        if seconds > 0:
            self._released.wait(min(seconds, MAX_HOLD_SECONDS))

    def answer(self, call: Call) -> Answer:
        api = call.method not in ("response_url", "file_upload")
        with self.lock:
            self.arrived.append(call.method)  # on arrival, before any knob holds it
        if api:
            self._hold(self.latency.get(call.method, self.latency.get("*", 0.0)))
        if api and self.api_down:
            with self.lock:
                self.calls.append(call)
            return error("service_unavailable", status=503)
        if call.method == "chat.postMessage" and call.token in self.retry_after_for_token:
            with self.lock:
                self.calls.append(call)
            status, body, _ = rate_limited(retry_after=1)
            return status, body, {"Retry-After": self.retry_after_for_token[call.token]}
        answered = super().answer(call)
        if call.method == "chat.postMessage":
            self._hold(self.answer_posts_after)
            with self.lock:
                drop, self.drop_post_answers = (
                    self.drop_post_answers > 0,
                    max(0, self.drop_post_answers - 1),
                )
            if drop:
                raise DroppedAnswerError  # the handler dies: the connection closes, unanswered
        return answered

    def start(self) -> FaultyStandIn:
        super().start()
        assert self.server is not None
        self.server.handle_error = lambda *_: None  # type: ignore[method-assign]  # a dropped answer is no error
        return self

    def posts_to(self, user_id: str) -> list[dict[str, Any]]:
        """The DMs the person has from the bot, as Slack keeps them."""
        with self.lock:
            return list(self.posted.get(dm_channel(user_id), []))


class DroppedAnswerError(Exception):
    """Raised inside the stand-in's handler to close a connection without answering."""


def fresh_sqlite_url(folder: Path) -> str:
    """A migrated SQLite database file of the test's own."""
    url = f"sqlite:///{folder / 'psoas.db'}"
    upgrade(url)
    return url


@dataclass
class Timed:
    """One request sent as Slack sends it: the answer, and the seconds it took."""

    status: int
    text: str
    seconds: float
    json: dict[str, Any] | None = None

    @property
    def said(self) -> str:
        return str((self.json or {}).get("text") or self.text)


def post(url: str, body: str, headers: dict[str, str], timeout: float = 10.0) -> Timed:
    started = time.monotonic()
    response = requests.post(url, data=body.encode(), headers=headers, timeout=timeout)
    seconds = time.monotonic() - started
    try:
        parsed = response.json() if response.text else None
    except ValueError:
        parsed = None
    return Timed(response.status_code, response.text, seconds, parsed)


def get(url: str, timeout: float = 10.0) -> Timed:
    started = time.monotonic()
    response = requests.get(url, timeout=timeout)
    return Timed(response.status_code, response.text, time.monotonic() - started)


def command(base_url: str, text: str, *, user: str, response_url: str) -> Callable[[], Timed]:
    """`/psoas <text>` from `user`, ready to send (and sign at the moment it is sent)."""

    def send() -> Timed:
        body = command_body(text, user=user, response_url=response_url)
        return post(base_url + "/slack/events", body, signed_headers(body))

    return send


def side_by_side(requests_to_send: list[Callable[[], Timed]]) -> list[Timed]:
    """Send every request at once, each on its own connection; their answers in order."""
    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(lambda send: send(), requests_to_send))
