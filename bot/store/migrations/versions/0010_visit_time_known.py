"""visits.time_known: a visit reported with a date only (`3号`, `11月20日`) stays date-only, instead of being
stored and exported as 12:00. Old rows keep their time (true).

Revision ID: 0007_dialogs
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("time_known", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    op.drop_column("visits", "time_known")
