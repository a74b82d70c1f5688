"""Two ways to send the bot what Slack sends, with one interface for tests.

`DispatchedBot` hands each signed request to Bolt's `app.dispatch()`, as bolt-python's own
tests do: signature checks, middleware, listeners and the error handler all run, in the
test's thread, without a socket. `HttpBot` posts the same bytes to the real WSGI app behind
waitress. Both sign every body exactly as Slack does (`tests.support.slack.signed_headers`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests
from slack_bolt import App, BoltRequest

from tests.support.slack import (
    TEAM,
    action_body,
    command_body,
    event_body,
    signed_headers,
)
from tests.support.standin import SlackStandIn


@dataclass
class Reply:
    """What Slack got back: the HTTP status, headers and body of the answer."""

    status_code: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.text)


class Bot:
    standin: SlackStandIn

    def post(self, body: str, headers: dict[str, str]) -> Reply:
        raise NotImplementedError

    def command(self, text: str, **kwargs: str) -> Reply:
        """`/psoas <text>`, with a live `response_url` on the stand-in."""
        kwargs.setdefault("response_url", self.standin.response_url())
        body = command_body(text, **kwargs)
        return self.post(body, signed_headers(body))

    def click(self, payload: dict[str, Any]) -> Reply:
        """A `block_actions` payload (see `tests.support.slack.block_actions`)."""
        body = action_body(payload)
        return self.post(body, signed_headers(body))

    def event(self, event: dict[str, Any], *, team: str = TEAM) -> Reply:
        body = event_body(event, team=team)
        return self.post(body, signed_headers(body, json_body=True))


class DispatchedBot(Bot):
    def __init__(self, app: App, standin: SlackStandIn) -> None:
        self.app, self.standin = app, standin

    def post(self, body: str, headers: dict[str, str]) -> Reply:
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        flat = {name: values[0] for name, values in response.headers.items() if values}
        return Reply(response.status, response.body, flat)


class HttpBot(Bot):
    def __init__(self, url: str, standin: SlackStandIn, session: requests.Session) -> None:
        self.url, self.standin, self.session = url, standin, session

    def post(self, body: str, headers: dict[str, str]) -> Reply:
        url = self.url + "/slack/events"
        response = self.session.post(url, data=body.encode(), headers=headers)
        return Reply(response.status_code, response.text, dict(response.headers))

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path)
