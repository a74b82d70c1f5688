"""People: their preferences, time zone and Do Not Disturb, as one aggregate.

Every function is scoped by (team_id, user_id) taken from Slack's signed payload, never from
text a person typed, so one workspace can never reach another's rows. Slack calls a change
needs (users.info, dnd.info) come in as callables, made before the row is locked.
"""

from __future__ import annotations

import json
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Row,
    Table,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, object_session

from bot.core.changes import Change, Rejected, SetInterval, SetMeetings, TurnOn, apply_change
from bot.core.preferences import Preferences, days_to_mask, mask_to_days, zone_or_utc
from bot.core.presence import Presence
from bot.core.schedule import (
    NO_OFFSET,
    DndStatus,
    DndWindow,
    dnd_windows,
    next_nudge,
    next_summary,
    spread_offset,
)
from bot.data.database import Database, dialect_insert, insert_ignoring_duplicates
from bot.data.driver import DriverStatement, result_processors
from bot.data.models import LogKind, NudgeLog, Person, SummarySchedule, Workspace, nudge_log_of
from bot.data.presence import end_away, keep_away


@dataclass(frozen=True)
class Who:
    """A person as Slack's signed payload names them: the workspace, then the user."""

    team_id: str
    user_id: str
    # Enterprise Grid: the org, and whether the app is installed org-wide. Kept with the
    # workspace so the nudge sender can find the bot token without a request in hand.
    enterprise_id: str | None = None
    org_install: bool = False


def to_preferences(person: Person | Row[Any], *, offset: timedelta = NO_OFFSET) -> Preferences:
    """A person's preferences from their row, or from a row of some of its columns (a
    claim reads only what it needs: without the meeting-aware columns, none of that state);
    `offset`: their nudges' spread offset inside each slot (`offset_of`)."""
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
        meetings=getattr(person, "meetings", True),
        busy_until=getattr(person, "busy_until", None),
        busy_kind=getattr(person, "busy_kind", None),
        away_until=getattr(person, "away_until", None),
        nudge_offset=offset,
    )


def offset_of(person: Person | Row[Any], spread_seconds: float) -> timedelta:
    """The person's spread offset in a workspace whose window is `spread_seconds`."""
    return spread_offset(
        person.team_id,
        person.user_id,
        window_seconds=spread_seconds,
        interval_minutes=person.interval_minutes,
    )


def workspace_offset(session: Session | None, person: Person) -> timedelta:
    """The person's spread offset, from their workspace's window as stored now: the same one
    a claim works out, so `status` and the nudge agree."""
    if session is None:
        return offset_of(person, 0)
    # No autoflush: the person's pending changes go out in one UPDATE at commit, not one
    # here and another for the schedule written after it.
    with session.no_autoflush:
        workspace = session.get(Workspace, person.team_id)
    return offset_of(person, workspace.nudge_spread_seconds if workspace else 0)


# The person's columns a schedule is worked out from, in this order (a claim reads its rows
# by position): what a due query selects besides the ids and the stored instants.
SCHEDULE_COLUMNS = (
    Person.opted_in,
    Person.tz,
    Person.work_start,
    Person.work_end,
    Person.work_days,
    Person.interval_minutes,
    Person.quiet_start,
    Person.quiet_end,
    Person.snoozed_until,
    Person.stopped_reason,
    Person.weekly_summary,
)


def preference_columns(prefs: Preferences) -> dict[str, Any]:
    """The person's columns that hold `prefs`, as `write_preferences` sets them."""
    return {
        "opted_in": prefs.opted_in,
        "tz": prefs.tz,
        "work_start": prefs.work_start,
        "work_end": prefs.work_end,
        "work_days": days_to_mask(prefs.work_days),
        "interval_minutes": prefs.interval_minutes,
        "quiet_start": prefs.quiet_start,
        "quiet_end": prefs.quiet_end,
        "snoozed_until": prefs.snoozed_until,
        "stopped_reason": prefs.stopped_reason,
        "weekly_summary": prefs.weekly_summary,
        "meetings": prefs.meetings,
        "busy_until": prefs.busy_until,
        "busy_kind": prefs.busy_kind,
        "away_until": prefs.away_until,
    }


def write_preferences(person: Person, prefs: Preferences) -> None:
    for column, value in preference_columns(prefs).items():
        setattr(person, column, value)


