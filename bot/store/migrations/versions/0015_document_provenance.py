"""Ingested documents keep their provenance: the `sources:` list, the `reviewed` date, the `aliases` (old paths
that still answer) and the front matter as written, which `shegong kb check --ingested` reads.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_documents") as batch:
        batch.add_column(sa.Column("sources", sa.JSON, nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("reviewed", sa.Date, nullable=True))
        batch.add_column(sa.Column("aliases", sa.JSON, nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("front_matter", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("kb_documents") as batch:
        batch.drop_column("front_matter")
        batch.drop_column("aliases")
        batch.drop_column("reviewed")
        batch.drop_column("sources")
