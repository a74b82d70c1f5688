"""team stretch breaks

A daily team stretch break per channel (`/psoas team 15:00`), and one log row per channel
and local day, written before the break is posted, so that any number of replicas post it
once. Additive only: older code keeps working against this schema.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Additive: new tables.
compatible_with_code_from: str | None = "0009"


def upgrade() -> None:
    op.create_table(
        "team_breaks",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Time(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_exercise", sa.String(length=40), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_team_breaks_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "channel_id", name=op.f("pk_team_breaks")),
    )
    with op.batch_alter_table("team_breaks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_breaks_next_at"), ["next_at"], unique=False)

    op.create_table(
        "team_break_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exercise", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_team_break_log_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_break_log")),
        sa.UniqueConstraint(
            "team_id", "channel_id", "day", name=op.f("uq_team_break_log_team_id_channel_id_day")
        ),
    )
    with op.batch_alter_table("team_break_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_team_break_log_status_claimed_at"),
            ["status", "claimed_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("team_break_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_break_log_status_claimed_at"))
    op.drop_table("team_break_log")
    with op.batch_alter_table("team_breaks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_breaks_next_at"))
    op.drop_table("team_breaks")
