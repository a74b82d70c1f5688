"""Team stretch breaks in the nudge pass: claim the channels whose break is due, post each
once, record the message.

Exactly once across replicas, by the same mechanism as personal nudges (`claims`): due breaks
are read by the indexed `team_breaks.next_at` (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so
passes running at once split them), each is moved on to its next day in the same transaction,
and a `team_break_log` row unique per channel and local day is inserted before posting:
whoever inserts it posts that day's break, and a pass that loses the race posts nothing.

A break whose pass died before Slack answered is not posted again: telling whether it went
out would mean reading the channel's history, which the bot has no scope for, and a doubled
break is worse than a missed one (docs/DELIVERY.md). Its row is marked abandoned once its
lease lapses. After downtime a break is posted only while under `CATCH_UP_LIMIT` late.

Posting goes through the nudge sender, so a break keeps the workspace's pace, waits out
`Retry-After` and retries 5xx; one message per channel per pass stays inside Slack's one
message a second per channel (https://docs.slack.dev/apis/web-api/rate-limits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.content import Library
from bot.core.preferences import mask_to_days
from bot.core.schedule import CATCH_UP_LIMIT
from bot.core.team import break_day, next_break, next_exercise
from bot.data.database import Database, insert_ignoring
from bot.data.models import LogStatus, TeamBreak, TeamBreakLog, Workspace
from bot.engine.sender import WORKSPACE_ERRORS, Outcome, Outgoing, Sender
from bot.render.team import build_team_break, team_exercise

log = logging.getLogger(__name__)

TEAM_BATCH = 500
# Slack's answers that mean the bot can no longer post in the channel: its break ends.
CHANNEL_GONE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


@dataclass(frozen=True)
class ClaimedBreak:
    log_id: int
    team_id: str
    channel: str
    slot: datetime
    exercise: str


@dataclass
class TeamBreakReport:
    due: int = 0
    claimed: int = 0
    missed: int = 0
    posted: int = 0
    ended: int = 0
    abandoned: int = 0


def _claim_one(
    session: Session, row: TeamBreak, *, now: datetime, worker: str, slugs: list[str]
) -> ClaimedBreak | None:
    """Move the break on to its next day; claim today's unless it is too late or taken."""
    slot = row.next_at
    assert slot is not None
    row.next_at = next_break(row.at, mask_to_days(row.days), row.tz, after=max(slot, now))
    if now - slot >= CATCH_UP_LIMIT:
        return None  # missed during downtime: tomorrow's comes as usual
    exercise = next_exercise(slugs, row.last_exercise)
    table = TeamBreakLog.__table__
    inserted = session.execute(
        insert_ignoring(session, table)
        .values(
            team_id=row.team_id,
            channel_id=row.channel_id,
            day=break_day(slot, row.tz),
            slot_at=slot,
            exercise=exercise,
            status=LogStatus.CLAIMED,
            claimed_at=now,
            claimed_by=worker,
        )
        .returning(table.c.id)
    ).first()
    if inserted is None:
        return None  # this channel's break for that day is someone else's (or done)
    row.last_exercise = exercise
    return ClaimedBreak(inserted.id, row.team_id, row.channel_id, slot, exercise)


def claim_breaks(
    db: Database, library: Library, *, now: datetime, worker: str, batch: int = TEAM_BATCH
) -> tuple[list[ClaimedBreak], int, int]:
    """Claim every channel whose break is due at `now`: (claims, number due, number missed)."""
    slugs = library.slugs
    # Durable: once its break may be posted, a claim outlives even a power cut.
    with db.session(durable=True) as session:
        query = (
            select(TeamBreak)
            .join(Workspace, Workspace.team_id == TeamBreak.team_id)
            .where(TeamBreak.next_at <= now, Workspace.active.is_(True))
            .order_by(TeamBreak.next_at)
            .limit(batch)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=TeamBreak)
        due = session.scalars(query).all()
        claims: list[ClaimedBreak] = []
        missed = 0
        for row in due:
            late = row.next_at is not None and now - row.next_at >= CATCH_UP_LIMIT
            claimed = _claim_one(session, row, now=now, worker=worker, slugs=slugs)
            if claimed is not None:
                claims.append(claimed)
            missed += late
    return claims, len(due), missed


