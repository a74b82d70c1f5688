"""Prometheus metrics, served at /metrics (prometheus-client)."""

from __future__ import annotations

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
