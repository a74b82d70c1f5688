"""nudge spread per workspace

A workspace too big to be sent at its slot at Slack's pace has its nudges spread inside the
slot: `nudge_spread_seconds` is the window (the time its opted-in people take at its rate), and
`spread_refreshed_at` when it was last counted, so a pass recounts it rarely. Additive only:
older code keeps working against this schema (it ignores both, and sends at the slot).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Additive: a column with a server default and a nullable one.
compatible_with_code_from: str | None = "0010"


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("nudge_spread_seconds", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("spread_refreshed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("spread_refreshed_at")
        batch_op.drop_column("nudge_spread_seconds")
