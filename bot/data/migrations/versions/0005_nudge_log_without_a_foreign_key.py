"""nudge log without a foreign key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Expand/contract (bot/data/schema.py): the oldest code that runs on this schema.
# Older code relied on the foreign key's ON DELETE CASCADE to forget a person's nudge log.
compatible_with_code_from: str | None = "0005"


def upgrade() -> None:
    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_nudge_log_team_id_people"), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("nudge_log", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_nudge_log_team_id_people"),
            "people",
            ["team_id", "user_id"],
            ["team_id", "user_id"],
            ondelete="CASCADE",
        )
