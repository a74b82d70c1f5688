"""nudge log without the exercise column

Nothing ever wrote `nudge_log.exercise`: the exercise a nudge suggests follows from its slot,
and a Done records it on the completion.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Contract: code before it still maps nudge_log.exercise.
compatible_with_code_from: str | None = "0006"


def upgrade() -> None:
    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.drop_column("exercise")


def downgrade() -> None:
    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exercise", sa.String(length=40), nullable=True))
