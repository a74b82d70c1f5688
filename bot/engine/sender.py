"""Sending DMs within Slack's limits, and turning Slack's answers into outcomes.

Each workspace has its own lane: a token bucket at the configured rate, a pause shared by
the lane's workers when Slack answers 429 with `Retry-After`, and backoff with jitter on
5xx and network errors. A failure for one person never stops the others, and one
workspace's wait never holds another's: a pause longer than `max_pause` hands the lane's
DMs back to a later pass ("released") instead of keeping the pass, and its claims, waiting.

One rule for "did that DM go out?": whenever a send may have reached Slack without us
hearing so (a crash before the outcome was recorded, a timeout or a connection closed after
the request was written, an error Slack documents as possibly half-done), the DM itself is
read (`find_delivered`) before any retry; a DM that cannot be verified is not sent again.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import urllib.error
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.keepalive import KeepAliveWebClient
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
# Errors after which Slack may have posted the message all the same: its own reference says
# "it's possible some aspect of the operation succeeded" for these two
# (https://docs.slack.dev/reference/methods/chat.postMessage#errors), and a gateway's 5xx
# may come after the request went through.
MAYBE_POSTED_ERRORS = frozenset({"internal_error", "fatal_error"})
MAYBE_POSTED_STATUSES = frozenset({500, 502, 504})
RETRY_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable"})
# Retry-After: what a missing or unreadable value means, and the most we believe.
DEFAULT_RETRY_AFTER = 30.0
MAX_RETRY_AFTER = 600.0


def parse_retry_after(value: object, *, now: float | None = None) -> float:
    """Seconds to wait from a `Retry-After` header: delay-seconds, or an HTTP date
    (RFC 9110, 10.2.3); missing, negative or unreadable -> `DEFAULT_RETRY_AFTER`; never more
    than `MAX_RETRY_AFTER`."""
    text = str(value).strip() if value is not None else ""
    seconds: float | None = None
    if text:
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None and when.tzinfo is not None:
                seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return DEFAULT_RETRY_AFTER
    return min(seconds, MAX_RETRY_AFTER)


def not_sent(error: BaseException) -> bool:
    """A network error from before the request was written: Slack cannot have posted it.
    (urllib wraps what fails while connecting or sending in URLError; what fails while
    waiting for the answer comes raw: a timeout, a reset, a closed connection.)"""
    return isinstance(error, urllib.error.URLError)


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
    # unverified (a resend whose DM history could not be read: not sent, to never double) |
    # released (not sent: the workspace must wait longer than a pass holds; retry later)
    kind: str
    error: str | None = None
    channel: str | None = None
    ts: str | None = None
    # For `released`: seconds until the workspace may be sent to again.
    retry_in: float = 0.0


def _ids(item: Outgoing) -> dict[str, object]:
    """The log fields that say which nudge, for whom."""
    return {"nudge_id": item.key, "team_id": item.team_id, "user_id": item.user_id}


class RateLimiter:
    """One workspace's pace: at most `burst` sends in any `burst` intervals (an interval a
    little longer than 1 / rate), never two closer than half an interval, with a pause that
    every worker honours.

    Slack counts a workspace's messages over a window and lets short bursts through ("Short
    bursts >1 allowed", https://docs.slack.dev/apis/web-api/rate-limits): a window's worth
    goes at twice the rate, then the lane waits for the first of them to leave the window.
    Steady pacing sends as many in the long run, but its last window's sends trail over the
    whole window instead of half of it. Twice the rate, not all at once: a burst of new
    connections at one instant is what a server drops. After a 429 the lane goes on steadily
    from the pause's end: a burst right after Slack said "wait" would only meet more 429s."""

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
        self.burst = max(1, burst)
        self.window = self.burst * self.interval
        self.gap = self.interval / 2
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        # The latest `burst` slots taken (sorted): the next is a window after the oldest.
        self._slots: deque[float] = deque(maxlen=self.burst)
        self._paused_until = 0.0

    def acquire(self, max_pause: float = math.inf) -> float | None:
        """Wait for a slot to send; returns how long it waited in all, or None (and takes no
        slot) when a pause would make it wait longer than `max_pause`.

        A 429 that arrives while this worker sleeps pauses the whole lane: on waking, a
        slot that now falls inside the pause is given up and a later one taken."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._monotonic()
                if waited and now >= self._paused_until:
                    return waited  # woke at its slot, and no pause began meanwhile
                if self._paused_until - now > max_pause:
                    return None
                start = max(now, self._paused_until)
                if self._slots:
                    start = max(start, self._slots[-1] + self.gap)
                if len(self._slots) == self.burst:
                    start = max(start, self._slots[0] + self.window)
                self._slots.append(start)  # drops the oldest
            wait = start - now
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait

    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._monotonic())

    def pause(self, seconds: float) -> None:
        with self._lock:
            until = self._paused_until = max(self._paused_until, self._monotonic() + seconds)
            # As if the lane had sent one every interval up to the pause's end, so the next
            # go an interval apart from it; slots already taken beyond it still count.
            steady = [until - (self.burst - k) * self.interval for k in range(self.burst)]
            later = [slot for slot in self._slots if slot > until]
            self._slots = deque(sorted(steady + later)[-self.burst :], maxlen=self.burst)


class TokensOnce:
    """A workspace's token looked up once (per pass), however many DMs go to it; a lookup
    that fails is not remembered, so the next DM asks again."""

    def __init__(
        self, lookup: Callable[[str], str | None], gate: threading.Semaphore | None = None
    ) -> None:
        self._lookup = lookup
        # Bounds the lookups running at once (they may each take a database connection).
        self._gate = gate or threading.Semaphore(8)
        self._tokens: dict[str, str | None] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._lock = threading.Lock()

    def __call__(self, team_id: str) -> str | None:
        try:
            return self._tokens[team_id]
        except KeyError:
            pass
        with self._lock:
            team_lock = self._locks[team_id]
        with team_lock:  # a lane's workers wait for the one lookup
            if team_id not in self._tokens:
                with self._gate:
                    self._tokens[team_id] = self._lookup(team_id)
            return self._tokens[team_id]


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
        # The most sent at once, within a window of that many intervals (`RateLimiter`);
        # None: a second's worth at the rate.
        burst: int | None = None,
        workers_per_workspace: int = 4,
        # Threads for all lanes together. Each waits ~latency per request and spends ~1 ms
        # of CPU, so a few dozen keep a core busy; hundreds only fight over the GIL.
        max_threads: int = 256,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        timeout: float = 10.0,
        # The longest a lane waits out a Retry-After inside a pass; a longer one releases
        # its DMs to a later pass, so the pass (and the next) is never held by one workspace.
        max_pause: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url
        self.token_for = token_for
        self.rate_per_second = rate_per_second
        self.burst = burst if burst is not None else max(1, int(rate_per_second))
        self.workers_per_workspace = workers_per_workspace
        self.max_threads = max_threads
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.timeout = timeout
        self.max_pause = max_pause
        self._sleep = sleep
        self._monotonic = monotonic
        self._limiters: dict[str, RateLimiter] = {}
        self._clients: dict[str, WebClient] = {}
        self._lock = threading.Lock()
        self.stats = SenderStats()

    def _limiter(self, team_id: str) -> RateLimiter:
        # Found without the lock (a dict read is atomic): hundreds of workers would queue
        # on it, each holder losing the GIL for milliseconds while the others wait.
        found = self._limiters.get(team_id)
        if found is not None:
            return found
        with self._lock:
            if team_id not in self._limiters:
                self._limiters[team_id] = RateLimiter(
                    self.rate_per_second, self.burst, self._monotonic, self._sleep
                )
            return self._limiters[team_id]

    def _client(self, token: str) -> WebClient:
        found = self._clients.get(token)
        if found is not None:
            return found
        with self._lock:
            if token not in self._clients:
                # No SDK retry handlers: this class decides about retries and waits. Each
                # sending thread keeps its connection to Slack open from DM to DM.
                self._clients[token] = KeepAliveWebClient(
                    token=token, base_url=self.api_url, timeout=int(self.timeout), retry_handlers=[]
                )
            return self._clients[token]

    def send_all(
        self,
        items: Iterable[Outgoing],
        on_outcome: Callable[[Outcome], None],
        still_mine: Callable[[Outgoing], bool] = lambda _item: True,
        *,
        token_for: Callable[[str], str | None] | None = None,
    ) -> list[Outcome]:
        """Send every item, workspaces in parallel; `on_outcome` records each as it lands.

        `still_mine(item)` is asked just before each send: an item another process has
        taken over meanwhile is skipped, so it is never sent by both. `token_for` replaces
        the sender's own lookup (a pass passes one that asks once per workspace)."""
        with Dispatch(
            self, on_outcome, token_for or TokensOnce(self.token_for), keep=True
        ) as sending:
            sending.add(items, still_mine)
        return sending.outcomes

    def dispatch(
        self,
        on_outcome: Callable[[Outcome], None],
        *,
        token_for: Callable[[str], str | None] | None = None,
    ) -> Dispatch:
        """Sending fed as it goes (`Dispatch`): a pass hands over a round while the one
        before is still going out. Outcomes go to `on_outcome` only, not kept: a pass may
        send a hundred thousand."""
        return Dispatch(self, on_outcome, token_for or TokensOnce(self.token_for))

    def _backoff(self, attempt: int, *, at_least: float = 0.0) -> None:
        self.stats.retries += 1
        self._sleep(max(at_least, self.backoff_base * (2**attempt) * random.uniform(0.5, 1.5)))

    def find_delivered(self, client: WebClient, item: Outgoing) -> Outcome | None:
        """Was this DM sent already (by a process that died before recording it)? Look in
        the DM itself, from the slot on. None means it is not there: send it.

        When the history cannot be read (Slack's one-a-minute limit on history, an error,
        more messages since the slot than one page holds) the answer is "unverified": the
        nudge is not sent again, because a lost nudge is better than a doubled one."""
        try:
            channel = (
                item.user_id  # a channel id (a team break): posted there, not in a DM
                if item.user_id[:1] in ("C", "G")
                else client.conversations_open(users=item.user_id)["channel"]["id"]
            )
            history = client.conversations_history(
                channel=channel,
                limit=HISTORY_LIMIT,
                oldest=f"{max(0.0, item.not_before - CLOCK_SLACK_SECONDS):.6f}",
                include_all_metadata=True,
            )
        except SlackApiError as exc:
            code = exc.response.get("error") or f"http_{exc.response.status_code}"
            return self._unverified(item, str(code))
        except (OSError, HTTPException, KeyError, TypeError) as exc:
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

    def send_one(
        self, item: Outgoing, *, token_for: Callable[[str], str | None] | None = None
    ) -> Outcome:
        token = (token_for or self.token_for)(item.team_id)
        if not token:
            return Outcome(item.key, item.team_id, item.user_id, "workspace", "no_token")
        client = self._client(token)
        limiter = self._limiter(item.team_id)
        # Whether the DM may be in Slack already: a crash before its outcome was recorded,
        # or an attempt below whose answer never came. Then it is looked for before a post.
        maybe_posted = item.check_delivered_first
        last_error = "retries_exhausted"
        for attempt in range(self.max_attempts):
            waited = limiter.acquire(self.max_pause)
            if waited is None:
                return self._released(item, limiter.paused_for(), maybe_posted)
            if waited > 0:
                self.stats.rate_limit_waits += 1
                RATE_LIMIT_WAITS.inc()
            if maybe_posted:
                delivered = self.find_delivered(client, item)
                if delivered is not None:
                    return delivered
                maybe_posted = False  # not there: this attempt posts it
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
                    pause = parse_retry_after(exc.response.headers.get("Retry-After"))
                    limiter.pause(pause)
                    self.stats.retries += 1
                    last_error = "ratelimited"
                    continue  # the next acquire waits the pause out, or releases the DM
                if status >= 500 or code in RETRY_ERRORS:
                    last_error = code
                    maybe_posted = code in MAYBE_POSTED_ERRORS or status in MAYBE_POSTED_STATUSES
                    self._backoff(attempt)
                    continue
                if code in PERSON_ERRORS:
                    return Outcome(item.key, item.team_id, item.user_id, "person", code)
                if code in WORKSPACE_ERRORS:
                    return Outcome(item.key, item.team_id, item.user_id, "workspace", code)
                return Outcome(item.key, item.team_id, item.user_id, "failed", code)
            except (OSError, HTTPException) as exc:
                last_error = type(exc).__name__
                # A timeout or a closed connection after the request went out: Slack may
                # have posted it. Give it as long again to finish, then look before a retry.
                maybe_posted = not not_sent(exc)
                self._backoff(attempt, at_least=self.timeout if maybe_posted else 0.0)
        if last_error == "ratelimited":  # still limited after every attempt: a later pass
            return self._released(item, limiter.paused_for(), maybe_posted)
        if maybe_posted:  # the last attempt may have gone through: look once more
            delivered = self.find_delivered(client, item)
            if delivered is not None:
                return delivered
        return Outcome(item.key, item.team_id, item.user_id, "failed", last_error)

    def _released(self, item: Outgoing, pause: float, maybe_posted: bool) -> Outcome:
        """The workspace must wait longer than a pass holds: hand the DM back for a later
        pass. One that may be in Slack already cannot be handed back without a check this
        pass cannot make (the wait is Slack's): it is not sent again, never doubled."""
        if maybe_posted:
            return self._unverified(item, "ratelimited")
        RATE_LIMIT_WAITS.inc()
        return Outcome(
            item.key, item.team_id, item.user_id, "released", "ratelimited", retry_in=pause
        )


