"""Data functions on people and workspaces. Every one is scoped by workspace (`team_id`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import Base, NudgeLog, Person, Workspace
from bot.preferences import Preferences, days_to_mask, mask_to_days
from bot.schedule import DndStatus, DndWindow, dnd_windows, next_nudge, next_summary


def insert_ignoring(session: Session, target: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in this session's dialect (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(target).on_conflict_do_nothing()


def insert_ignoring_duplicates(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """Insert unless the row is already there (two first requests at once must not collide);
    True if this call inserted it."""
    # RETURNING, not rowcount: with psycopg, SQLAlchemy reports -1 for these inserts.
    key = next(iter(model.__table__.primary_key.columns))
    statement = insert_ignoring(session, model).values(**values).returning(key)
    return session.execute(statement).first() is not None


def to_preferences(person: Person | Row[Any]) -> Preferences:
    return Preferences(
        opted_in=person.opted_in,
        tz=person.tz,
        work_start=person.work_start,
        work_end=person.work_end,
        work_days=mask_to_days(person.work_days),
        interval_minutes=person.interval_minutes,
        quiet_start=person.quiet_start,
        quiet_end=person.quiet_end,
        snoozed_until=person.snoozed_until,
        stopped_reason=person.stopped_reason,
        weekly_summary=person.weekly_summary,
        next_nudge_at=person.next_nudge_at,
    )


def write_preferences(person: Person, prefs: Preferences) -> None:
    person.opted_in = prefs.opted_in
    person.tz = prefs.tz
    person.work_start = prefs.work_start
    person.work_end = prefs.work_end
    person.work_days = days_to_mask(prefs.work_days)
    person.interval_minutes = prefs.interval_minutes
    person.quiet_start = prefs.quiet_start
    person.quiet_end = prefs.quiet_end
    person.snoozed_until = prefs.snoozed_until
    person.stopped_reason = prefs.stopped_reason
    person.weekly_summary = prefs.weekly_summary


def find_person(
    session: Session, *, team_id: str, user_id: str, lock: bool = False
) -> Person | None:
    query = select(Person).where(Person.team_id == team_id, Person.user_id == user_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def ensure_person(session: Session, *, team_id: str, user_id: str, tz: str) -> Person:
    """The person's row, created with default preferences (nudges off) if it is new."""
    insert_ignoring_duplicates(session, Workspace, {"team_id": team_id})
    defaults = Preferences(tz=tz)
    insert_ignoring_duplicates(
        session,
        Person,
        {
            "team_id": team_id,
            "user_id": user_id,
            "opted_in": defaults.opted_in,
            "tz": tz,
            "work_start": defaults.work_start,
            "work_end": defaults.work_end,
            "work_days": days_to_mask(defaults.work_days),
            "interval_minutes": defaults.interval_minutes,
        },
    )
    person = find_person(session, team_id=team_id, user_id=user_id, lock=True)
    assert person is not None  # inserted just above, or already there
    return person


def update_timezone(
    session: Session, *, team_id: str, user_id: str, tz: str, now: datetime
) -> bool:
    person = find_person(session, team_id=team_id, user_id=user_id, lock=True)
    if person is None or person.tz == tz:
        return False
    person.tz = tz
    reschedule_after_change(person, now=now)
    return True


def forget_person(session: Session, *, team_id: str, user_id: str) -> int:
    """Delete every row about this person in this workspace; the number of rows deleted."""
    session.execute(
        delete(NudgeLog).where(NudgeLog.team_id == team_id, NudgeLog.user_id == user_id)
    )
    result = session.execute(
        delete(Person).where(Person.team_id == team_id, Person.user_id == user_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def dnd_of(person: Person | Row[Any], now: datetime) -> list[DndWindow]:
    return dnd_windows(
        start=person.dnd_start,
        end=person.dnd_end,
        snooze_until=person.dnd_snooze_until,
        now=now,
    )


def reschedule(person: Person, *, after: datetime, now: datetime) -> None:
    """Set the person's next nudge: the first one whose slot comes strictly after `after`."""
    prefs = to_preferences(person)
    nudge = next_nudge(prefs, after=after, dnd=dnd_of(person, now))
    person.next_slot_at = nudge.slot if nudge else None
    person.next_nudge_at = nudge.send_at if nudge else None
    # A summary due this very instant stays due: the tick claims summaries separately.
    person.next_summary_at = next_summary(prefs, after=now - timedelta(microseconds=1))


def reschedule_after_change(person: Person, *, now: datetime) -> None:
    """After a settings, time zone or DND change: from the pending slot if it has not been
    sent yet (a nudge DND deferred past now is kept, or brought forward), else from now."""
    pending = person.next_slot_at
    after = min(now, pending) if pending is not None else now
    reschedule(person, after=after - timedelta(microseconds=1), now=now)


def update_dnd(person: Person, status: DndStatus, *, now: datetime) -> None:
    person.dnd_start, person.dnd_end = status.start, status.end
    person.dnd_snooze_until = status.snooze_until
    person.dnd_checked_at = now
    reschedule_after_change(person, now=now)
