"""One nudge pass (a tick): resend what a crash left, claim who is due, render, send, record.

The claims (`claims`) are short transactions, taken in rounds; rendering and sending happen
after each, while a heartbeat keeps this process's claims from looking abandoned. Claims are
confirmed and outcomes recorded in batches (`outcomes`), tokens looked up once per workspace
and a nudge rendered once per slot, so a DM costs little more than its request to Slack.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.content import Library
from bot.data.database import Database, DatabaseUnavailableError
from bot.data.models import LogKind
from bot.data.workspaces import refresh_spreads
from bot.engine.claims import (
    CLAIM_BATCH,
    CLAIM_LEASE,
    Claimed,
    NextNudges,
    claim_due,
    claim_released,
    due_backlog,
    reclaim_stale,
    record_outcome,
    release,
    renew_claims,
    store_next_nudges,
)
from bot.engine.outcomes import CONFIRM_SECONDS, ClaimConfirmations, OutcomeBook
from bot.engine.sender import Dispatch, Outcome, Outgoing, Sender, TokensOnce
from bot.engine.summaries import claim_summaries, summary_messages
from bot.engine.team_breaks import run_team_breaks
from bot.metrics import (
    DUE_BACKLOG,
    NUDGES_FAILED,
    NUDGES_MISSED,
    NUDGES_RELEASED,
    NUDGES_SENT,
    NUDGES_UNVERIFIED,
    PASS_BEAT,
    TICK_SECONDS,
)
from bot.render.kit import Message
from bot.render.nudge import build_nudge

log = logging.getLogger(__name__)

_PROCESS_ID = uuid.uuid4().hex[:8]
# A round of a pass takes, of one workspace's due people, what it can send in this long.
ROUND_SECONDS = 60.0
# The first round of a pass claims at most this many, and of each workspace what it sends
# in its first window (a second's worth, `RateLimiter`), so sending starts after a claim of
# tens of milliseconds in every workspace; the rest are claimed while those go out.
FIRST_BATCH = 200
FIRST_SECONDS = 1.0
# A next round is claimed when all lanes together have at most this part of a round left
# to send: time enough for the claim, so no lane waits for it, and what a pass holds stays
# about one round, however many are due.
ROOM = 0.25


def worker_name() -> str:
    """Unique per process, even when a restarted container reuses its hostname and pid."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{_PROCESS_ID}"


@dataclass
class TickReport:
    due: int = 0
    claimed: int = 0
    summaries: int = 0
    resent: int = 0
    missed: int = 0
    abandoned: int = 0
    # Claims an earlier pass handed back (their workspace had to wait), taken up again.
    retried: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def count(self, outcome: Outcome) -> None:
        key = outcome.kind if outcome.kind == "sent" else f"{outcome.kind}:{outcome.error}"
        self.outcomes[key] += 1

    @property
    def sent(self) -> int:
        return self.outcomes["sent"]


@contextmanager
def heartbeat(
    db: Database,
    *,
    worker: str,
    lease: timedelta,
    clock: Callable[[], datetime],
    writes: AbstractContextManager[Any] | None = None,
) -> Iterator[None]:
    """Renew this process's claims every third of the lease while a pass runs, so only a
    process that died (and stopped renewing) has its claims taken over. `writes` is held
    while renewing: the pass's other writes of many log rows wait, not deadlock with it."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                with writes or nullcontext():
                    renew_claims(db, worker=worker, at=clock())
                PASS_BEAT.alive()
            except Exception:
                log.exception("renewing nudge claims failed")

    thread = threading.Thread(target=beat, name="psoas-claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def render_claim(
    db: Database,
    claim: Claimed,
    library: Library,
    *,
    now: datetime,
    nudges: dict[datetime, Message] | None = None,
    summaries: Mapping[int, Message | None] | None = None,
) -> Outgoing | None:
    """The DM for one claim. A nudge depends only on its slot: rendered once per slot when
    given a `nudges` cache (a pass's), and shared. A weekly summary reads the person's stats
    now, outside any claim's transaction (`summaries`: a round's, rendered together). None
    if the person is gone."""
    if claim.kind == LogKind.SUMMARY:
        if summaries is None:
            summaries = summary_messages(db, [claim], library, now=now)
        summary = summaries[claim.log_id]
        if summary is None:  # forgotten since the claim
            return None
        message = summary
    else:
        cached = nudges.get(claim.slot) if nudges is not None else None
        message = cached or build_nudge(library, claim.slot)
        if nudges is not None and cached is None:
            nudges[claim.slot] = message
    return Outgoing(
        claim.log_id,
        claim.team_id,
        claim.user_id,
        message.text,
        message.blocks,
        check_delivered_first=claim.resend,
        not_before=claim.slot.timestamp(),
    )


def store_later(db: Database, next_nudges: NextNudges) -> None:
    """`store_next_nudges`, which a pass survives: the claim already queued each next nudge,
    so a row left behind shows its old one until the next claim (which takes the queued
    one, `claims.pending`), and a settings change meanwhile still starts right."""
    try:
        store_next_nudges(db, next_nudges)
    except DatabaseUnavailableError as exc:
        log.warning("next nudges not stored in people's rows", extra={"error": str(exc)})


def per_workspace_share(sender: Sender, seconds: float = ROUND_SECONDS) -> int:
    """How many of one workspace's due people a round of a pass takes: what it can send in
    `ROUND_SECONDS` at its rate, so one workspace's backlog never holds back the others."""
    return max(1, math.ceil(sender.rate_per_second * seconds))


