"""nudge schedule and log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Additive: a new table.
compatible_with_code_from: str | None = "0001"


def upgrade() -> None:
    op.create_table(
        "nudge_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exercise", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id", "user_id"],
            ["people.team_id", "people.user_id"],
            name=op.f("fk_nudge_log_team_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nudge_log")),
        sa.UniqueConstraint(
            "team_id", "user_id", "slot_at", name=op.f("uq_nudge_log_team_id_user_id_slot_at")
        ),
    )
    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_nudge_log_status_claimed_at"), ["status", "claimed_at"], unique=False
        )

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_slot_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_nudge_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("dnd_start", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("dnd_end", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("dnd_snooze_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("dnd_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_people_next_nudge_at"), ["next_nudge_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_next_nudge_at"))
        batch_op.drop_column("dnd_checked_at")
        batch_op.drop_column("dnd_snooze_until")
        batch_op.drop_column("dnd_end")
        batch_op.drop_column("dnd_start")
        batch_op.drop_column("next_nudge_at")
        batch_op.drop_column("next_slot_at")

    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nudge_log_status_claimed_at"))

    op.drop_table("nudge_log")
