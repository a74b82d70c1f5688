"""`slack run`: the Slack CLI reads the manifest through `.slack/hooks.json` and starts the
bot in Socket Mode with the two tokens it provides (SLACK_BOT_TOKEN, SLACK_APP_TOKEN).

The hooks' commands run here as the CLI runs them (a shell in the project's folder, the
virtual environment's `bin` first on PATH). Slack's side of Socket Mode is the stand-in for
the Web API (apps.connections.open) and, below, a small WebSocket server that speaks the
Socket Mode envelope protocol (https://docs.slack.dev/apis/events-api/using-socket-mode).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot.settings import Settings
from tests.support.slack import BOT_TOKEN, command_body
from tests.support.standin import Call, SlackStandIn, manifest_bot_scopes

ROOT = Path(__file__).resolve().parent.parent
HOOKS = json.loads((ROOT / ".slack" / "hooks.json").read_text())
APP_TOKEN = "xapp-1-A0001-0000-slack-cli"
SETTINGS = {name.upper() for name in Settings.model_fields}


def hook_env(**extra: str) -> dict[str, str]:
    """What the CLI gives a hook: the developer's shell (with the project's virtual
    environment active) and none of the bot's settings unless given."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def test_the_hooks_name_a_manifest_and_a_start_command_and_the_app_connects_itself() -> None:
    assert set(HOOKS["hooks"]) >= {"get-manifest", "start"}
    assert HOOKS["config"]["sdk-managed-connection-enabled"] is True
    # The default protocol: the hook's stdout is the answer, with no boundaries to parse.
    assert HOOKS["config"]["protocol-version"] == ["default"]
    for watched in HOOKS["config"]["watch"]["manifest"]["paths"]:
        assert (ROOT / watched).is_file(), watched


def test_the_manifest_hook_prints_the_one_manifest_as_json_in_socket_mode() -> None:
    result = subprocess.run(
        HOOKS["hooks"]["get-manifest"],
        shell=True,
        cwd=ROOT,
        env=hook_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)  # nothing but JSON on stdout
    source = yaml.safe_load((ROOT / "deploy" / "manifest.yaml").read_text())
    assert printed["settings"].pop("socket_mode_enabled") is True
    assert source["settings"].pop("socket_mode_enabled") is False
    assert printed == source, "the hook's manifest is deploy/manifest.yaml, and only that"


# --- a WebSocket server speaking Socket Mode ----------------------------------------------------

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


class SocketModeServer:
    """Accepts the bot's WebSocket, says hello, sends envelopes and collects the acks."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(30)
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/link/"
        self.acks: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self.connection: socket.socket | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        self.connection = connection
        request = b""
        while b"\r\n\r\n" not in request:
            request += connection.recv(4096)
        headers = dict(
            line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line
        )
        key = headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        connection.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        self.send({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0001"}})
        self.connected.set()
        try:
            while True:
                opcode, data = self._read_frame(connection)
                if opcode == 0x1:
                    self.acks.append(json.loads(data))
                elif opcode == 0x9:  # ping: pong
                    self._write_frame(0xA, data)
                elif opcode == 0x8:
                    return
        except (OSError, ConnectionError):
            return

    def send(self, message: dict[str, Any]) -> None:
        self._write_frame(0x1, json.dumps(message).encode())

    def _write_frame(self, opcode: int, data: bytes) -> None:
        assert self.connection is not None
        header = bytes([0x80 | opcode])
        if len(data) < 126:
            header += bytes([len(data)])
        elif len(data) < 1 << 16:
            header += bytes([126]) + struct.pack("!H", len(data))
        else:
            header += bytes([127]) + struct.pack("!Q", len(data))
        self.connection.sendall(header + data)

    @staticmethod
    def _read_frame(connection: socket.socket) -> tuple[int, bytes]:
        def exactly(count: int) -> bytes:
            data = b""
            while len(data) < count:
                chunk = connection.recv(count - len(data))
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            return data

        first, second = exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", exactly(8))
        mask = exactly(4) if second & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(exactly(length)))
        return first & 0x0F, payload

    def close(self) -> None:
        self.listener.close()
        if self.connection is not None:
            self.connection.close()


@pytest.fixture
def socket_mode() -> Iterator[SocketModeServer]:
    server = SocketModeServer()
    yield server
    server.close()


@pytest.fixture
def slack(socket_mode: SocketModeServer) -> Iterator[SlackStandIn]:
    """The Web API, where an app-level token opens a Socket Mode connection."""
    standin = SlackStandIn(scopes=manifest_bot_scopes() | {"connections:write"})

    def connections(call: Call) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if call.method == "apps.connections.open":
            return 200, {"ok": True, "url": socket_mode.url}, {}
        return None

    standin.responder = connections
    standin.start()
    yield standin
    standin.stop()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_start_hook_runs_the_bot_in_socket_mode_with_only_the_two_tokens(
    slack: SlackStandIn, socket_mode: SocketModeServer, tmp_path: Path
) -> None:
    port = unused_port()
    env = hook_env(
        # What the Slack CLI provides:
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        # What this test adds: Slack is the stand-in; the database and port are the test's own.
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        PORT=str(port),
        LOG_FORMAT="text",
    )
    output = tmp_path / "output.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            HOOKS["hooks"]["start"],
            shell=True,
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the shell and the bot: stopped together below
        )
    try:
        assert socket_mode.connected.wait(30), output.read_text()
        opened = slack.calls_to("apps.connections.open")
        assert [call.token for call in opened] == [APP_TOKEN]
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok

        # A slash command arrives over the socket, as Slack sends it, and is answered there.
        fields = dict(urllib.parse.parse_qsl(command_body("half-kneel")))
        socket_mode.send(
            {
                "envelope_id": "envelope-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": fields,
            }
        )
        deadline = time.monotonic() + 20
        while not socket_mode.acks and time.monotonic() < deadline:
            time.sleep(0.05)
        assert socket_mode.acks, output.read_text()
        (ack,) = socket_mode.acks
        assert ack["envelope_id"] == "envelope-1"
        assert "half" in json.dumps(ack.get("payload", {})).lower(), (ack, output.read_text())
    finally:
        os.killpg(process.pid, 15)
        code = process.wait(timeout=30)
    log = output.read_text()
    assert code in (0, -15), log
    assert "Socket Mode connected to Slack" in log
    assert "SLACK_SIGNING_SECRET" not in log and "Traceback" not in log
    assert APP_TOKEN not in log and BOT_TOKEN not in log
