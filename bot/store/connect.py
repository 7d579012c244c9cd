"""Opening the configured database: the embedded default migrates itself, others must be current."""

from __future__ import annotations

import logging
import sys

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.config import Settings
from bot.crypto import SecretKeyError, Secrets, UnavailableSecrets
from bot.store.database import create_engine, current_revision, head_revision, upgrade
from bot.store.free_text import protect_legacy_free_text
from bot.store.repos import Store

log = logging.getLogger(__name__)


def _unreachable(what: str, exc: BaseException) -> SystemExit:
    """One line on standard error and exit status 2: a start-up the operator must fix, not a crash."""
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    detail = (str(reason).strip().splitlines() or [type(reason).__name__])[0][:200]
    print(f"无法连接数据库 {what}：{detail}。请检查 SHEGONG_DATABASE_URL 是否正确、数据库是否已启动并可从本机访问。",
          file=sys.stderr)
    return SystemExit(2)


async def _check_reachable(engine: AsyncEngine, settings: Settings) -> None:
    try:
        async with engine.connect():
            pass
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        await engine.dispose()
        shown = make_url(settings.effective_database_url).render_as_string(hide_password=True)
        raise _unreachable(shown, exc) from None


async def open_store(settings: Settings, clock: Clock | None = None, migrate: bool | None = None) -> Store:
    """Connect; the embedded default migrates itself, other databases must be current (`shegong db upgrade`).
    A database that cannot be reached ends the program with one line on standard error and status 2."""
    if settings.is_embedded:
        try:
            settings.ensure_data_dir()
        except OSError as exc:
            raise _unreachable(str(settings.sqlite_path or settings.data_dir), exc) from None
    try:
        secrets = Secrets.from_settings(settings)
    except SecretKeyError as exc:
        if settings.secret_key or settings.is_embedded:  # a malformed key or key file: fix it now
            raise SystemExit(str(exc)) from exc
        # PostgreSQL without a key: policy Q&A still works; casework fails with this message on first use.
        log.warning("%s", exc)
        secrets = UnavailableSecrets(str(exc))
    engine = create_engine(settings.effective_database_url)
    await _check_reachable(engine, settings)
    store = Store(engine, clock, secrets, settings.timezone)
    if migrate if migrate is not None else settings.is_embedded:
        await upgrade(engine)
    elif await current_revision(engine) != head_revision():
        await engine.dispose()
        raise SystemExit("数据库结构不是最新版本，请先运行：shegong db upgrade")
    if not isinstance(secrets, UnavailableSecrets) and not await store.key_matches(secrets.fingerprint()):
        # A different key (another process configured differently, a lost secret.key) could not read
        # anything encrypted so far, and what it wrote could not be read by the others.
        await store.close()
        raise SystemExit("密钥与本数据库中已加密数据所用的密钥不同：所有进程必须使用同一个 SHEGONG_SECRET_KEY"
                         "（默认数据库的密钥在数据目录的 secret.key 中，请从备份恢复）。")
    if not isinstance(secrets, UnavailableSecrets):
        await protect_legacy_free_text(store)  # notes and tickets written in clear by an older version
    return store
