"""Wiring: settings → store → knowledge → dispatcher. Channels and the server build on `Services`."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.config import Settings
from bot.crypto import SecretKeyError, Secrets, UnavailableSecrets
from bot.dispatch import Dispatcher
from bot.knowledge_service import KnowledgeService
from bot.messages import Reply, reply_to_payload
from bot.middlewares import DEFAULT_MIDDLEWARES
from bot.store import Store, create_engine, upgrade
from bot.store.database import current_revision, head_revision

if TYPE_CHECKING:
    from bot.outbox import OutboxSender

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    knowledge: KnowledgeService
    clock: Clock
    dispatcher: Dispatcher | None = None
    outbox: OutboxSender | None = None  # set by the server, which knows the channels

    async def push(self, channel: str, chat_id: str, reply: Reply, dedup_key: str | None = None) -> bool:
        """Queue a message for delivery outside the current request (always through the outbox)."""
        queued = await self.store.enqueue(channel, chat_id, reply_to_payload(reply), dedup_key)
        if queued and self.outbox is not None:
            self.outbox.wake()
        return queued

    async def close(self) -> None:
        await self.store.close()


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
    return store


async def build_services(settings: Settings, clock: Clock | None = None, migrate: bool | None = None) -> Services:
    from handlers import ROUTERS

    clock = clock or Clock()
    store = await open_store(settings, clock, migrate)
    extra = tuple(Path(p.strip()) for p in settings.kb_extra_dirs.split(",") if p.strip())
    knowledge = KnowledgeService(store, builtin=settings.kb_builtin, extra_dirs=extra, exclude=(settings.data_dir,))
    await knowledge.load()
    services = Services(settings, store, knowledge, clock)
    services.dispatcher = Dispatcher(services, ROUTERS, DEFAULT_MIDDLEWARES)
    return services
