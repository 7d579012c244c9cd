"""A roster that changes: why and when a case was closed (迁出, 死亡, 不再符合, 其他), and workers who left
(disabled: no chat identity, no case access, their records kept).

Revision ID: 0008_roster_status
Revises: 0007_roster_history
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_reason", sa.String(8), nullable=False, server_default=""))
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("status", sa.String(8), nullable=False, server_default="active"))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("status")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("closed_reason")
        batch.drop_column("closed_at")
