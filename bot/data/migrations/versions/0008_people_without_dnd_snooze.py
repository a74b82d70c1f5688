"""people without a stored DND snooze

Slack never tells a bot about a person's manual "pause notifications" (dnd.info returns the
snooze fields only for the calling user, and dnd_updated_user never carries them), so the
column only ever held what we wrongly read into it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Contract: code before it still maps people.dnd_snooze_until.
compatible_with_code_from: str | None = "0008"


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("dnd_snooze_until")


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dnd_snooze_until", sa.DateTime(timezone=True), nullable=True)
        )
