"""A TCP proxy on an ephemeral loopback port in front of PostgreSQL, that can pass traffic,
refuse new connections, hang (accept and forward nothing, as a stuck network does), or cut
every open connection: the faults a database's network has on a bad day.

It forwards to 127.0.0.1 only. Every loop waits on `select` with a short timeout and ends
when the proxy stops, so nothing it starts outlives a test.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from enum import StrEnum
from typing import Self

POLL_SECONDS = 0.05
CHUNK = 65536


class Mode(StrEnum):
    PASS = "pass"  # forward everything both ways
    REFUSE = "refuse"  # new connections are reset at once; open ones keep working
    HANG = "hang"  # accept, forward nothing either way, answer nothing, close nothing


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed peer or a firewall does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Pipe:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client, self.upstream = client, upstream
        self.closed = False

    def close(self, *, reset: bool) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            if sock is not None:
                _reset(sock) if reset else sock.close()


class FaultyProxy:
    def __init__(self, upstream_port: int = 5432) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.mode = Mode.PASS
        self._pipes: list[_Pipe] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.accepted = 0

    def url(self, database_url: str) -> str:
        """`database_url` (on 127.0.0.1:5432) reached through this proxy instead."""
        host = f"127.0.0.1:{self.upstream[1]}"
        assert host in database_url, f"the proxy forwards to {host} only"
        return database_url.replace(host, f"127.0.0.1:{self.port}", 1)

    # -- the faults ----------------------------------------------------------------

    def set(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode

    def cut(self) -> None:
        """Reset every open connection now; new ones follow the current mode."""
        with self._lock:
            pipes, self._pipes = self._pipes, []
        for pipe in pipes:
            pipe.close(reset=True)

    def heal(self) -> None:
        """Back to passing traffic. Connections that hung stay dead (reset): a stuck
        network that recovers does not give back what the client already gave up on."""
        self.set(Mode.PASS)
        self.cut()

    # -- running ---------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._spawn(self._accept_loop, "proxy-accept")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._listener.close()
        self.cut()
        for thread in self._threads:
            thread.join(timeout=2)
        assert not any(t.is_alive() for t in self._threads), "a proxy thread did not stop"

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], POLL_SECONDS)
                if not ready:
                    continue
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener closed: stopping
            self.accepted += 1
            mode = self.mode
            if mode == Mode.REFUSE:
                _reset(client)
                continue
            upstream = None
            if mode == Mode.PASS:
                try:
                    upstream = socket.create_connection(self.upstream, timeout=2)
                except OSError:
                    _reset(client)
                    continue
            pipe = _Pipe(client, upstream)
            with self._lock:
                self._pipes.append(pipe)
            self._spawn(self._pump, "proxy-pipe", pipe)

    def _pump(self, pipe: _Pipe) -> None:
        """Forward both ways while passing; forward nothing while hanging."""
        while not pipe.closed and not self._stopping.is_set():
            if self.mode == Mode.HANG or pipe.upstream is None:
                self._stopping.wait(POLL_SECONDS)
                continue
            try:
                ready, _, _ = select.select([pipe.client, pipe.upstream], [], [], POLL_SECONDS)
                for source in ready:
                    if self.mode == Mode.HANG:
                        break
                    data = source.recv(CHUNK)
                    if not data:
                        pipe.close(reset=False)
                        break
                    target = pipe.upstream if source is pipe.client else pipe.client
                    target.sendall(data)
            except (OSError, ValueError):  # closed under us (cut), or by the peer
                pipe.close(reset=False)
        with self._lock:
            if pipe in self._pipes:
                self._pipes.remove(pipe)
