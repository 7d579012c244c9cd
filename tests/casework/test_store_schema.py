"""The migrations build exactly the tables the models describe, on every database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from bot.store import Store, create_engine, upgrade
from bot.store.database import _alembic_config, head_revision
from bot.store.schema import defined_tables, target_metadata
from handlers import FEATURES

ROOT = Path(__file__).resolve().parents[2]


def test_every_feature_lists_its_own_models_module() -> None:
    # A models.py its feature does not list would be missing from the migrations' target metadata.
    on_disk = {path.parent.name for path in (ROOT / "handlers").glob("*/models.py")}
    listed = {f.name: [m.__name__ for m in f.models] for f in FEATURES if f.models}
    assert listed == {name: [f"handlers.{name}.models"] for name in on_disk}
    assert {"invites", "worker_duty", "case_history", "reminder_ledger"} <= defined_tables(
        m for f in FEATURES for m in f.models
    )


async def test_migrated_schema_matches_models(store: Store) -> None:
    metadata = target_metadata(m for f in FEATURES for m in f.models)

    def compare(sync_conn):
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with store.engine.connect() as conn:
        assert await conn.run_sync(compare) == []
    assert {
        "stations",
        "workers",
        "worker_identities",
        "invites",
        "cases",
        "visits",
        "visit_attachments",
        "audit_log",
    } <= set(metadata.tables)


async def test_migration_0006_keeps_cases_visits_and_reminder_rows(database_url: str) -> None:
    """Widening risk_level on a database in use: every row stays (SQLite must not rebuild `cases`, which
    would cascade-delete reminder rows), and 未评估 fits afterwards."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(_alembic_config(c), "0005"))
            now = "2026-11-28 09:00:00+00"
            for sql in (
                f"INSERT INTO stations (id, name, county, city, created_at, address, phone, hours) "
                f"VALUES (1, '石牌街社工站', '', '', '{now}', '', '', '')",
                "INSERT INTO workers (id, station_id, name, role, created_at) "
                f"VALUES (1, 1, '王芳', 'worker', '{now}')",
                "INSERT INTO cases (id, station_id, name, categories, village, address, phone_enc, id_number_enc, "
                "id_hash, import_hash, risk_level, worker_id, status, created_at, updated_at) VALUES (1, 1, '张桂英', "
                f"'[\"低保\"]', '石牌村', '', '', '', 'h', 'i', '中', 1, 'open', '{now}', '{now}')",
                "INSERT INTO visits (id, case_id, worker_id, visited_at, mode, findings, needs, services, risk_after, "
                "risk_before, follow_up, danger, source_key, created_at) "
                f"VALUES (1, 1, 1, '{now}', '入户', '', '', '', "
                f"'中', '低', '', '', 'k1', '{now}')",
                "INSERT INTO reminder_ledger (case_id, item_key, due_date, kind, recipient_id, station_id, status, "
                f"created_at) VALUES (1, 'econ_check', '2026-12-01', 'escalation', 1, 1, 'queued', '{now}')",
            ):
                await conn.execute(text(sql))
        assert await upgrade(engine) == head_revision()  # through 0006 and every later revision
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT risk_level FROM cases"))).all() == [("中",)]
            assert (await conn.execute(text("SELECT risk_before, risk_after FROM visits"))).all() == [("低", "中")]
            assert (await conn.execute(text("SELECT count(*) FROM reminder_ledger"))).scalar_one() == 1
            # Visits saved before time_known existed had a time of day (migration 0007_dialogs).
            assert (await conn.execute(text("SELECT time_known FROM visits"))).scalar_one() in (True, 1)
            await conn.execute(text("UPDATE cases SET risk_level = '未评估'"))
            await conn.execute(text("UPDATE visits SET risk_before = '未评估'"))
            assert (await conn.execute(text("SELECT risk_level FROM cases"))).scalar_one() == "未评估"
    finally:
        await engine.dispose()
