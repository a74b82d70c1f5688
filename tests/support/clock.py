"""Time as a parameter: the bot's clock, and the sender's, set by the test instead of slept."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass
class Clock:
    """The bot's clock (`build_app(clock=...)`): real time unless a test sets `fixed`."""

    fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)


class SteppedTime:
    """The sender's `monotonic` and `sleep`: a sleep moves this clock on at once and is kept,
    so a test sees each wait (pacing, Retry-After, backoff) without spending it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds
