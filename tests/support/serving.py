"""Run the real WSGI stack (waitress) in a background thread, for tests and benchmarks."""

from __future__ import annotations

import threading

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
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):
            # Closing the listening socket under the event loop ends it this way.
            if not self._stopping.is_set():
                raise

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.server.close()
        self._thread.join(timeout=5)
