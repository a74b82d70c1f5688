"""A pass's claims confirmed and its outcomes recorded in batches, not one DM at a time.

Exactly once does not get weaker:
- a DM is sent only while its claim is confirmed this process's: one UPDATE renews a chunk of
  a lane's upcoming claims (`claimed_by` = this worker, still `claimed`) and returns which it
  still holds; a confirmation counts for `valid_seconds` (well under the lease), after which
  the claim is confirmed again before its send; a claim not confirmed is not sent;
- a "sent" is written with others, one statement and one commit per batch. Until its batch is
  written the row stays `claimed`, renewed by the pass's heartbeat; a crash in between leaves
  it `claimed`, and the resend reads the DM before posting (`Sender.find_delivered`), so the
  nudge is not doubled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, cast

from sqlalchemy import Table, bindparam, text, update

from bot.data.database import ENGINE_WORK_SECONDS, Database, DatabaseUnavailableError
from bot.data.models import LogStatus, NudgeLog
from bot.engine.sender import Outcome, Outgoing

log = logging.getLogger(__name__)

# How long a confirmed claim may wait for its send before it is confirmed again, at most: a
# small part of the lease (2 min by default; a pass uses lease / 8 when that is shorter), so
# no other process can have taken it over meanwhile.
CONFIRM_SECONDS = 15.0
# The most claims one statement confirms (bind parameters have limits).
CONFIRM_AT_ONCE = 1000
# Outcomes written together: at most this many wait, and the oldest no longer than this.
RECORD_BATCH = 50
RECORD_SECONDS = 0.25
# A failed write of a batch is tried again after this long (doubling, up to the maximum),
# and at the end of the pass this many times before the rows are left to the resend path.
RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0
FINAL_ATTEMPTS = 5


def confirm_claims(db: Database, keys: Sequence[int], *, worker: str, at: datetime) -> set[int]:
    """Renew these claims if this worker still holds them; the ones it does."""
    if not keys:
        return set()
    with db.session(ENGINE_WORK_SECONDS, fail_fast=False) as session:
        rows = session.execute(
            update(NudgeLog)
            .where(
                NudgeLog.id.in_(keys),
                NudgeLog.claimed_by == worker,
                NudgeLog.status == LogStatus.CLAIMED,
            )
            .values(claimed_at=at)
            .returning(NudgeLog.id)
            .execution_options(synchronize_session=False)
        )
        return {row[0] for row in rows}


@dataclass
class _Lane:
    keys: list[int] = field(default_factory=list)
    position: dict[int, int] = field(default_factory=dict)
    confirmed: dict[int, float] = field(default_factory=dict)  # key -> monotonic, when
    lock: threading.Lock = field(default_factory=threading.Lock)


class ClaimConfirmations:
    """`still_mine` for `Sender.send_all`, one UPDATE per chunk of a lane instead of per DM.

    `add` takes a round's items lane by lane in the order the sender takes them, and
    confirms every lane's first chunk at once (a few statements, not one per lane all at
    the start); asked about an item whose confirmation is missing or old, it renews that one
    and the next `chunk - 1` of its lane in one statement. `gate` bounds how many of these
    statements run at once: a pass gives the lock its writes of many log rows share, as two
    of them locking rows in different orders would deadlock."""

    def __init__(
        self,
        db: Database,
        *,
        worker: str,
        clock: Callable[[], datetime],
        chunk: int,
        gate: AbstractContextManager[Any] | None = None,
        valid_seconds: float = CONFIRM_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.worker = worker
        self.clock = clock
        self.chunk = max(1, chunk)
        self.gate = gate or threading.Lock()
        self.valid_seconds = valid_seconds
        self._monotonic = monotonic
        self._lanes: dict[str, _Lane] = {}
        self.statements = 0

    def _confirm(self, keys: Sequence[int]) -> tuple[float, set[int]]:
        """(when the confirmation counts from: before the UPDATE, the keys still held)."""
        with self.gate:
            asked = self._monotonic()
            mine = confirm_claims(self.db, keys, worker=self.worker, at=self.clock())
            self.statements += 1
        return asked, mine

    def add(self, items: Iterable[Outgoing]) -> None:
        """Before sending: the items in the order each lane sends them."""
        added: list[_Lane] = []
        for item in items:
            lane = self._lanes.get(item.team_id)
            if lane is None:
                lane = self._lanes[item.team_id] = _Lane()
            if not lane.keys:
                added.append(lane)
            lane.position[item.key] = len(lane.keys)
            lane.keys.append(item.key)
        first = [key for lane in added for key in lane.keys[: self.chunk]]
        for start in range(0, len(first), CONFIRM_AT_ONCE):
            keys = first[start : start + CONFIRM_AT_ONCE]
            try:
                asked, mine = self._confirm(keys)
            except DatabaseUnavailableError:
                # Unconfirmed: each is asked again before its send (and not sent unless it
                # is confirmed then), as if this statement had not been tried.
                log.warning("confirming %d claims failed; asking again before each send", len(keys))
                continue
            for lane in added:  # a lane whose key was not returned asks again when sending
                lane.confirmed.update(
                    (key, asked) for key in lane.keys[: self.chunk] if key in mine
                )

    def __call__(self, item: Outgoing) -> bool:
        lane = self._lanes.get(item.team_id)
        if lane is None or item.key not in lane.position:
            self.add([item])
            lane = self._lanes[item.team_id]
        with lane.lock:  # one lane's workers wait for its one statement
            when = lane.confirmed.get(item.key)
            if when is not None and self._monotonic() - when < self.valid_seconds:
                return True
            start = lane.position[item.key]
            keys = lane.keys[start : start + self.chunk]
            asked, mine = self._confirm(keys)
            for key in keys:
                if key in mine:
                    lane.confirmed[key] = asked
                else:
                    lane.confirmed.pop(key, None)
            return item.key in mine


class OutcomeBook:
    """Sent outcomes written in batches by a thread of their own: at most one commit per
    `batch` DMs or per `seconds`. A failed write keeps its batch and tries again; `close`
    writes what is left before the pass ends."""

    def __init__(
        self,
        db: Database,
        *,
        now: datetime,
        batch: int = RECORD_BATCH,
        seconds: float = RECORD_SECONDS,
        writes: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.db = db
        # Held while writing: the pass's other writes of many log rows wait (see above).
        self.writes = writes or threading.Lock()
        self.now = now
        self.batch = batch
        self.seconds = seconds
        self._pending: list[Outcome] = []
        self._oldest = 0.0
        self._condition = threading.Condition()
        self._closing = False
        self._retry_at = 0.0
        self._retry_wait = RETRY_SECONDS
        self._writing = threading.Lock()
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="psoas-outcomes", daemon=True)
        self._thread.start()

    def __enter__(self) -> OutcomeBook:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def sent(self, outcome: Outcome) -> None:
        with self._condition:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(outcome)
            if len(self._pending) >= self.batch:
                self._condition.notify()

    def _due(self) -> float | None:
        """Seconds until a write is due (0: now), None with nothing to write."""
        if not self._pending:
            return None
        now = time.monotonic()
        if now < self._retry_at:
            return self._retry_at - now
        if self._closing or len(self._pending) >= self.batch:
            return 0.0
        return max(0.0, self._oldest + self.seconds - now)

    def _run(self) -> None:
        while True:
            with self._condition:
                wait = self._due()
                while not self._closing and (wait is None or wait > 0):
                    self._condition.wait(timeout=wait)
                    wait = self._due()
                if self._closing:
                    return  # `close` writes what is left
            self._write()

    def _write(self) -> bool:
        """Write what waits, in one statement; True when nothing is left."""
        with self._writing:
            with self._condition:
                outcomes, self._pending = self._pending, []
            if not outcomes:
                return True
            try:
                with self.writes:
                    record_sent(self.db, outcomes, now=self.now)
            except Exception:
                log.exception("recording %d sent nudges failed; trying again", len(outcomes))
                with self._condition:
                    self._pending[:0] = outcomes  # the oldest first again
                    self._oldest = time.monotonic()
                    self._retry_at = time.monotonic() + self._retry_wait
                    self._retry_wait = min(self._retry_wait * 2, MAX_RETRY_SECONDS)
                return False
            self.commits += 1
            with self._condition:
                self._retry_wait = RETRY_SECONDS
                return not self._pending

    def close(self) -> None:
        """Write everything that waits. If the database will not take it, the rows stay
        `claimed`: a later pass reads each DM before resending it, so none is doubled."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join(timeout=ENGINE_WORK_SECONDS)
        for attempt in range(FINAL_ATTEMPTS):
            if self._write():
                return
            time.sleep(min(RETRY_SECONDS * 2**attempt, MAX_RETRY_SECONDS))
        with self._condition:
            left = len(self._pending)
        if left:
            log.error("%d sent nudges could not be recorded; a later pass checks them", left)


