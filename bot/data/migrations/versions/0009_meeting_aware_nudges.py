"""meeting-aware nudges

What a person's Slack status and huddle mean for nudges, as derived state only: busy until
(and whether a huddle or a meeting), away until, and the periods spent away (so streaks do
not break over them); and the person's own switch for it (`/psoas meetings off`). Additive
only: older code keeps working against this schema.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Additive: a new table, nullable columns, and one with a server default.
compatible_with_code_from: str | None = "0008"


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meetings", sa.Boolean(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("busy_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("busy_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("away_until", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "away_periods",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id", "user_id"],
            ["people.team_id", "people.user_id"],
            name=op.f("fk_away_periods_team_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_away_periods")),
    )
    with op.batch_alter_table("away_periods", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_away_periods_team_id_user_id_ended_at"),
            ["team_id", "user_id", "ended_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("away_periods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_away_periods_team_id_user_id_ended_at"))
    op.drop_table("away_periods")

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("away_until")
        batch_op.drop_column("busy_kind")
        batch_op.drop_column("busy_until")
        batch_op.drop_column("meetings")
