"""Opening the configured database: the embedded default migrates itself, others must be current."""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.config import Settings
from bot.crypto import SecretKeyError, Secrets, UnavailableSecrets
from bot.store.database import current_revision, create_engine, head_revision, upgrade
from bot.store.repos import Store

log = logging.getLogger(__name__)


async def open_store(settings: Settings, clock: Clock | None = None, migrate: bool | None = None) -> Store:
    """Connect; the embedded default migrates itself, other databases must be current (`shegong db upgrade`)."""
    if settings.is_embedded:
        settings.ensure_data_dir()
    try:
        secrets = Secrets.from_settings(settings)
    except SecretKeyError as exc:
        if settings.secret_key or settings.is_embedded:  # a malformed key or key file: fix it now
            raise SystemExit(str(exc)) from exc
        # PostgreSQL without a key: policy Q&A still works; casework fails with this message on first use.
        log.warning("%s", exc)
        secrets = UnavailableSecrets(str(exc))
    engine = create_engine(settings.effective_database_url)
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
    return store