# PostgreSQL: one statement and one round trip for the whole batch, the columns as
# comma-joined text (Slack's channel ids and timestamps hold no comma), as claims does.
_PG_RECORD_SENT = text(
    """
    UPDATE nudge_log AS n
    SET status = 'sent', finished_at = :now,
        channel = NULLIF(raw.channel, ''), message_ts = NULLIF(raw.ts, '')
    FROM unnest(string_to_array(:ids, ','), string_to_array(:channels, ','),
                string_to_array(:stamps, ',')) AS raw(id, channel, ts)
    WHERE n.id = raw.id::bigint
    """
)


def record_sent(db: Database, outcomes: Sequence[Outcome], *, now: datetime) -> None:
    """Complete these log rows as sent: one statement, one commit."""
    with db.session(ENGINE_WORK_SECONDS, fail_fast=False) as session:
        if db.dialect == "postgresql":
            session.execute(
                _PG_RECORD_SENT,
                {
                    "now": now,
                    "ids": ",".join(str(o.key) for o in outcomes),
                    "channels": ",".join(o.channel or "" for o in outcomes),
                    "stamps": ",".join(o.ts or "" for o in outcomes),
                },
            )
            return
        table = cast(Table, NudgeLog.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                status=LogStatus.SENT,
                finished_at=now,
                channel=bindparam("b_channel"),
                message_ts=bindparam("b_ts"),
            )
        )
        rows = [{"b_id": o.key, "b_channel": o.channel, "b_ts": o.ts} for o in outcomes]
        session.execute(statement, rows)  # one executemany
