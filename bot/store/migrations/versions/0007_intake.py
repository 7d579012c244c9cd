"""Durable intake: the inbox of acknowledged messages whose replies are not queued yet.

Revision ID: 0007_intake
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbox_lease_until", "inbox", ["lease_until"])


def downgrade() -> None:
    op.drop_index("ix_inbox_lease_until", table_name="inbox")
    op.drop_table("inbox")
