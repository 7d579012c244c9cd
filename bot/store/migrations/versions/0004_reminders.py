"""Reminders: notice ledger, daily digests, completions, snoozes, each worker's last numbered list, and the
marks harvested from visits (when each case last had a visit matching each reset condition).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reminder_ledger",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_key", sa.String(24), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("recipient_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("station_id", sa.Integer, nullable=False, index=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("outbox_key", sa.String(200), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("case_id", "item_key", "due_date", "kind", "recipient_id"),
    )
    op.create_table(
        "reminder_digests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("digest_date", sa.Date, nullable=False, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("outbox_key", sa.String(200), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("overdue", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("worker_id", "digest_date"),
    )
    op.create_table(
        "reminder_completions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_key", sa.String(24), nullable=False),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("done_at", TZ, nullable=False),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_reminder_completions_case_item", "reminder_completions", ["case_id", "item_key"])
    op.create_table(
        "reminder_snoozes",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("item_key", sa.String(24), primary_key=True),
        sa.Column("due_date", sa.Date, primary_key=True),
        sa.Column("until_date", sa.Date, nullable=False, index=True),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "reminder_lists",
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("shown_at", TZ, nullable=False),
    )
    op.create_table(
        "reminder_marks",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        *[sa.Column(f"s{i}", TZ, nullable=True) for i in range(16)],
    )
    op.create_table(
        "reminder_harvest",
        sa.Column("spec", sa.String(16), primary_key=True),
        sa.Column("slot", sa.Integer, nullable=False, unique=True),
        sa.Column("upto", sa.Integer, nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
    )

def downgrade() -> None:
    for table in ("reminder_harvest", "reminder_marks", "reminder_lists", "reminder_snoozes",
                  "reminder_completions", "reminder_digests", "reminder_ledger"):
        op.drop_table(table)
