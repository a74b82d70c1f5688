"""completions, answers and weekly summaries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Additive: new tables.
compatible_with_code_from: str | None = "0002"


def upgrade() -> None:
    op.create_table(
        "completions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("exercise", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id", "user_id"],
            ["people.team_id", "people.user_id"],
            name=op.f("fk_completions_team_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_completions")),
        sa.UniqueConstraint(
            "team_id",
            "user_id",
            "dedupe_key",
            name=op.f("uq_completions_team_id_user_id_dedupe_key"),
        ),
    )
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_completions_team_id_user_id_local_day"),
            ["team_id", "user_id", "local_day"],
            unique=False,
        )

    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="nudge", nullable=False)
        )
        batch_op.add_column(sa.Column("answer", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_nudge_log_team_id_user_id_slot_at"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_nudge_log_team_id_user_id_kind_slot_at"),
            ["team_id", "user_id", "kind", "slot_at"],
        )

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("weekly_summary", sa.Boolean(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("next_summary_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_people_next_summary_at"), ["next_summary_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_next_summary_at"))
        batch_op.drop_column("next_summary_at")
        batch_op.drop_column("weekly_summary")

    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_nudge_log_team_id_user_id_kind_slot_at"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_nudge_log_team_id_user_id_slot_at"), ["team_id", "user_id", "slot_at"]
        )
        batch_op.drop_column("answered_at")
        batch_op.drop_column("answer")
        batch_op.drop_column("kind")

    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_completions_team_id_user_id_local_day"))

    op.drop_table("completions")
