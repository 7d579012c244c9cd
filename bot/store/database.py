"""Engine creation and schema migration (Alembic, run in-process on the async engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import CursorResult, Result, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says why in words an operator can act on."""


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time: one connection per process queues writers in Python instead
        # of letting them spin in SQLite's busy handler (which sleeps up to 100 ms per retry).
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0,
                                     pool_timeout=60)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # WAL lets readers and one writer work at once; foreign keys are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _alembic_config(connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head() or ""


async def current_revision(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        has_table = await conn.run_sync(lambda c: c.dialect.has_table(c, "alembic_version"))
        if not has_table:
            return ""
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() or ""


async def upgrade(engine: AsyncEngine) -> str:
    """Bring the schema to the newest revision; returns the revision now in place."""
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several processes may start at once: only one migrates, the others wait for it.
                await conn.execute(text("SELECT pg_advisory_xact_lock(7310001)"))
            await conn.run_sync(lambda sync_conn: command.upgrade(_alembic_config(sync_conn), "head"))
    except OSError as exc:
        raise DatabaseError(f"无法连接数据库：{exc}") from exc
    return await current_revision(engine)


def affected(result: Result[Any]) -> int:
    """Rows an INSERT/UPDATE/DELETE touched (the result of a DML statement is a CursorResult)."""
    return cast("CursorResult[Any]", result).rowcount
