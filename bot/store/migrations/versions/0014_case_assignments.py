"""Case history for the reports of past months: who was responsible for a case and which categories it had
over time (case_assignments), and a closing date for every closed case.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id"), nullable=True),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
    )
    # Cases closed before closing dates were kept: their last change is the best date there is.
    op.execute("UPDATE cases SET closed_at = updated_at WHERE status = 'closed' AND closed_at IS NULL")
    # What is known of the past: each case as it is now, from its registration to its close.
    op.execute(
        "INSERT INTO case_assignments (case_id, worker_id, categories, started_at, ended_at) "
        "SELECT id, worker_id, categories, created_at, CASE WHEN status = 'open' THEN NULL ELSE closed_at END "
        "FROM cases"
    )
    # The monthly report reads a month's visits of an area's cases by case and date.
    op.create_index("ix_visits_case_id_visited_at", "visits", ["case_id", "visited_at"])


def downgrade() -> None:
    op.drop_index("ix_visits_case_id_visited_at", table_name="visits")
    op.drop_table("case_assignments")
