"""the next weekly summary in a table of its own

Every nudge claim rewrites a person's row with a new `next_nudge_at`, an update PostgreSQL
cannot make in place (the column is indexed), so each index on `people` gets an entry per
claim. `next_summary_at` moves about once a week but its index made every claim write one
more entry: it now lives in `summary_schedule`, one row per person with a next summary,
deleted with the person. The instants are carried over both ways.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Contract: code before it still maps people.next_summary_at.
compatible_with_code_from: str | None = "0012"


def upgrade() -> None:
    op.create_table(
        "summary_schedule",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("next_summary_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id", "user_id"],
            ["people.team_id", "people.user_id"],
            name=op.f("fk_summary_schedule_team_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_summary_schedule")),
    )
    with op.batch_alter_table("summary_schedule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_summary_schedule_next_summary_at"), ["next_summary_at"], unique=False
        )
    op.execute(
        "INSERT INTO summary_schedule (team_id, user_id, next_summary_at) "
        "SELECT team_id, user_id, next_summary_at FROM people "
        "WHERE next_summary_at IS NOT NULL"
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_next_summary_at"))
        batch_op.drop_column("next_summary_at")


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_summary_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_people_next_summary_at"), ["next_summary_at"], unique=False
        )
    op.execute(
        "UPDATE people SET next_summary_at = (SELECT s.next_summary_at FROM summary_schedule AS s "
        "WHERE s.team_id = people.team_id AND s.user_id = people.user_id)"
    )
    with op.batch_alter_table("summary_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_summary_schedule_next_summary_at"))
    op.drop_table("summary_schedule")