def run_tick(
    db: Database,
    sender: Sender,
    library: Library,
    *,
    now: datetime,
    worker: str | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    lease: timedelta = CLAIM_LEASE,
    batch: int = CLAIM_BATCH,
) -> TickReport:
    """One pass: resend what a crash left, take up what an earlier pass handed back, claim
    who is due, send, record.

    Who is due is claimed in rounds of at most `batch` (and a bounded share per workspace)
    until no one is left due at `now`, each round claimed while the one before still goes
    out: a pass holds at most one round's claims and a quarter round left to send, however
    many are due."""
    started = time.perf_counter()
    me = worker or worker_name()
    report = TickReport()
    resend, report.abandoned = reclaim_stale(db, now=now, worker=me, lease=lease)
    retried, too_late = claim_released(db, now=now, worker=me)
    report.abandoned += too_late
    summaries = claim_summaries(db, now=now, worker=me)
    refresh_spreads(db, rate_per_second=sender.rate_per_second, now=now)  # at most hourly
    report.resent, report.summaries = len(resend), len(summaries)
    report.retried = len(retried)
    # Only what is not a nudge: the metric's label for the rest.
    kinds = {c.log_id: c.kind for c in [*resend, *retried] if c.kind != LogKind.NUDGE}
    counting = threading.Lock()

    def pass_clock() -> datetime:
        return now + timedelta(seconds=time.perf_counter() - started)

    share = per_workspace_share(sender)
    first_share = per_workspace_share(sender, FIRST_SECONDS)
    # A confirmation lives a small part of the lease (the lease may be set short), and a
    # lane's claims are confirmed at once by what it sends in half that time.
    valid = min(CONFIRM_SECONDS, lease.total_seconds() / 8)
    chunk = max(1, math.ceil(sender.rate_per_second * valid / 2))
    nudges: dict[datetime, Message] = {}
    # The sender's workers touch the database only through this many at once, well inside
    # the pool: hundreds of lanes starting together must not wait out its checkout bound.
    gate = threading.BoundedSemaphore(max(1, db.bounds.pool_size // 2))
    tokens = TokensOnce(sender.token_for, gate)  # one lookup per workspace per pass
    # The pass's writes of log rows, taken one at a time: two UPDATEs of many rows each,
    # locking them in different orders, deadlock (the heartbeat's, a confirmation's, a
    # batch of outcomes'); each is a few milliseconds.
    writes = threading.Lock()

    with (
        heartbeat(db, worker=me, lease=lease, clock=pass_clock, writes=writes),
        OutcomeBook(db, now=now, writes=writes) as book,
    ):

        def record(outcome: Outcome) -> None:
            if outcome.kind == "sent":
                book.sent(outcome)  # written with others, within RECORD_SECONDS
            elif outcome.kind == "released":
                # Unsent; its workspace must wait longer than a pass holds: a later pass.
                until = pass_clock() + timedelta(seconds=outcome.retry_in)
                with writes:
                    release(db, outcome.key, worker=me, until=until)
                NUDGES_RELEASED.inc()
            else:
                with writes:
                    record_outcome(db, outcome, now=now)
            with counting:
                report.count(outcome)
            if outcome.kind == "sent":
                NUDGES_SENT.labels(kinds.get(outcome.key, LogKind.NUDGE)).inc()
            elif outcome.kind == "unverified":
                NUDGES_UNVERIFIED.labels(outcome.error or "unknown").inc()
            elif outcome.kind != "released":
                NUDGES_FAILED.labels(outcome.error or outcome.kind).inc()
            if on_outcome is not None:
                on_outcome(outcome)

        def send(claims: list[Claimed], sending: Dispatch) -> None:
            # Every weekly summary of the round at once: their stats in a few queries.
            weekly = [c for c in claims if c.kind == LogKind.SUMMARY]
            weeks = summary_messages(db, weekly, library, now=now) if weekly else {}
            rendered = (
                render_claim(db, c, library, now=now, nudges=nudges, summaries=weeks)
                for c in claims
            )
            items = [item for item in rendered if item is not None]
            mine = ClaimConfirmations(
                db, worker=me, clock=pass_clock, chunk=chunk, gate=writes, valid_seconds=valid
            )
            mine.add(items)
            sending.add(items, mine)

        round_: list[Claimed] = [*resend, *retried, *summaries]
        first = True
        with sender.dispatch(record, token_for=tokens) as sending:
            while True:
                # Claims and sends overlap: the first round is small, so the first DMs go
                # out after a cheap claim, and the next is claimed at once while they go;
                # later ones when the lanes have `ROOM` of a round left. Never two claims
                # at once, and each holds the pass's lock on writes of log rows (SQLite has
                # one writer: a confirmation must not wait out a claim inside its bound).
                next_nudges = NextNudges()
                with writes:
                    claims, due, missed = claim_due(
                        db,
                        now=now,
                        worker=me,
                        batch=min(batch, FIRST_BATCH) if first else batch,
                        per_workspace=min(share, first_share) if first else share,
                        later=next_nudges,
                    )
                if first:  # everyone due at `now`, this round's people included
                    report.due = due
                report.claimed += len(claims)
                report.missed += missed
                round_ += claims
                if round_:
                    send(round_, sending)
                round_ = []
                # While the round's first DMs go: each claimed person's row learns their
                # next nudge (the claim already queued it).
                with writes:
                    store_later(db, next_nudges)
                # No one left due at `now`, or a round that changed no one (what is left
                # is held by another pass): the next tick looks again.
                if not due or not (claims or missed):
                    break
                if not first:
                    sending.wait_for_room(int(batch * ROOM))
                first = False
    # Team stretch breaks in channels: their own claims, after everyone's personal nudges.
    run_team_breaks(db, sender, library, now=now, worker=me, lease=lease)
    NUDGES_MISSED.inc(report.missed)
    DUE_BACKLOG.set(due_backlog(db, now=now))
    TICK_SECONDS.observe(time.perf_counter() - started)
    PASS_BEAT.succeeded()
    return report