# Built once: every command and event reads a person this way, and building the statement
# cost more than running it (the values go in as parameters, compiled once by SQLAlchemy).
_PERSON = select(Person).where(
    Person.team_id == bindparam("team_id"), Person.user_id == bindparam("user_id")
)
_PERSON_LOCKED = _PERSON.with_for_update()
_PEOPLE = cast(Table, Person.__table__)
# The person's row and their workspace's spread window, the row locked (FOR UPDATE on
# PostgreSQL, of the person's row only; SQLite's writer lock is taken at BEGIN).
# Every column a change reads, not the keys (known) nor the row's own timestamps: each
# instant read back from SQLite is parsed from text.
_CHANGE_READS = [
    column
    for column in _PEOPLE.c
    if column.key not in ("team_id", "user_id", "created_at", "updated_at")
]
_SPREAD = (
    select(Workspace.nudge_spread_seconds)
    .where(Workspace.team_id == _PEOPLE.c.team_id)
    .scalar_subquery()
    .label("spread_seconds")
)
_SUMMARIES = cast(Table, SummarySchedule.__table__)
_NEXT_SUMMARY = (
    select(_SUMMARIES.c.next_summary_at)
    .where(_SUMMARIES.c.team_id == _PEOPLE.c.team_id, _SUMMARIES.c.user_id == _PEOPLE.c.user_id)
    .scalar_subquery()
    .label("next_summary_at")
)
_ONE_PERSON = and_(
    _PEOPLE.c.team_id == bindparam("key_team"), _PEOPLE.c.user_id == bindparam("key_user")
)
_NUDGE_LOG = cast(Table, NudgeLog.__table__)
# Whether a claim has taken the person's stored next slot: their row learns the next one
# right after the claim, so a change in between must not start from it again.
_SLOT_CLAIMED = (
    select(_NUDGE_LOG.c.id)
    .where(
        _NUDGE_LOG.c.slot_at == _PEOPLE.c.next_slot_at,
        _NUDGE_LOG.c.kind == literal_column(f"'{LogKind.NUDGE.value}'"),
        _NUDGE_LOG.c.team_id == _PEOPLE.c.team_id,
        _NUDGE_LOG.c.user_id == _PEOPLE.c.user_id,
    )
    .exists()
    .label("slot_claimed")
)
_PERSON_ROW = select(*_CHANGE_READS, _SPREAD, _NEXT_SUMMARY, _SLOT_CLAIMED).where(_ONE_PERSON)
_PERSON_ROW_LOCKED = _PERSON_ROW.with_for_update(of=_PEOPLE)
# The columns to set come as the parameters' other keys.
_UPDATE_PERSON = update(_PEOPLE).where(
    _PEOPLE.c.team_id == bindparam("key_team"), _PEOPLE.c.user_id == bindparam("key_user")
)


def _key(who: Who) -> dict[str, str]:
    return {"key_team": who.team_id, "key_user": who.user_id}


def _summary_upsert(dialect: str) -> Any:
    statement = dialect_insert(dialect)(_SUMMARIES).values(
        team_id=bindparam("team_id"), user_id=bindparam("user_id"), next_summary_at=bindparam("at")
    )
    new = statement.excluded.next_summary_at
    # An instant already stored is not written again: no new row version, no index entry.
    return statement.on_conflict_do_update(
        index_elements=[_SUMMARIES.c.team_id, _SUMMARIES.c.user_id],
        set_={"next_summary_at": new},
        where=_SUMMARIES.c.next_summary_at.is_distinct_from(new),
    )


_STORE_SUMMARY = {dialect: _summary_upsert(dialect) for dialect in ("postgresql", "sqlite")}
# By `team_id` and `user_id`; an executemany drops many.
DROP_SUMMARY = delete(_SUMMARIES).where(
    _SUMMARIES.c.team_id == bindparam("team_id"), _SUMMARIES.c.user_id == bindparam("user_id")
)


def store_next_summary(
    executor: Session | Connection, *, team_id: str, user_id: str, at: datetime | None
) -> None:
    """Keep when the person's next weekly summary is due; None deletes their row. In the
    caller's transaction; a Session flushes a new person first, as the row refers to theirs."""
    key = {"team_id": team_id, "user_id": user_id}
    if at is None:
        executor.execute(DROP_SUMMARY, key)
        return
    bind = executor if isinstance(executor, Connection) else executor.get_bind()
    executor.execute(_STORE_SUMMARY[bind.dialect.name], {**key, "at": at})


