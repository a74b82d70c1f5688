"""SQLAlchemy 2.0 typed models. Every row about a person is keyed by workspace and user."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Time,
    TypeDecorator,
    UniqueConstraint,
    and_,
    func,
    literal_column,
    or_,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class LogKind(StrEnum):
    """What a nudge log row sends: each kind has its own slots."""

    NUDGE = "nudge"
    SUMMARY = "summary"


class LogStatus(StrEnum):
    """claimed -> sent | failed | abandoned (a crash left it unsent past its grace) |
    unverified (a resend whose DM history could not be read, so it was not sent again)."""

    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    ABANDONED = "abandoned"
    UNVERIFIED = "unverified"


class NudgeAnswer(StrEnum):
    """How the person answered a nudge's buttons."""

    DONE = "done"
    SNOOZED = "snoozed"
    SKIPPED = "skipped"


class CompletionSource(StrEnum):
    """Where a completion was pressed."""

    NUDGE = "nudge"
    EXERCISE = "exercise"
    GUIDED = "guided"
    TEAM = "team"  # I'm in, on a team stretch break in a channel


# Stable constraint names, so migrations can refer to them on every database.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC; SQLite hands back naive values, so re-attach UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Workspace(Base):
    __tablename__ = "workspaces"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Enterprise Grid: the org the workspace belongs to, and whether the app was installed
    # org-wide (then the org's one bot token serves every workspace in it).
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    org_install: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Why the bot stopped working for this workspace (`token_revoked`, `invalid_auth`).
    inactive_reason: Mapped[str | None] = mapped_column(String(64))
    inactive_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Single-workspace mode: a fingerprint of the token Slack refused, so the same token is
    # not tried again on every pass, and a new one is tried at once.
    refused_token: Mapped[str | None] = mapped_column(String(64))
    # The window its nudges are spread over inside each slot: the time its opted-in people
    # take to be sent at Slack's pace (0 for a small workspace), and when it was counted.
    nudge_spread_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    spread_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=lambda: datetime.now(UTC)
    )


class Person(Base):
    """One person's nudge preferences in one workspace."""

    __tablename__ = "people"

    team_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("workspaces.team_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opted_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    tz: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    work_start: Mapped[time] = mapped_column(Time, default=time(9))
    work_end: Mapped[time] = mapped_column(Time, default=time(17))
    # Bit d set: nudges on weekday d (0 = Monday); 31 = Monday to Friday.
    work_days: Mapped[int] = mapped_column(Integer, default=31, server_default="31")
    interval_minutes: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A short summary DM on the last working day's afternoon; people can turn it off.
    weekly_summary: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # When that summary is next due lives in `SummarySchedule`, not here (see there).
    # Set when the bot stopped nudging on its own (`account_inactive`, ...), shown by `status`.
    stopped_reason: Mapped[str | None] = mapped_column(String(64))
    # The next nudge: its nominal slot (the unique key) and when to send it (later than the
    # slot when Do Not Disturb deferred it). Not indexed: a pass finds who is due through
    # `nudge_queue`, which every write of these two fills (a trigger; see there).
    next_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_nudge_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Slack Do Not Disturb, kept from `dnd_updated_user` (and dnd.info once when unknown).
    dnd_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dnd_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dnd_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Meeting-aware nudges (on unless the person turns them off), and only what Slack's
    # status and huddle events mean for them: busy until (`huddle` or `meeting`), away until.
    # Never the status text. An open-ended state ends at `presence.UNTIL_CLEARED`.
    meetings: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    busy_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    busy_kind: Mapped[str | None] = mapped_column(String(16))
    away_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=lambda: datetime.now(UTC)
    )


class NudgeQueue(Base):
    """When to look at a person next: a pass reads the rows that have come due, deletes them
    and appends the next ones, and never writes `people` while it claims.

    Why: people due together joined at different times, so their rows are spread over the
    whole table, and a claim that rewrote each person's next nudge wrote a page of `people`
    (and of its primary key) per person; after each checkpoint every such page is logged
    whole. Rows here are appended together by the claim before, so a claim writes a few
    pages, wherever its people live.

    A row is a wake-up, not the schedule: the person's row keeps `next_slot_at` and
    `next_nudge_at` (their settings and `status` read those), stored right after the claim.
    Every insert or update of those columns adds a row here (a trigger, so no writer can
    forget), and a pass skips a row that no longer matches when it comes due. Keyed by the
    instant first, so what a claim deletes and appends sits together. No foreign key: a
    row whose person is gone is dropped when it comes due."""

    __tablename__ = "nudge_queue"

    next_nudge_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_slot_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # SQLite: the table is its key's B-tree, so a claim's rows are side by side there too.
    __table_args__ = ({"sqlite_with_rowid": False},)


