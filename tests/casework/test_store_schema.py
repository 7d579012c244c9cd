"""The migrations build exactly the tables the models describe, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store import Store
from bot.store.models import Base


async def test_migrated_schema_matches_models(store: Store) -> None:
    def compare(sync_conn):  # noqa: ANN001, ANN202
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with store.engine.connect() as conn:
        assert await conn.run_sync(compare) == []
    assert {"stations", "workers", "worker_identities", "invites", "cases", "visits", "visit_attachments",
            "audit_log"} <= set(Base.metadata.tables)
