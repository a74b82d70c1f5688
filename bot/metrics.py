"""Prometheus metrics, served at /metrics (prometheus-client)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

NUDGES_SENT = Counter(
    "psoas_nudges_sent_total", "DMs delivered by the engine", ["kind"], registry=REGISTRY
)
NUDGES_FAILED = Counter(
    "psoas_nudges_failed_total",
    "DMs not delivered, by Slack's error code",
    ["error"],
    registry=REGISTRY,
)
NUDGES_UNVERIFIED = Counter(
    "psoas_nudges_unverified_total",
    "Resends not sent because the DM's history could not be read to rule out a double",
    ["reason"],
    registry=REGISTRY,
)
NUDGES_MISSED = Counter(
    "psoas_nudges_missed_total", "Slots dropped as too late after downtime", registry=REGISTRY
)
DUE_BACKLOG = Gauge(
    "psoas_due_backlog", "People due and not yet claimed after the last pass", registry=REGISTRY
)
TICK_SECONDS = Histogram(
    "psoas_tick_duration_seconds",
    "Time for one nudge pass",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "psoas_slack_request_seconds",
    "Time to answer a request from Slack, by kind (command, block_actions, event, ...)",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
RATE_LIMIT_WAITS = Counter(
    "psoas_rate_limit_waits_total",
    "Times a DM waited for the workspace's rate limit or a Retry-After",
    registry=REGISTRY,
)
TICK_LAST_SUCCESS = Gauge(
    "psoas_tick_last_success_timestamp_seconds",
    "When a nudge pass last finished without failing (Unix time)",
    registry=REGISTRY,
)
NUDGES_RELEASED = Counter(
    "psoas_nudges_released_total",
    "Claimed DMs handed back for a later pass because their workspace must wait (429)",
    registry=REGISTRY,
)
DATABASE_UNAVAILABLE = Counter(
    "psoas_database_unavailable_total",
    "Requests answered 'I can't reach my database' (or asked to be redelivered)",
    registry=REGISTRY,
)
SLACK_UNAVAILABLE = Counter(
    "psoas_slack_unavailable_total",
    "Web API calls that failed because Slack did not answer, or were not made during an outage",
    registry=REGISTRY,
)


class PassBeat:
    """When the nudge pass last finished well, or last showed it is alive mid-pass (its
    heartbeat): readiness reports it, and calls a scheduler that fell silent stale."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.last_success: float | None = None
        self.last_alive: float | None = None

    def succeeded(self) -> None:
        with self._lock:
            self.last_success = self.last_alive = self._monotonic()
        TICK_LAST_SUCCESS.set(time.time())

    def alive(self) -> None:
        with self._lock:
            self.last_alive = self._monotonic()


PASS_BEAT = PassBeat()