@dataclass
class _Lane:
    """One workspace's items waiting to be sent, each with its own `still_mine`."""

    waiting: deque[tuple[Outgoing, Callable[[Outgoing], bool]]] = field(default_factory=deque)
    workers: int = 0  # running, or queued in the pool


class Dispatch:
    """A pass's sending, fed round by round: `add` hands over items while earlier ones are
    still going out, each workspace's lane keeping the order they were added in, and `close`
    (or leaving the `with`) waits for the last outcome.

    Each lane has up to `workers_per_workspace` workers, started every lane's first before
    any lane's second: with more lanes than threads, as many workspaces as possible send at
    once, each at its own pace. A worker takes the next item of its lane until none waits;
    an item is taken once, and `still_mine` is asked just before its send."""

    def __init__(
        self,
        sender: Sender,
        on_outcome: Callable[[Outcome], None],
        token_for: Callable[[str], str | None],
        *,
        keep: bool = False,
    ) -> None:
        self.sender = sender
        self.on_outcome = on_outcome
        self.token_for = token_for
        self.keep = keep
        self.outcomes: list[Outcome] = []  # with `keep`
        self._condition = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._waiting = 0
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []

    def __enter__(self) -> Dispatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(
        self,
        items: Iterable[Outgoing],
        still_mine: Callable[[Outgoing], bool] = lambda _item: True,
    ) -> None:
        with self._condition:
            for item in items:
                lane = self._lanes.get(item.team_id)
                if lane is None:
                    lane = self._lanes[item.team_id] = _Lane()
                lane.waiting.append((item, still_mine))
                self._waiting += 1
            starts = {
                team_id: min(self.sender.workers_per_workspace, lane.workers + len(lane.waiting))
                - lane.workers
                for team_id, lane in self._lanes.items()
            }
            jobs = [
                team_id
                for turn in range(max(starts.values(), default=0))
                for team_id, count in starts.items()
                if turn < count
            ]
            if not jobs:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.sender.max_threads, thread_name_prefix="psoas-send"
                )
            # A pass starts workers round after round, hundreds a round when every lane sends
            # at once: keep only those running or failed, for `close` to wait on or raise.
            self._futures = [f for f in self._futures if not f.done() or f.exception()]
            for team_id in jobs:
                lane = self._lanes[team_id]
                lane.workers += 1
                self._futures.append(self._pool.submit(self._work, lane))

    def wait_for_room(self, waiting: int) -> None:
        """Until at most `waiting` items handed over are not yet taken by a worker."""
        with self._condition:
            self._condition.wait_for(lambda: self._waiting <= waiting)

    def close(self) -> list[Outcome]:
        """Wait for every item's outcome; the outcomes."""
        while True:
            with self._condition:
                futures, self._futures = self._futures, []
            if not futures:
                break
            for future in futures:
                future.result()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        return self.outcomes

    def _work(self, lane: _Lane) -> None:
        sender = self.sender
        while True:
            with self._condition:
                if not lane.waiting:
                    lane.workers -= 1
                    return
                item, still_mine = lane.waiting.popleft()
                self._waiting -= 1
                self._condition.notify_all()
            try:
                if not still_mine(item):
                    continue
                outcome = sender.send_one(item, token_for=self.token_for)
            except Exception as exc:  # one bad item must not stop the rest
                log.exception("sending a nudge failed", extra=_ids(item))
                outcome = Outcome(
                    item.key, item.team_id, item.user_id, "failed", type(exc).__name__
                )
            try:
                self.on_outcome(outcome)
            except Exception:
                log.exception("recording a nudge's outcome failed", extra=_ids(item))
            if self.keep:
                with self._condition:
                    self.outcomes.append(outcome)
