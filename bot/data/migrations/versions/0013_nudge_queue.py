"""who is due found through an append-only queue; the nudge log's guard keyed by slot

A claim rewrote each due person's `next_nudge_at`. People due together are spread over the
whole table, so a claim of 2,000 wrote about as many pages of `people` and of its primary key,
and inserted into the nudge log's unique index one entry in each person's part of it; after
every checkpoint PostgreSQL logs each such page whole (15 to 36 MB a claim).

- `nudge_queue` holds a wake-up per person and next nudge, keyed by instant first. A claim
  deletes the due rows and appends the next ones, all side by side, and writes `people`
  afterwards, outside the claim. A trigger on `people` adds a row whenever its next nudge is
  written, so every writer (settings, DND, a migration, an operator's SQL) keeps it whole.
- `people.next_nudge_at` loses its index: nothing reads who is due from it any more.
- The nudge log's guard becomes unique on (slot, kind, team, user), and a person's history is
  found through an index of the rows whose outcome is known (a claim adds nothing to it).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Contract: code before it finds who is due by `people.next_nudge_at`, no longer indexed.
compatible_with_code_from: str | None = "0013"

_QUEUE_COLUMNS = "(next_nudge_at, team_id, user_id, next_slot_at)"
_WHEN = "NEW.next_nudge_at IS NOT NULL AND NEW.next_slot_at IS NOT NULL"

# SQLite: one trigger per event (a trigger there has one). A row already queued for that
# instant is kept (OR IGNORE).
_SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER people_queue_next_nudge_{event} AFTER {on} ON people
    WHEN {_WHEN}
    BEGIN
        INSERT OR IGNORE INTO nudge_queue {_QUEUE_COLUMNS}
        VALUES (NEW.next_nudge_at, NEW.team_id, NEW.user_id, NEW.next_slot_at);
    END
    """
    for event, on in (("inserted", "INSERT"), ("updated", "UPDATE OF next_slot_at, next_nudge_at"))
]

_POSTGRESQL_TRIGGER = [
    f"""
    CREATE OR REPLACE FUNCTION people_queue_next_nudge() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO nudge_queue {_QUEUE_COLUMNS}
        VALUES (NEW.next_nudge_at, NEW.team_id, NEW.user_id, NEW.next_slot_at)
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER people_queue_next_nudge
    AFTER INSERT OR UPDATE OF next_slot_at, next_nudge_at ON people
    FOR EACH ROW WHEN ({_WHEN})
    EXECUTE FUNCTION people_queue_next_nudge()
    """,
]


def upgrade() -> None:
    op.create_table(
        "nudge_queue",
        sa.Column("next_nudge_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("next_slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("next_nudge_at", "team_id", "user_id", name=op.f("pk_nudge_queue")),
        sqlite_with_rowid=False,
    )
    op.execute(
        f"INSERT INTO nudge_queue {_QUEUE_COLUMNS} "
        "SELECT next_nudge_at, team_id, user_id, next_slot_at FROM people "
        "WHERE next_nudge_at IS NOT NULL AND next_slot_at IS NOT NULL"
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_next_nudge_at"))
    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_nudge_log_team_id_user_id_kind_slot_at"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_nudge_log_slot_at_kind_team_id_user_id"),
            ["slot_at", "kind", "team_id", "user_id"],
        )
        batch_op.create_index(
            "ix_nudge_log_person_finished",
            ["team_id", "user_id", "slot_at"],
            unique=False,
            postgresql_where=sa.text("status <> 'claimed'"),
            sqlite_where=sa.text("status <> 'claimed'"),
        )
    # Last: a batch operation on SQLite may copy a table, and a copy has no triggers.
    for statement in _POSTGRESQL_TRIGGER if _dialect() == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if _dialect() == "postgresql":
        op.execute("DROP TRIGGER people_queue_next_nudge ON people")
        op.execute("DROP FUNCTION people_queue_next_nudge()")
    else:
        op.execute("DROP TRIGGER people_queue_next_nudge_inserted")
        op.execute("DROP TRIGGER people_queue_next_nudge_updated")
    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.drop_index("ix_nudge_log_person_finished")
        batch_op.drop_constraint(
            batch_op.f("uq_nudge_log_slot_at_kind_team_id_user_id"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_nudge_log_team_id_user_id_kind_slot_at"),
            ["team_id", "user_id", "kind", "slot_at"],
        )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_people_next_nudge_at"), ["next_nudge_at"], unique=False
        )
    op.drop_table("nudge_queue")


def _dialect() -> str:
    return op.get_bind().dialect.name
