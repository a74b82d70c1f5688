"""workspace org and refused token

Enterprise Grid: which org a workspace belongs to and whether the app was installed
org-wide, so the nudge sender can find the bot token; and when and with which token Slack
refused the bot, so a refused token is not retried on every pass. Additive only: older code
keeps working against this schema.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Additive: nullable columns, and one with a server default.
compatible_with_code_from: str | None = "0006"


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enterprise_id", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("org_install", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("inactive_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refused_token", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("refused_token")
        batch_op.drop_column("inactive_since")
        batch_op.drop_column("org_install")
        batch_op.drop_column("enterprise_id")
