"""Stations, workers and their chat identities, invites, cases, visits, attachments, audit log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("county", sa.String(32), nullable=False),
        sa.Column("city", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "station_points",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.UniqueConstraint("station_id", "name"),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), nullable=False, index=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("station_id", "name"),
    )
    op.create_table(
        "worker_identities",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("bound_at", TZ, nullable=False),
    )
    op.create_table(
        "invites",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), nullable=False, index=True),
        sa.Column("name", sa.String(32), nullable=False, index=True),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("village", sa.String(64), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("phone_enc", sa.Text, nullable=False),
        sa.Column("id_number_enc", sa.Text, nullable=False),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("import_hash", sa.String(64), nullable=False),
        sa.Column("risk_level", sa.String(2), nullable=False),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id"), nullable=True, index=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("station_id", "id_hash"),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id"), nullable=False, index=True),
        sa.Column("visited_at", TZ, nullable=False, index=True),
        sa.Column("mode", sa.String(4), nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("needs", sa.Text, nullable=False),
        sa.Column("services", sa.Text, nullable=False),
        sa.Column("risk_after", sa.String(2), nullable=False),
        sa.Column("risk_before", sa.String(2), nullable=False),
        sa.Column("follow_up", sa.Text, nullable=False),
        sa.Column("danger", sa.String(200), nullable=False),
        sa.Column("source_key", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "visit_attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("visit_id", sa.Integer, sa.ForeignKey("visits.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False, index=True),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id"), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("flagged", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "visit_attachments", "visits", "cases", "invites", "worker_identities", "workers",
                  "station_points", "stations"):
        op.drop_table(table)
