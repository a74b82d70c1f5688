"""Team stretch breaks: each channel's daily break, and who joined which break.

Scoped like people: the workspace always comes from Slack's signed payload, so one workspace
never reaches another's channels. A join is a completion (source `team`) of the person who
pressed I'm in, keyed by the channel and the break's slot, so each person counts once per
break and the break counts in their own stats and streak. Claiming and posting a break is
the engine's (`bot/engine/team_breaks.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.core.preferences import days_to_mask, mask_to_days
from bot.core.stats import Stats
from bot.core.team import JoinedBreak, SetTeam, TeamBreak, next_break
from bot.data.database import Database, insert_ignoring_duplicates
from bot.data.models import Completion, CompletionSource, TeamBreakLog
from bot.data.models import TeamBreak as TeamBreakRow
from bot.data.movement import stats_for_person
from bot.data.people import Who, ensure_workspace, find_person, person_for, to_preferences

TEAM_KEY = "team"


def team_key(channel: str, slot: datetime) -> str:
    """The completion key of one break: `team:<channel>:<slot epoch seconds>`."""
    return f"{TEAM_KEY}:{channel}:{int(slot.timestamp())}"


def parse_team_key(key: str) -> tuple[str, datetime] | None:
    kind, _, rest = key.partition(":")
    channel, _, seconds = rest.partition(":")
    if kind != TEAM_KEY or not channel or not seconds.isdigit():
        return None
    return channel, datetime.fromtimestamp(int(seconds), UTC)


def as_break(row: TeamBreakRow) -> TeamBreak:
    return TeamBreak(
        team_id=row.team_id,
        channel=row.channel_id,
        at=row.at,
        days=mask_to_days(row.days),
        tz=row.tz,
        set_by=row.set_by,
        next_at=row.next_at,
        last_exercise=row.last_exercise,
    )


def _find(
    session: Session, team_id: str, channel: str, *, lock: bool = False
) -> TeamBreakRow | None:
    query = select(TeamBreakRow).where(
        TeamBreakRow.team_id == team_id, TeamBreakRow.channel_id == channel
    )
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def read_break(db: Database, team_id: str, channel: str) -> TeamBreak | None:
    with db.session() as session:
        row = _find(session, team_id, channel)
        return as_break(row) if row else None


def timezone_known(db: Database, who: Who) -> str | None:
    """The time zone we keep for this person, if we keep one (then Slack need not be asked)."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id)
        return person.tz if person else None


def set_break(
    db: Database, who: Who, channel: str, command: SetTeam, *, tz: str, now: datetime
) -> tuple[TeamBreak, TeamBreak | None]:
    """Set (or move) the channel's one break, in `tz`: (the break now, the one before)."""
    with db.session() as session:
        ensure_workspace(
            session, who.team_id, enterprise_id=who.enterprise_id, org_install=who.org_install
        )
        row = _find(session, who.team_id, channel, lock=True)
        previous = as_break(row) if row else None
        if row is None:
            row = TeamBreakRow(team_id=who.team_id, channel_id=channel)
            session.add(row)
        row.at, row.days, row.tz, row.set_by = (
            command.at,
            days_to_mask(command.days),
            tz,
            who.user_id,
        )
        row.next_at = next_break(command.at, command.days, tz, after=now)
        session.flush()
        return as_break(row), previous


def end_break(db: Database, team_id: str, channel: str) -> TeamBreak | None:
    """Delete the channel's break; the one deleted, if there was one."""
    with db.session() as session:
        row = _find(session, team_id, channel, lock=True)
        if row is None:
            return None
        ended = as_break(row)
        session.delete(row)
        return ended


def restore_break(db: Database, team_id: str, channel: str, previous: TeamBreak | None) -> None:
    """Undo `set_break`: put back the break there was before, or none."""
    with db.session() as session:
        row = _find(session, team_id, channel, lock=True)
        if previous is None:
            if row is not None:
                session.delete(row)
            return
        if row is None:
            row = TeamBreakRow(team_id=team_id, channel_id=channel)
            session.add(row)
        row.at, row.days, row.tz = previous.at, days_to_mask(previous.days), previous.tz
        row.set_by, row.next_at = previous.set_by, previous.next_at
        row.last_exercise = previous.last_exercise


def end_breaks_in(db: Database, team_id: str | None, channel: str) -> int:
    """The channel was archived or deleted, or the bot left it: its break ends. Without a
    workspace (an org-wide event naming none), the channel id alone, which Slack keeps unique."""
    with db.session() as session:
        query = delete(TeamBreakRow).where(TeamBreakRow.channel_id == channel)
        if team_id:
            query = query.where(TeamBreakRow.team_id == team_id)
        return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PostedBreak:
    """One posted break, as a press of I'm in needs it."""

    log_id: int
    channel: str
    slot: datetime
    exercise: str
    message_ts: str | None


def find_posted(db: Database, team_id: str, log_id: int) -> PostedBreak | None:
    with db.session() as session:
        row = session.get(TeamBreakLog, log_id)
        if row is None or row.team_id != team_id:
            return None
        return PostedBreak(row.id, row.channel_id, row.slot_at, row.exercise, row.message_ts)


def joiners(db: Database, team_id: str, posted: PostedBreak) -> list[str]:
    """Who pressed I'm in on this break, first come first."""
    with db.session() as session:
        return list(
            session.scalars(
                select(Completion.user_id)
                .where(
                    Completion.team_id == team_id,
                    Completion.source == CompletionSource.TEAM,
                    Completion.dedupe_key == team_key(posted.channel, posted.slot),
                )
                .order_by(Completion.done_at, Completion.id)
            ).all()
        )


@dataclass(frozen=True)
class Joined:
    new: bool  # False when this person had joined this break already
    stats: Stats


def join_break(
    db: Database, who: Who, posted: PostedBreak, *, now: datetime, timezone_of: Callable[[], str]
) -> Joined:
    """I'm in: one completion for this person and break, however often it is pressed."""
    with db.session() as session:
        person = person_for(session, who, timezone_of=timezone_of)
        values = {
            "team_id": who.team_id,
            "user_id": who.user_id,
            "done_at": now,
            "local_day": now.astimezone(to_preferences(person).zone).date(),
            "exercise": posted.exercise,
            "source": CompletionSource.TEAM,
            "dedupe_key": team_key(posted.channel, posted.slot),
        }
        new = insert_ignoring_duplicates(session, Completion, values)
        return Joined(new, stats_for_person(session, person, now))


def joined_this_week(db: Database, who: Who, *, now: datetime) -> list[JoinedBreak]:
    """The team breaks this person joined this week (their own Monday on), oldest first."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id)
        if person is None:
            return []
        today = now.astimezone(to_preferences(person).zone).date()
        monday = today - timedelta(days=today.weekday())
        rows = session.execute(
            select(Completion.done_at, Completion.dedupe_key, Completion.exercise)
            .where(
                Completion.team_id == who.team_id,
                Completion.user_id == who.user_id,
                Completion.source == CompletionSource.TEAM,
                Completion.local_day >= monday,
            )
            .order_by(Completion.done_at)
        ).all()
    joined = []
    for done_at, key, exercise in rows:
        parsed = parse_team_key(key)
        if parsed is not None:
            joined.append(JoinedBreak(done_at, parsed[0], exercise))
    return joined
