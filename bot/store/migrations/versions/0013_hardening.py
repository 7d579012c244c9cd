"""Hardening (issue 13): a per-sender message counter that every process shares, and photo captions and
place names of visits encrypted (a Fernet token is longer than the 200 characters the column allowed).

users.rate_window is the minute (Unix time // 60) the count belongs to; users.rate_count is how many messages
the sender sent in it. Both are updated by the upsert every arriving message already makes.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("rate_window", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("rate_count", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("visit_attachments") as batch:
        batch.alter_column("label", type_=sa.Text, existing_type=sa.String(200), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("visit_attachments") as batch:
        batch.alter_column("label", type_=sa.String(200), existing_type=sa.Text, existing_nullable=False)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("rate_count")
        batch.drop_column("rate_window")
