"""The sender's DMs on kept-alive connections (bot/engine/keepalive.py): one connection per
sending thread instead of one per DM (over TLS, a handshake per DM), a connection Slack closed
is not reused, and what Slack answers reaches the sender as before."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.engine import keepalive
from bot.engine.keepalive import KeepAliveWebClient
from bot.engine.sender import Outcome, Outgoing, Sender
from tests.support.clock import SteppedTime
from tests.support.slack import BOT_TOKEN
from tests.support.standin import SlackStandIn, rate_limited
from tests.support.tls import localhost_tls


def one_lane_sender(standin: SlackStandIn, clock: SteppedTime) -> Sender:
    """One workspace, one worker: every DM goes out from the same thread."""
    return Sender(
        api_url=standin.api_url,
        token_for=lambda _team: BOT_TOKEN,
        rate_per_second=1000,
        workers_per_workspace=1,
        max_threads=1,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )


def dms(count: int, start: int = 0) -> list[Outgoing]:
    return [Outgoing(n, "T0001", f"U{n:03d}", "Time to stand up", []) for n in range(start, count)]


def send(sender: Sender, items: list[Outgoing]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    sender.send_all(items, outcomes.append)
    return outcomes


def posted_to(standin: SlackStandIn) -> list[str]:
    return [call.args["channel"] for call in standin.calls_to("chat.postMessage")]


def senders_client(standin: SlackStandIn) -> KeepAliveWebClient:
    """One thread's client as the sender makes it: without slack_sdk's retry handlers (its
    own retries a failed call once, which would hide a write into a closed connection)."""
    return KeepAliveWebClient(
        token=BOT_TOKEN, base_url=standin.api_url, timeout=5, retry_handlers=[]
    )


@pytest.fixture(autouse=True)
def _trust_store_read_anew() -> Iterator[None]:
    """The default TLS context is made once per process: each test reads SSL_CERT_FILE anew."""
    keepalive.reload_trust_store()
    yield
    keepalive.reload_trust_store()


@pytest.fixture
def plain() -> Iterator[SlackStandIn]:
    standin = SlackStandIn().start()
    yield standin
    standin.stop()


def test_one_thread_sends_its_dms_on_one_connection(plain: SlackStandIn) -> None:
    outcomes = send(one_lane_sender(plain, SteppedTime()), dms(20))
    assert [outcome.kind for outcome in outcomes] == ["sent"] * 20
    assert posted_to(plain) == [f"U{n:03d}" for n in range(20)]
    assert plain.connections == 1


def test_a_connection_slack_closed_is_not_reused_and_the_call_goes_out_once(
    plain: SlackStandIn,
) -> None:
    client = senders_client(plain)
    assert client.chat_postMessage(channel="U000", text="one")["ok"]
    assert client.chat_postMessage(channel="U001", text="two")["ok"]
    assert plain.connections == 1
    plain.drop_connections()  # as Slack's edge closes an idle connection
    # Not written into the closed connection (a reset then, and a "maybe posted" DM).
    assert client.chat_postMessage(channel="U002", text="three")["ok"]
    assert posted_to(plain) == ["U000", "U001", "U002"]
    assert plain.connections == 2


def test_a_connection_idle_too_long_is_not_reused(
    plain: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = senders_client(plain)
    assert client.chat_postMessage(channel="U000", text="one")["ok"]
    monkeypatch.setattr(keepalive, "MAX_IDLE_SECONDS", -1.0)  # every connection too old
    assert client.chat_postMessage(channel="U001", text="two")["ok"]
    assert plain.connections == 2


def test_each_pass_closes_its_connections_when_its_threads_end(plain: SlackStandIn) -> None:
    sender = one_lane_sender(plain, SteppedTime())
    assert [o.kind for o in send(sender, dms(1))] == ["sent"]
    assert [o.kind for o in send(sender, dms(2, start=1))] == ["sent"]
    assert plain.connections == 2
    assert plain.wait_for_no_open_connections()


def test_a_429_on_a_kept_connection_still_pauses_the_lane_for_retry_after(
    plain: SlackStandIn,
) -> None:
    clock = SteppedTime()
    plain.script("chat.postMessage", rate_limited(7))
    outcomes = send(one_lane_sender(plain, clock), dms(3))
    assert [o.kind for o in outcomes] == ["sent"] * 3
    assert 7 in clock.slept
    assert posted_to(plain) == ["U000", "U000", "U001", "U002"]  # refused, then accepted
    assert sum(len(messages) for messages in plain.posted.values()) == 3
    assert plain.connections == 1


def test_over_tls_the_connection_is_kept_and_the_certificate_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_tls, _client_tls = localhost_tls(tmp_path)
    standin = SlackStandIn(tls=server_tls).start()
    try:
        assert standin.api_url.startswith("https://localhost:")
        # A certificate no authority we trust signed: nothing is sent, and the sender knows
        # it was not (a failure before the request: no look into the DM's history).
        refused = send(one_lane_sender(standin, SteppedTime()), dms(1))
        assert [(o.kind, o.error) for o in refused] == [("failed", "URLError")]
        assert posted_to(standin) == []
        # Trusted as the system's store would trust Slack's: sent, on one connection.
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "localhost.pem"))
        keepalive.reload_trust_store()  # a new process would read it at its start
        standin.connections = 0
        outcomes = send(one_lane_sender(standin, SteppedTime()), dms(5))
        assert [o.kind for o in outcomes] == ["sent"] * 5
        assert posted_to(standin) == [f"U{n:03d}" for n in range(5)]
        assert standin.connections == 1
        assert standin.calls_to("conversations.history") == []
    finally:
        standin.stop()


def test_clients_for_many_workspaces_load_the_trust_store_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In OAuth mode a pass makes a client per workspace: loading the system's trust store
    for each (tens of milliseconds of CPU) would cost a 1,000-workspace pass most of a minute."""
    server_tls, _client_tls = localhost_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "localhost.pem"))
    loads: list[None] = []
    load = ssl.create_default_context

    def counted_load(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        loads.append(None)
        return load(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted_load)
    standin = SlackStandIn(tls=server_tls).start()
    clock = SteppedTime()
    sender = Sender(
        api_url=standin.api_url,
        token_for=lambda team: f"xoxb-{team}",  # a token, so a client, per workspace
        max_threads=8,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    items = [Outgoing(n, f"T{n:04d}", f"U{n:03d}", "Stand up", []) for n in range(40)]
    try:
        outcomes = send(sender, items)
    finally:
        standin.stop()
    assert [o.kind for o in outcomes] == ["sent"] * 40
    assert standin.connections > 1  # several sending threads, each its own connection
    assert len(loads) == 1