def abandon_stale(db: Database, *, now: datetime, lease: timedelta) -> int:
    """Breaks a dead pass claimed and never recorded: not posted again (see above)."""
    with db.session() as session:
        result = session.execute(
            update(TeamBreakLog)
            .where(TeamBreakLog.status == LogStatus.CLAIMED, TeamBreakLog.claimed_at < now - lease)
            .values(status=LogStatus.ABANDONED, finished_at=now, error="unsent_after_crash")
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def still_mine(db: Database, log_id: int, *, worker: str, at: datetime) -> bool:
    with db.session() as session:
        renewed = session.execute(
            update(TeamBreakLog)
            .where(
                TeamBreakLog.id == log_id,
                TeamBreakLog.claimed_by == worker,
                TeamBreakLog.status == LogStatus.CLAIMED,
            )
            .values(claimed_at=at)
            .execution_options(synchronize_session=False)
        )
        return bool(renewed.rowcount == 1)  # type: ignore[attr-defined]


def record_break(db: Database, outcome: Outcome, *, now: datetime) -> bool:
    """Complete the log row; True when the channel's break ended because Slack refused it."""
    with db.session() as session:
        row = session.get(TeamBreakLog, outcome.key)
        if row is None:
            return False  # the workspace was uninstalled meanwhile
        if outcome.kind == "released":
            # Slack asked the workspace to wait longer than a pass holds: hand the break
            # back, so a later pass posts it while it is still on time.
            brk = session.get(TeamBreak, (row.team_id, row.channel_id))
            if brk is not None and (brk.next_at is None or brk.next_at > row.slot_at):
                brk.next_at = row.slot_at
            session.delete(row)
            return False
        row.finished_at = now
        if outcome.kind == "sent":
            row.status, row.message_ts = LogStatus.SENT, outcome.ts
            return False
        unverified = outcome.kind == "unverified"  # may have gone out: never posted again
        row.status = LogStatus.UNVERIFIED if unverified else LogStatus.FAILED
        row.error = outcome.error
        log.warning(
            "team break not posted",
            extra={"team_id": row.team_id, "channel": row.channel_id, "error": outcome.error},
        )
        if outcome.error in WORKSPACE_ERRORS:
            workspace = session.get(Workspace, row.team_id)
            if workspace is not None:
                workspace.active, workspace.inactive_reason = False, outcome.error
                workspace.inactive_since = now
        if outcome.error in CHANNEL_GONE:
            ended = session.get(TeamBreak, (row.team_id, row.channel_id))
            if ended is not None:
                session.delete(ended)
                return True
        return False


def run_team_breaks(
    db: Database,
    sender: Sender,
    library: Library,
    *,
    now: datetime,
    worker: str,
    lease: timedelta,
) -> TeamBreakReport:
    """The team breaks' share of a pass. A failure here is logged and leaves the personal
    nudges of the pass untouched; the next pass tries again."""
    report = TeamBreakReport()
    try:
        report.abandoned = abandon_stale(db, now=now, lease=lease)
        claims, report.due, report.missed = claim_breaks(db, library, now=now, worker=worker)
        report.claimed = len(claims)
        items = [
            Outgoing(
                claim.log_id,
                claim.team_id,
                claim.channel,  # a channel id: the sender posts there, not in a DM
                *_text_and_blocks(library, claim),
                not_before=claim.slot.timestamp(),
            )
            for claim in claims
        ]

        def record(outcome: Outcome) -> None:
            report.posted += outcome.kind == "sent"
            report.ended += record_break(db, outcome, now=now)

        sender.send_all(
            items,
            on_outcome=record,
            still_mine=lambda item: still_mine(db, item.key, worker=worker, at=now),
        )
    except Exception:
        log.exception("team breaks failed in this pass; the next pass tries again")
    if report.due or report.abandoned:
        log.info("team breaks: %s", report)
    return report


def _text_and_blocks(library: Library, claim: ClaimedBreak) -> tuple[str, list[dict[str, Any]]]:
    message = build_team_break(team_exercise(library, claim.exercise), claim.log_id)
    return message.text, message.blocks
