"""Two ways to send the bot what Slack sends, with one interface for tests.

`DispatchedBot` hands each signed request to Bolt's `app.dispatch()`, as bolt-python's own
tests do: signature checks, middleware, listeners and the error handler all run, in the
test's thread, without a socket. `HttpBot` posts the same bytes to the real WSGI app behind
waitress. Both sign every body exactly as Slack does (`tests.support.slack.signed_headers`).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from slack_bolt import App, BoltRequest

from bot.slack.app import AfterAck
from tests.support.slack import (
    TEAM,
    action_body,
    command_body,
    event_body,
    signed_headers,
)
from tests.support.standin import Call, SlackStandIn

_numbers = itertools.count(1)


@dataclass
class Reply:
    """What Slack got back (the HTTP status, headers and body of the ack), and for a
    command, what followed through its response URL."""

    status_code: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    later: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.text)

    def shown(self) -> dict[str, Any]:
        """The answer the person sees: the ack's own, or, when the ack was empty because
        the answer needed Slack first, the one that came through the response URL."""
        if self.text:
            return dict(self.json())
        assert self.later, "an empty ack and nothing through the response URL"
        return self.later[-1]


class Bot:
    standin: SlackStandIn

    def post(self, body: str, headers: dict[str, str]) -> Reply:
        raise NotImplementedError

    def command(self, text: str, **kwargs: str) -> Reply:
        """`/psoas <text>`, with a live `response_url` of its own on the stand-in."""
        name = f"command-{next(_numbers)}"
        kwargs.setdefault("response_url", self.standin.response_url(name))
        body = command_body(text, **kwargs)
        reply = self.post(body, signed_headers(body))
        if reply.status_code == 200 and not reply.text:  # answered after the ack
            path = kwargs["response_url"].split("//", 1)[-1].partition("/")[2]
            reply.later = [c.args for c in self._wait_for_path("/" + path)]
        return reply

    def _wait_for_path(self, path: str, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while True:
            calls = [c for c in self.standin.calls_to("response_url") if c.path == path]
            if calls or time.monotonic() > deadline:
                return calls
            time.sleep(0.01)

    def click(self, payload: dict[str, Any]) -> Reply:
        """A `block_actions` payload (see `tests.support.slack.block_actions`)."""
        body = action_body(payload)
        return self.post(body, signed_headers(body))

    def event(self, event: dict[str, Any], *, team: str = TEAM) -> Reply:
        body = event_body(event, team=team)
        return self.post(body, signed_headers(body, json_body=True))


class DispatchedBot(Bot):
    def __init__(self, app: App, standin: SlackStandIn, after_ack: AfterAck | None = None) -> None:
        self.app, self.standin, self.after_ack = app, standin, after_ack

    def post(self, body: str, headers: dict[str, str]) -> Reply:
        """The ack Slack gets back; returns once the work after the ack is done too, so a
        test sees everything the request led to."""
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if self.after_ack is not None:
            self.after_ack.settle()
        flat = {name: values[0] for name, values in response.headers.items() if values}
        return Reply(response.status, response.body, flat)


class HttpBot(Bot):
    def __init__(
        self,
        url: str,
        standin: SlackStandIn,
        session: requests.Session,
        after_ack: AfterAck | None = None,
    ) -> None:
        self.url, self.standin, self.session = url, standin, session
        self.after_ack = after_ack

    def post(self, body: str, headers: dict[str, str]) -> Reply:
        """The HTTP answer Slack gets (the ack); returns once the work after it is done."""
        url = self.url + "/slack/events"
        response = self.session.post(url, data=body.encode(), headers=headers)
        if self.after_ack is not None:
            self.after_ack.settle()
        return Reply(response.status_code, response.text, dict(response.headers))

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path)
