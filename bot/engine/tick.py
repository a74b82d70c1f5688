"""One nudge pass (a tick): resend what a crash left, claim who is due, render, send, record.

The claims (`claims`) are short transactions; rendering and sending happen after them, while
a heartbeat keeps this process's claims from looking abandoned.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.content import Library
from bot.data.database import Database
from bot.data.models import LogKind
from bot.engine.claims import (
    CLAIM_LEASE,
    Claimed,
    claim_due,
    claim_released,
    due_backlog,
    reclaim_stale,
    record_outcome,
    release,
    renew_claims,
    still_mine,
)
from bot.engine.sender import Outcome, Outgoing, Sender
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
    db: Database, *, worker: str, lease: timedelta, clock: Callable[[], datetime]
) -> Iterator[None]:
    """Renew this process's claims every third of the lease while a pass runs, so only a
    process that died (and stopped renewing) has its claims taken over."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
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
    summaries: Mapping[int, Message | None] | None = None,
) -> Outgoing | None:
    """The DM for one claim. A nudge depends only on its slot; a weekly summary reads the
    person's stats now, outside any claim's transaction (`summaries`: the pass's, rendered
    together). None if the person is gone."""
    if claim.kind == LogKind.SUMMARY:
        if summaries is None:
            summaries = summary_messages(db, [claim], library, now=now)
        summary = summaries[claim.log_id]
        if summary is None:  # forgotten since the claim
            return None
        message = summary
    else:
        message = build_nudge(library, claim.slot)
    return Outgoing(
        claim.log_id,
        claim.team_id,
        claim.user_id,
        message.text,
        message.blocks,
        check_delivered_first=claim.resend,
        not_before=claim.slot.timestamp(),
    )


def run_tick(
    db: Database,
    sender: Sender,
    library: Library,
    *,
    now: datetime,
    worker: str | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    lease: timedelta = CLAIM_LEASE,
) -> TickReport:
    """One pass: resend what a crash left, take up what an earlier pass handed back, claim
    who is due, send, record."""
    started = time.perf_counter()
    me = worker or worker_name()
    report = TickReport()
    resend, report.abandoned = reclaim_stale(db, now=now, worker=me, lease=lease)
    retried, too_late = claim_released(db, now=now, worker=me)
    report.abandoned += too_late
    summaries = claim_summaries(db, now=now, worker=me)
    claims, report.due, report.missed = claim_due(db, now=now, worker=me)
    report.resent, report.claimed, report.summaries = len(resend), len(claims), len(summaries)
    report.retried = len(retried)

    everything = [*resend, *retried, *claims, *summaries]
    kinds = {c.log_id: c.kind for c in everything}

    def pass_clock() -> datetime:
        return now + timedelta(seconds=time.perf_counter() - started)

    def record(outcome: Outcome) -> None:
        if outcome.kind == "released":
            # Unsent; its workspace must wait longer than a pass holds: a later pass sends it.
            until = pass_clock() + timedelta(seconds=outcome.retry_in)
            release(db, outcome.key, worker=me, until=until)
            NUDGES_RELEASED.inc()
        else:
            record_outcome(db, outcome, now=now)
        report.count(outcome)
        if outcome.kind == "sent":
            NUDGES_SENT.labels(kinds.get(outcome.key, LogKind.NUDGE)).inc()
        elif outcome.kind == "unverified":
            NUDGES_UNVERIFIED.labels(outcome.error or "unknown").inc()
        elif outcome.kind != "released":
            NUDGES_FAILED.labels(outcome.error or outcome.kind).inc()
        if on_outcome is not None:
            on_outcome(outcome)

    def mine(item: Outgoing) -> bool:
        return still_mine(db, item.key, worker=me, at=pass_clock())

    with heartbeat(db, worker=me, lease=lease, clock=pass_clock):
        # Every weekly summary of the pass at once: their stats in a few queries, not per DM.
        weekly = [c for c in everything if c.kind == LogKind.SUMMARY]
        weeks = summary_messages(db, weekly, library, now=now)
        rendered = (render_claim(db, c, library, now=now, summaries=weeks) for c in everything)
        batch = [item for item in rendered if item is not None]
        sender.send_all(batch, on_outcome=record, still_mine=mine)
    # Team stretch breaks in channels: their own claims, after everyone's personal nudges.
    run_team_breaks(db, sender, library, now=now, worker=me, lease=lease)
    NUDGES_MISSED.inc(report.missed)
    DUE_BACKLOG.set(due_backlog(db, now=now))
    TICK_SECONDS.observe(time.perf_counter() - started)
    PASS_BEAT.succeeded()
    return report
