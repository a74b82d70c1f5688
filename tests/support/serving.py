"""Run the real WSGI stack (waitress) in a background thread, for tests and benchmarks.

Stopping is immediate: the thread runs waitress's event loop itself, one poll at a time, and
`__exit__` wakes that poll through waitress's trigger instead of waiting out the loop's
timeout (a second by default) or a client's idle keep-alive connection.
"""

from __future__ import annotations

import contextlib
import threading

from waitress import wasyncore

from bot.slack.wsgi import WebApp, make_server


class BackgroundServer:
    def __init__(self, web_app: WebApp, *, threads: int = 4) -> None:
        self.server = make_server(
            web_app,
            host="127.0.0.1",
            port=0,
            threads=threads,
            max_body_bytes=web_app.max_body_bytes,
        )
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-waitress", daemon=True)

    def _run(self) -> None:
        server = self.server
        socket_map = server._map  # the sockets waitress's loop watches: listener, trigger, clients
        timeout = server.adj.asyncore_loop_timeout
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=timeout, map=socket_map, count=1)
        finally:
            # In the loop's own thread, so no poll is using a socket while it closes.
            server.task_dispatcher.shutdown()
            wasyncore.close_all(socket_map)

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        # Wakes the poll now; if the loop saw the flag first, it has closed the trigger.
        with contextlib.suppress(OSError):
            self.server.pull_trigger()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "the test server did not stop"