class SummarySchedule(Base):
    """When a person's weekly summary is next due, indexed so a pass reads only who is due.
    Kept apart from `people` because every nudge claim rewrites a person's row with a new
    `next_nudge_at`: an update that changes an indexed column writes an entry into every
    index of the row, and this instant's index on `people` cost each claim about a tenth of
    its time on PostgreSQL, for an instant that moves about once a week. Deleted with the
    person."""

    __tablename__ = "summary_schedule"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_summary_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (
        ForeignKeyConstraint(
            ["team_id", "user_id"], ["people.team_id", "people.user_id"], ondelete="CASCADE"
        ),
    )


class AwayPeriod(Base):
    """When a person's status said they were away (vacation, out sick): their streak does not
    break over those days. Only the two instants are kept; `forget me` deletes them."""

    __tablename__ = "away_periods"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the status was cleared or expires; `presence.UNTIL_CLEARED` while open-ended.
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        ForeignKeyConstraint(
            ["team_id", "user_id"], ["people.team_id", "people.user_id"], ondelete="CASCADE"
        ),
        Index(None, "team_id", "user_id", "ended_at"),
    )


class NudgeLog(Base):
    """One row per person and slot, written before the DM is sent: the exactly-once guard.

    No foreign key to `people`: checking one on each of thousands of claims costs a claim
    pass more than anything else it does; `forget me` and uninstall delete these rows."""

    __tablename__ = "nudge_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default=LogKind.NUDGE, server_default="nudge")
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=LogStatus.CLAIMED)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(String(64))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[str | None] = mapped_column(String(16))  # a NudgeAnswer
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The guard is keyed by slot first: the rows a claim inserts share a slot or a few, so
    # their entries land side by side instead of one in each person's part of the index.
    # A person's history (export, forget me) is found by the second index, which holds only
    # the rows whose outcome is known: a claim adds nothing to it, the outcome does later.
    __table_args__ = (
        UniqueConstraint("slot_at", "kind", "team_id", "user_id"),
        Index(None, "status", "claimed_at"),
        Index(
            "ix_nudge_log_person_finished",
            "team_id",
            "user_id",
            "slot_at",
            postgresql_where=text("status <> 'claimed'"),
            sqlite_where=text("status <> 'claimed'"),
        ),
    )


def nudge_log_of(team_ids: list[str], user_id: str | None = None) -> ColumnElement[bool]:
    """The nudge log rows of these workspaces (of one person in them, given `user_id`), as two
    arms each an index serves: the rows whose outcome is known by person, the few in flight
    by status. The status is spelt out, not bound: a database uses a partial index only for
    a condition it can see implies the index's own."""
    whose: list[ColumnElement[bool]] = [NudgeLog.team_id.in_(team_ids)]
    if user_id is not None:
        whose.append(NudgeLog.user_id == user_id)
    claimed: ColumnElement[str] = literal_column(f"'{LogStatus.CLAIMED.value}'")
    return or_(and_(NudgeLog.status != claimed, *whose), and_(NudgeLog.status == claimed, *whose))


class Completion(Base):
    """A stretch or exercise someone did: from a nudge's Done, a guided walkthrough or I did it."""

    __tablename__ = "completions"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    done_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The person's own calendar day when it happened: streaks stay right if they move zones.
    local_day: Mapped[date] = mapped_column(Date)
    exercise: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))  # a CompletionSource
    # One completion per click target (a nudge, a message): double clicks count once.
    dedupe_key: Mapped[str] = mapped_column(String(120))

    __table_args__ = (
        UniqueConstraint("team_id", "user_id", "dedupe_key"),
        ForeignKeyConstraint(
            ["team_id", "user_id"], ["people.team_id", "people.user_id"], ondelete="CASCADE"
        ),
        Index(None, "team_id", "user_id", "local_day"),
    )


class TeamBreak(Base):
    """A channel's daily team stretch break: at most one per channel. Deleted by
    `/psoas team off`, when the channel is archived or deleted or the bot leaves it, and
    (by cascade) with the workspace on uninstall."""

    __tablename__ = "team_breaks"

    team_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("workspaces.team_id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[time] = mapped_column(Time)
    days: Mapped[int] = mapped_column(Integer)  # bit d: weekday d (0 = Monday)
    # The time zone of the person who set it, and who that was.
    tz: Mapped[str] = mapped_column(String(64))
    set_by: Mapped[str] = mapped_column(String(32))
    # The next break, indexed so a pass reads only the channels that are due.
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The exercise the last break brought: the next one brings another.
    last_exercise: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=lambda: datetime.now(UTC)
    )


class TeamBreakLog(Base):
    """One row per channel and local day, written before the break is posted: whoever
    inserts it posts that day's break, so replicas post it once."""

    __tablename__ = "team_break_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    team_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("workspaces.team_id", ondelete="CASCADE")
    )
    channel_id: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime)
    exercise: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=LogStatus.CLAIMED)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(String(64))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "day"),
        Index(None, "status", "claimed_at"),
    )
