"""Sending DMs within Slack's limits, and turning Slack's answers into outcomes.

Each workspace has its own lane: a token bucket at the configured rate, a pause shared by
the lane's workers when Slack answers 429 with `Retry-After`, and backoff with jitter on
5xx and network errors. A failure for one person never stops the others.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.metrics import RATE_LIMIT_WAITS

log = logging.getLogger(__name__)

# The person cannot receive DMs: stop nudging them and say why in `status`.
PERSON_ERRORS = frozenset(
    {"account_inactive", "user_not_found", "user_disabled", "channel_not_found",
     "messages_tab_disabled", "cannot_dm_bot"}
)  # fmt: skip
METADATA_EVENT = "psoas_nudge"
# conversations.history for apps outside the Marketplace since 29 May 2025: at most 15
# messages a call, one call a minute
# (https://docs.slack.dev/reference/methods/conversations.history, "non-Marketplace apps").
HISTORY_LIMIT = 15
# Slack's clock and ours may differ a little: look this much before the slot too.
CLOCK_SLACK_SECONDS = 60.0
# The bot lost its access to the whole workspace.
WORKSPACE_ERRORS = frozenset({"invalid_auth", "token_revoked", "not_authed", "team_not_found"})


@dataclass(frozen=True)
class Outgoing:
    key: int  # the nudge log row
    team_id: str
    user_id: str
    text: str
    blocks: list[dict[str, Any]]
    check_delivered_first: bool = False
    # When the DM could first have gone out (epoch seconds): where a check looks from.
    not_before: float = 0.0


@dataclass(frozen=True)
class Outcome:
    key: int
    team_id: str
    user_id: str
    # sent | person (stop nudging them) | workspace (stop the workspace) | failed |
    # unverified (a resend whose DM history could not be read: not sent, to never double)
    kind: str
    error: str | None = None
    channel: str | None = None
    ts: str | None = None


def _ids(item: Outgoing) -> dict[str, object]:
    """The log fields that say which nudge, for whom."""
    return {"nudge_id": item.key, "team_id": item.team_id, "user_id": item.user_id}


class RateLimiter:
    """A token bucket for one workspace, with a pause that every worker honours."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
        headroom: float = 0.1,
    ) -> None:
        # A little slower than the limit: sending exactly at it, a message that arrives a
        # millisecond late lands in the same one-second window as one sent a second later.
        self.interval = (1.0 + headroom) / rate_per_second
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = monotonic()
        self._paused_until = 0.0

    def acquire(self) -> float:
        """Wait for a slot to send; returns how long it waited in all.

        A 429 that arrives while this worker sleeps pauses the whole lane: on waking, a
        slot that now falls inside the pause is given up and a later one taken."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._monotonic()
                if waited and now >= self._paused_until:
                    return waited  # woke at its slot, and no pause began meanwhile
                start = max(
                    now, self._paused_until, self._next_free - (self.burst - 1) * self.interval
                )
                self._next_free = max(self._next_free, start) + self.interval
            wait = start - now
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._monotonic() + seconds)
            self._next_free = max(self._next_free, self._paused_until)


@dataclass
class SenderStats:
    rate_limit_waits: int = 0
    retries: int = 0


class Sender:
    def __init__(
        self,
        *,
        api_url: str,
        token_for: Callable[[str], str | None],
        rate_per_second: float = 5.0,
        # A burst lets several through at once after every pause, which Slack answers
        # with a string of 429s; steady pacing is faster overall.
        burst: int = 1,
        workers_per_workspace: int = 4,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url
        self.token_for = token_for
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.workers_per_workspace = workers_per_workspace
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.timeout = timeout
        self._sleep = sleep
        self._monotonic = monotonic
        self._limiters: dict[str, RateLimiter] = {}
        self._clients: dict[str, WebClient] = {}
        self._lock = threading.Lock()
        self.stats = SenderStats()

    def _limiter(self, team_id: str) -> RateLimiter:
        with self._lock:
            if team_id not in self._limiters:
                self._limiters[team_id] = RateLimiter(
                    self.rate_per_second, self.burst, self._monotonic, self._sleep
                )
            return self._limiters[team_id]

    def _client(self, token: str) -> WebClient:
        with self._lock:
            if token not in self._clients:
                # No SDK retry handlers: this class decides about retries and waits.
                self._clients[token] = WebClient(
                    token=token, base_url=self.api_url, timeout=int(self.timeout), retry_handlers=[]
                )
            return self._clients[token]

    def send_all(
        self,
        items: Iterable[Outgoing],
        on_outcome: Callable[[Outcome], None],
        still_mine: Callable[[Outgoing], bool] = lambda _item: True,
    ) -> list[Outcome]:
        """Send every item, workspaces in parallel; `on_outcome` records each as it lands.

        `still_mine(item)` is asked just before each send: an item another process has
        taken over meanwhile is skipped, so it is never sent by both."""
        lanes: dict[str, deque[Outgoing]] = defaultdict(deque)
        for item in items:
            lanes[item.team_id].append(item)
        if not lanes:
            return []
        outcomes: list[Outcome] = []
        done = threading.Lock()

        def work(team_id: str) -> None:
            lane = lanes[team_id]
            while True:
                try:
                    item = lane.popleft()
                except IndexError:
                    return
                try:
                    if not still_mine(item):
                        continue
                    outcome = self.send_one(item)
                except Exception as exc:  # one bad item must not stop the rest
                    log.exception("sending a nudge failed", extra=_ids(item))
                    outcome = Outcome(
                        item.key, item.team_id, item.user_id, "failed", type(exc).__name__
                    )
                try:
                    on_outcome(outcome)
                except Exception:
                    log.exception("recording a nudge's outcome failed", extra=_ids(item))
                with done:
                    outcomes.append(outcome)

        jobs = [
            team_id
            for team_id, lane in lanes.items()
            for _ in range(min(self.workers_per_workspace, len(lane)))
        ]
        with ThreadPoolExecutor(max_workers=min(256, len(jobs))) as pool:
            for future in [pool.submit(work, team_id) for team_id in jobs]:
                future.result()
        return outcomes

    def _backoff(self, attempt: int) -> None:
        self.stats.retries += 1
        self._sleep(self.backoff_base * (2**attempt) * random.uniform(0.5, 1.5))

    def find_delivered(self, client: WebClient, item: Outgoing) -> Outcome | None:
        """Was this DM sent already (by a process that died before recording it)? Look in
        the DM itself, from the slot on. None means it is not there: send it.

        When the history cannot be read (Slack's one-a-minute limit on history, an error,
        more messages since the slot than one page holds) the answer is "unverified": the
        nudge is not sent again, because a lost nudge is better than a doubled one."""
        try:
            channel = client.conversations_open(users=item.user_id)["channel"]["id"]
            history = client.conversations_history(
                channel=channel,
                limit=HISTORY_LIMIT,
                oldest=f"{max(0.0, item.not_before - CLOCK_SLACK_SECONDS):.6f}",
                include_all_metadata=True,
            )
        except SlackApiError as exc:
            code = exc.response.get("error") or f"http_{exc.response.status_code}"
            return self._unverified(item, str(code))
        except (OSError, TimeoutError, KeyError, TypeError) as exc:
            return self._unverified(item, type(exc).__name__)
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT and payload.get("nudge") == item.key:
                return Outcome(
                    item.key, item.team_id, item.user_id, "sent", channel=channel,
                    ts=message.get("ts"),
                )  # fmt: skip
        if history.get("has_more"):
            return self._unverified(item, "history_has_more")
        return None

    def _unverified(self, item: Outgoing, reason: str) -> Outcome:
        log.warning("could not tell whether a nudge went out: not resending it (%s)", reason,
                    extra=_ids(item))  # fmt: skip
        return Outcome(item.key, item.team_id, item.user_id, "unverified", reason)

    def send_one(self, item: Outgoing) -> Outcome:
        token = self.token_for(item.team_id)
        if not token:
            return Outcome(item.key, item.team_id, item.user_id, "workspace", "no_token")
        client = self._client(token)
        limiter = self._limiter(item.team_id)
        if item.check_delivered_first:
            delivered = self.find_delivered(client, item)
            if delivered is not None:
                return delivered
        last_error = "retries_exhausted"
        for attempt in range(self.max_attempts):
            if limiter.acquire() > 0:
                self.stats.rate_limit_waits += 1
                RATE_LIMIT_WAITS.inc()
            try:
                # A user id as the channel posts in the app's DM with that person.
                response = client.chat_postMessage(
                    channel=item.user_id,
                    text=item.text,
                    blocks=item.blocks,
                    # Marks the message as this nudge, so a resend can look for it first.
                    metadata={"event_type": METADATA_EVENT, "event_payload": {"nudge": item.key}},
                )
                return Outcome(
                    item.key, item.team_id, item.user_id, "sent",
                    channel=response.get("channel"), ts=response.get("ts"),
                )  # fmt: skip
            except SlackApiError as exc:
                status = exc.response.status_code
                code = str(exc.response.get("error") or f"http_{status}")
                if status == 429 or code == "ratelimited":
                    retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
                    limiter.pause(retry_after)
                    self.stats.retries += 1
                    last_error = "ratelimited"
                    continue
                if status >= 500 or code in (
                    "internal_error",
                    "fatal_error",
                    "service_unavailable",
                ):
                    last_error = code
                    self._backoff(attempt)
                    continue
                if code in PERSON_ERRORS:
                    return Outcome(item.key, item.team_id, item.user_id, "person", code)
                if code in WORKSPACE_ERRORS:
                    return Outcome(item.key, item.team_id, item.user_id, "workspace", code)
                return Outcome(item.key, item.team_id, item.user_id, "failed", code)
            except (OSError, TimeoutError) as exc:
                last_error = type(exc).__name__
                self._backoff(attempt)
        return Outcome(item.key, item.team_id, item.user_id, "failed", last_error)