def find_person(
    session: Session, *, team_id: str, user_id: str, lock: bool = False
) -> Person | None:
    query = _PERSON_LOCKED if lock else _PERSON
    return session.scalars(query, {"team_id": team_id, "user_id": user_id}).one_or_none()


def ensure_person(
    session: Session,
    *,
    team_id: str,
    user_id: str,
    tz: str,
    enterprise_id: str | None = None,
    org_install: bool = False,
) -> Person:
    """The person's row, created with default preferences (nudges off) if it is new."""
    ensure_workspace(session, team_id, enterprise_id=enterprise_id, org_install=org_install)
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


def person_for(
    session: Session, who: Who, *, timezone_of: Callable[[], str], lock: bool = False
) -> Person:
    """The person's row, created (nudges off, in the time zone `timezone_of` gives) the first
    time they do anything the bot keeps."""
    person = find_person(session, team_id=who.team_id, user_id=who.user_id, lock=lock)
    if person is not None:
        return person
    return ensure_person(
        session,
        team_id=who.team_id,
        user_id=who.user_id,
        tz=timezone_of(),
        enterprise_id=who.enterprise_id,
        org_install=who.org_install,
    )


def ensure_workspace(
    session: Session, team_id: str, *, enterprise_id: str | None, org_install: bool
) -> None:
    """The workspace's row, knowing its Grid org when Slack told us one."""
    values = {"team_id": team_id, "enterprise_id": enterprise_id, "org_install": org_install}
    if not insert_ignoring_duplicates(session, Workspace, values) and enterprise_id:
        session.execute(
            update(Workspace)
            .where(Workspace.team_id == team_id)
            .values(enterprise_id=enterprise_id, org_install=org_install)
        )


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
    session.execute(delete(NudgeLog).where(nudge_log_of([team_id], user_id)))
    result = session.execute(
        delete(Person).where(Person.team_id == team_id, Person.user_id == user_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def dnd_windows_of(person: Person | Row[Any], now: datetime) -> Sequence[DndWindow]:
    return dnd_windows(
        start=person.dnd_start,
        end=person.dnd_end,
        now=now,
    )


@dataclass(frozen=True)
class Next:
    """A person's schedule columns: the next nudge's slot and send time, the next summary."""

    slot_at: datetime | None
    nudge_at: datetime | None
    summary_at: datetime | None


def next_after(
    prefs: Preferences, *, after: datetime, now: datetime, dnd: Sequence[DndWindow]
) -> Next:
    """The first nudge whose slot comes strictly after `after`, and the next summary."""
    nudge = next_nudge(prefs, after=after, dnd=dnd)
    # A summary due this very instant stays due: the tick claims summaries separately.
    summary = next_summary(prefs, after=now - timedelta(microseconds=1))
    return Next(nudge.slot if nudge else None, nudge.send_at if nudge else None, summary)


def after_change(pending: datetime | None, now: datetime) -> datetime:
    """After a settings, time zone or DND change: from the pending slot if it has not been
    sent yet (a nudge DND deferred past now is kept, or brought forward), else from now."""
    after = min(now, pending) if pending is not None else now
    return after - timedelta(microseconds=1)


def reschedule(person: Person, *, after: datetime, now: datetime, summary: bool = True) -> None:
    """Set the person's next nudge: the first one whose slot comes strictly after `after`;
    and with `summary`, their next weekly summary. Without it the summary is left as stored:
    a change of what decides only nudges (Do Not Disturb, a meeting, an away status) cannot
    move it, and a summary the pass put off until DND ends must stay put off, not go to
    next week (writing it would also cost a statement on every such event)."""
    session = object_session(person)
    prefs = to_preferences(person, offset=workspace_offset(session, person))
    upcoming = next_after(prefs, after=after, now=now, dnd=dnd_windows_of(person, now))
    person.next_slot_at = upcoming.slot_at
    person.next_nudge_at = upcoming.nudge_at
    if not summary:
        return
    assert session is not None  # a person is rescheduled inside the unit that loaded them
    store_next_summary(
        session, team_id=person.team_id, user_id=person.user_id, at=upcoming.summary_at
    )


def reschedule_after_change(person: Person, *, now: datetime, summary: bool = True) -> None:
    """After a settings, time zone or DND change (see `after_change`)."""
    pending = unclaimed_slot(person, now)
    reschedule(person, after=after_change(pending, now), now=now, summary=summary)


def unclaimed_slot(person: Person, now: datetime) -> datetime | None:
    """The person's stored next slot, unless a claim has taken it already (a claim writes the
    nudge log first and the person's row right after it). Only a slot that has come can
    have been claimed: a later one is not looked up (a DND event reschedules too)."""
    slot = person.next_slot_at
    session = object_session(person)
    if slot is None or slot > now or session is None:
        return slot
    with session.no_autoflush:
        claimed = session.scalar(
            select(_SLOT_CLAIMED).where(
                _PEOPLE.c.team_id == person.team_id, _PEOPLE.c.user_id == person.user_id
            )
        )
    return None if claimed else slot


def update_dnd(person: Person, status: DndStatus, *, now: datetime, summary: bool = False) -> None:
    """Keep Slack's Do Not Disturb window and reschedule; `summary` when a settings change
    comes with it (see `reschedule`)."""
    person.dnd_start, person.dnd_end = status.start, status.end
    person.dnd_checked_at = now
    reschedule_after_change(person, now=now, summary=summary)


def read_preferences(db: Database, who: Who) -> Preferences | None:
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id)
        if person is None:
            return None
        workspace = session.get(Workspace, who.team_id)
        paused = (
            workspace.inactive_reason or "inactive" if workspace and not workspace.active else None
        )
        offset = offset_of(person, workspace.nudge_spread_seconds if workspace else 0)
        return replace(to_preferences(person, offset=offset), workspace_paused=paused)


def _needs_slack(person: Person | Row[Any] | None, change: Change) -> tuple[bool, bool]:
    """What must be asked of Slack before `change` can be saved: the time zone of someone
    new, and the Do Not Disturb window of someone nudged whose window is not known yet
    (events keep it fresh after that one look)."""
    if person is None:
        return True, isinstance(change, TurnOn)
    nudged = isinstance(change, TurnOn) or person.opted_in
    return False, nudged and person.dnd_checked_at is None


def _apply(
    session: Session, person: Person, change: Change, now: datetime, dnd: DndStatus | None
) -> Preferences | Rejected:
    result = apply_change(to_preferences(person), change, now)
    if not isinstance(result, Preferences):
        return result
    write_preferences(person, result)
    if isinstance(change, SetMeetings) and not change.on:
        end_away(session, person.team_id, person.user_id, now=now)
    if dnd is not None:
        update_dnd(person, dnd, now=now, summary=True)
    else:
        reschedule_after_change(person, now=now)
    return to_preferences(person, offset=workspace_offset(session, person))


def _offset(who: Who, spread_seconds: float, interval_minutes: int) -> timedelta:
    return spread_offset(
        who.team_id, who.user_id, window_seconds=spread_seconds, interval_minutes=interval_minutes
    )


def change_without_slack(
    db: Database, who: Who, change: Change, *, now: datetime
) -> Preferences | Rejected | None:
    """Apply `change` if nothing needs asking of Slack first; None (and nothing saved) if
    something does, so the caller can ask after answering Slack.

    A change answered in the ack is one read and one UPDATE guarded by that read (the row
    is written only if no one wrote it in between), each committed as it runs: two round
    trips on PostgreSQL where a locked read took four. If someone did write it in between
    (a click on a nudge, a claim, an event), the change is worked out again from the row as
    it is now; after `GUARDED_TRIES` such races, or for a change that writes elsewhere too,
    it runs in one transaction with the row locked."""
    if not (isinstance(change, SetMeetings) and not change.on):  # it also ends an away state
        guarded = db.autocommit(lambda driver: _change_unless_moved(db, driver, who, change, now))
        if not isinstance(guarded, _Moved):
            return _answer(guarded)
    # Core on a connection, not the ORM: a session's set-up, a tracked Person and its flush
    # cost more than the SQL did. Safe to run twice (`transact`): it sets what it read
    # under lock.
    return _answer(db.transact(lambda connection: _change_row(connection, who, change, now)))


def _answer(done: _Changed | Rejected | None) -> Preferences | Rejected | None:
    if not isinstance(done, _Changed):
        return done
    # The answer, after the commit: as `to_preferences` would read the row back.
    return replace(done.prefs, work_days=mask_to_days(done.mask), next_nudge_at=done.nudge_at)


@dataclass(frozen=True)
class _Changed:
    prefs: Preferences
    mask: int  # the working days as stored
    nudge_at: datetime | None


@dataclass(frozen=True)
class _Plan:
    """A change worked out from the row as read: the answer, the person's columns it moves,
    and whether it moves their next weekly summary (`summary_at`, another table's row)."""

    done: _Changed
    moved: dict[str, Any]
    summary_at: datetime | None
    summary_moved: bool


def _plan_change(row: Any, who: Who, change: Change, now: datetime) -> _Plan | Rejected | None:
    """What `change` makes of the person's row (`_CHANGE_READS` and their workspace's
    spread): None if Slack must be asked something first."""
    if row is None or any(_needs_slack(row, change)):
        return None
    # The spread offset (the one a claim works out) of the interval the change leaves,
    # worked out before the change so that the preferences are built once.
    spread = row.spread_seconds or 0
    interval = change.minutes if isinstance(change, SetInterval) else row.interval_minutes
    result = apply_change(to_preferences(row, offset=_offset(who, spread, interval)), change, now)
    if not isinstance(result, Preferences):
        return result
    if result.interval_minutes != interval:  # a change that moves the interval otherwise
        result = replace(result, nudge_offset=_offset(who, spread, result.interval_minutes))
    upcoming = next_after(
        result,
        after=after_change(None if row.slot_claimed else row.next_slot_at, now),
        now=now,
        dnd=dnd_windows_of(row, now),
    )
    # Only the columns the change moved, as the ORM's flush would: a few values bound, and
    # an index (next nudge, next summary) rewritten only when its instant moved (each is one
    # more page to log and sync).
    new = preference_columns(result)
    new["next_slot_at"] = upcoming.slot_at
    new["next_nudge_at"] = upcoming.nudge_at
    moved = {column: value for column, value in new.items() if getattr(row, column) != value}
    summary_moved = row.next_summary_at != upcoming.summary_at
    done = _Changed(result, new["work_days"], upcoming.nudge_at)
    return _Plan(done, moved, upcoming.summary_at, summary_moved)


def _change_row(
    connection: Connection, who: Who, change: Change, now: datetime
) -> _Changed | Rejected | None:
    """The change in the caller's transaction, the row locked while it is worked out."""
    found = connection.execute(_PERSON_ROW_LOCKED, _key(who)).one_or_none()
    plan = _plan_change(found, who, change, now)
    if not isinstance(plan, _Plan):
        return plan
    if isinstance(change, SetMeetings) and not change.on:
        end_away(Session(bind=connection), who.team_id, who.user_id, now=now)
    if plan.moved:  # the row is locked: the other columns are as read
        connection.execute(_UPDATE_PERSON, {**_key(who), **plan.moved})
    if plan.summary_moved:
        store_next_summary(connection, team_id=who.team_id, user_id=who.user_id, at=plan.summary_at)
    return plan.done


GUARDED_TRIES = 3


class _Moved:
    """The row changed under a guarded change `GUARDED_TRIES` times running."""


_MOVED = _Moved()


def _change_unless_moved(
    db: Database, driver: Any, who: Who, change: Change, now: datetime
) -> _Changed | Rejected | _Moved | None:
    """The change as one read and one guarded UPDATE on the driver's connection, each
    committed as it runs; worked out again from a fresh read while someone else's write
    lands in between. A change that moves the next weekly summary (hours, days, on, off)
    writes it in one transaction with the guarded UPDATE, only if that UPDATE wrote."""
    statements = _guarded_statements(db.engine.dialect)
    key = {"key_team": who.team_id, "key_user": who.user_id}
    cursor = driver.cursor()
    try:
        for _ in range(GUARDED_TRIES):
            found = statements.fetch(cursor, key)
            if found is None:
                return None  # someone new: their time zone must be asked of Slack first
            plan = _plan_change(statements.row(found), who, change, now)
            if not isinstance(plan, _Plan):
                return plan
            if not plan.moved and not plan.summary_moved:
                return plan.done
            update = statements.update(tuple(plan.moved))
            values = {f"set_{column}": value for column, value in plan.moved.items()}
            values["set_updated_at"] = datetime.now(UTC)  # as the column's onupdate
            values.update(zip(statements.guard_names, found[: len(_CHANGE_READS)], strict=True))
            # A moved summary is written in one transaction with the UPDATE, if that wrote.
            summary_too = plan.summary_moved
            with _one_transaction(driver, statements.dialect) if summary_too else nullcontext():
                cursor.execute(update.sql, update.parameters({**key, **values}))
                if cursor.rowcount == 1:
                    if summary_too:
                        summary = statements.summary(plan.summary_at)
                        at = {"team_id": who.team_id, "user_id": who.user_id, "at": plan.summary_at}
                        cursor.execute(summary.sql, summary.parameters(at))
                    return plan.done
    finally:
        cursor.close()
    return _MOVED


@contextmanager
def _one_transaction(driver: Any, dialect: Dialect) -> Iterator[None]:
    """The statements inside, on the driver's autocommit connection, committed together
    (rolled back on an error); on SQLite with its writer lock taken at BEGIN, as every unit's."""
    if dialect.name == "postgresql":
        with driver.transaction():
            yield
        return
    driver.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if driver.in_transaction:
            driver.execute("ROLLBACK")
        raise
    driver.execute("COMMIT")


class _GuardedStatements:
    """The guarded change's statements in one dialect, compiled once."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        columns = [*_CHANGE_READS, _SPREAD, _NEXT_SUMMARY, _SLOT_CLAIMED]
        # On SQLite the row comes back as one JSON array: CPython's sqlite3 lets go of the GIL
        # around each column's type lookup (`_pysqlite_fetch_one_row` in Modules/_sqlite/
        # cursor.c), and with the server's threads busy each let-go can hand the GIL to
        # another thread and wait to get it back: 22 columns, 22 hand-overs per command.
        # `json_array` gives each value as the driver would have (text, an integer or NULL:
        # the people's columns hold nothing else).
        self._packed = dialect.name == "sqlite"
        if self._packed:
            packed = func.json_array(
                *_CHANGE_READS, _SPREAD.element, _NEXT_SUMMARY.element, _SLOT_CLAIMED.element
            )
            read = select(packed).where(_ONE_PERSON)
        else:
            read = _PERSON_ROW
        self.read = DriverStatement(read, dialect)
        self._results = result_processors(columns, dialect)
        self._row: Any = namedtuple("_Row", [column.key for column in columns])  # type: ignore[misc]
        # The row as read, every column of it, compared as the driver handed it back (an
        # instant as SQLite's text, say): NULL-safe (IS NOT DISTINCT FROM; SQLite's IS).
        self.guard_names = tuple(f"was_{column.key}" for column in _CHANGE_READS)
        self._guard = and_(
            *(
                column.is_not_distinct_from(bindparam(name))
                for column, name in zip(_CHANGE_READS, self.guard_names, strict=True)
            )
        )
        self._updates: dict[tuple[str, ...], DriverStatement] = {}
        self._store_summary = DriverStatement(_STORE_SUMMARY[dialect.name], dialect)
        self._drop_summary = DriverStatement(DROP_SUMMARY, dialect)

    def summary(self, at: datetime | None) -> DriverStatement:
        """What keeps a next weekly summary at `at` (`store_next_summary`)."""
        return self._drop_summary if at is None else self._store_summary

    def fetch(self, cursor: Any, key: dict[str, str]) -> tuple[Any, ...] | None:
        """The person's row as the driver hands it back (unprocessed), or None."""
        cursor.execute(self.read.sql, self.read.parameters(key))
        # fetchall, not fetchone: it ends SQLite's read transaction before the write
        # (a read transaction left open could not become a writer once another wrote).
        found = cursor.fetchall()
        if not found:
            return None
        return tuple(json.loads(found[0][0])) if self._packed else tuple(found[0])

    def row(self, values: Sequence[Any]) -> Any:
        return self._row._make(
            value if process is None or value is None else process(value)
            for process, value in zip(self._results, values, strict=True)
        )

    def update(self, moved: tuple[str, ...]) -> DriverStatement:
        """The UPDATE of the columns in `moved`, guarded; compiled once per set of columns
        (a handful: each command moves its own)."""
        statement = self._updates.get(moved)
        if statement is None:
            sets: dict[str, Any] = {
                column: bindparam(f"set_{column}") for column in (*moved, "updated_at")
            }
            guarded = _UPDATE_PERSON.where(self._guard).values(sets)
            statement = DriverStatement(guarded, self.dialect, raw=self.guard_names)
            self._updates[moved] = statement
        return statement


# Per dialect, that is per engine: kept while its engine lives.
_GUARDED: weakref.WeakKeyDictionary[Dialect, _GuardedStatements] = weakref.WeakKeyDictionary()


def _guarded_statements(dialect: Dialect) -> _GuardedStatements:
    statements = _GUARDED.get(dialect)
    if statements is None:  # two threads may both compile: the same statements either way
        statements = _GUARDED[dialect] = _GuardedStatements(dialect)
    return statements


def change_preferences(
    db: Database,
    who: Who,
    change: Change,
    *,
    now: datetime,
    timezone_of: Callable[[], str],
    dnd_of: Callable[[], DndStatus | None] = lambda: None,
) -> Preferences | Rejected:
    """Apply one change in one transaction and reschedule the next nudge.

    `timezone_of` is asked only for a new person; `dnd_of` only once, when someone
    nudged has no Do Not Disturb state yet. Both are Slack calls, made outside any
    transaction so no row stays locked during them.
    """
    with db.session() as session:
        known = find_person(session, team_id=who.team_id, user_id=who.user_id)
        need_tz, need_dnd = _needs_slack(known, change)
    tz = timezone_of() if need_tz else None
    dnd = dnd_of() if need_dnd else None
    with db.session() as session:
        person = person_for(session, who, timezone_of=lambda: tz or timezone_of(), lock=True)
        return _apply(session, person, change, now, dnd)


def stop_person(session: Session, person: Person, reason: str) -> None:
    """No more nudges nor weekly summaries for this person, for `reason` (`status` shows
    it), until they turn nudges on again. In the caller's unit, the person's row locked."""
    person.stopped_reason = reason
    person.next_slot_at = person.next_nudge_at = None
    store_next_summary(session, team_id=person.team_id, user_id=person.user_id, at=None)


def mark_deactivated(db: Database, who: Who) -> bool:
    """Slack says the account was deactivated: no nudges, with the reason `status` shows."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
        if person is None:
            return False
        stop_person(session, person, "account_inactive")
        return True


def forget(db: Database, who: Who) -> int:
    with db.session() as session:
        return forget_person(session, team_id=who.team_id, user_id=who.user_id)


def refresh_timezone(db: Database, who: Who, tz: str, *, now: datetime) -> bool:
    if zone_or_utc(tz).key != tz:
        return False
    with db.session() as session:
        return update_timezone(session, team_id=who.team_id, user_id=who.user_id, tz=tz, now=now)


def update_presence(session: Session, person: Person, presence: Presence, *, now: datetime) -> bool:
    """Keep what a profile says (busy, away) and reschedule; False if nothing changed or the
    person turned meeting-aware nudges off (then nothing of it is kept)."""
    if not person.meetings:
        return False
    before = (person.busy_until, person.busy_kind, person.away_until)
    if presence.busy_until is not None:
        person.busy_until, person.busy_kind = presence.busy_until, presence.busy_kind
    elif person.busy_until is not None:
        # Over: the stretch ends now (not before), so a slot it held is placed at its end.
        person.busy_until, person.busy_kind = min(person.busy_until, now), None
    if presence.away_until is not None:
        keep_away(session, person.team_id, person.user_id, until=presence.away_until, now=now)
    elif person.away_until is not None:
        end_away(session, person.team_id, person.user_id, now=now)
    person.away_until = presence.away_until
    if (person.busy_until, person.busy_kind, person.away_until) == before:
        return False
    reschedule_after_change(person, now=now, summary=False)
    return True


def record_presence(db: Database, who: Who, presence: Presence, *, now: datetime) -> bool:
    """A `user_change` or `user_huddle_changed` event's meaning for this person's nudges;
    False if we store nothing about them, or nothing changed."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
        if person is None:
            return False
        return update_presence(session, person, presence, now=now)


def record_profile(
    db: Database, who: Who, *, tz: str | None, presence: Presence | None, now: datetime
) -> bool:
    """A `user_change` event, in one transaction: the time zone (an unknown zone name is
    ignored) and what the status and huddle mean. False if we store nothing about them."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
        if person is None:
            return False
        if tz and zone_or_utc(tz).key == tz and person.tz != tz:
            person.tz = tz
            reschedule_after_change(person, now=now)
        if presence is not None:
            update_presence(session, person, presence, now=now)
        return True


def record_dnd(db: Database, who: Who, status: DndStatus, *, now: datetime) -> bool:
    """Keep a `dnd_updated_user` event's window; False if we store nothing about the person."""
    with db.session() as session:
        person = find_person(session, team_id=who.team_id, user_id=who.user_id, lock=True)
        if person is None:
            return False
        update_dnd(person, status, now=now)
        return True
