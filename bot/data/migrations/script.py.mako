"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}
# Expand/contract (bot/data/schema.py): the oldest code revision that still runs on the schema
# this migration makes. Additive (a new table, a nullable column or one with a server default):
# the revision before this one, so a rollback or an old pod keeps working. Anything that drops,
# renames or tightens what older code uses: this revision itself (or None, which means the same).
compatible_with_code_from: str | None = ${repr(up_revision)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
