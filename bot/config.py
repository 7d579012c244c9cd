"""Typed settings, read once from SHEGONG_* environment variables and an optional .env file."""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
# The data directory holds the embedded database and the encryption key: its owner only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def default_data_dir() -> Path:
    return Path(user_data_dir("shegong", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHEGONG_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # Empty means "the embedded default": a SQLite file inside data_dir.
    database_url: str = ""
    log_level: str = "INFO"
    timezone: str = "Asia/Shanghai"
    # Master key for ID/phone encryption (see bot/crypto.py for the format). Empty: the embedded default
    # keeps a generated key in data_dir/secret.key; PostgreSQL deployments must set it, the same everywhere.
    secret_key: str = Field(default="", repr=False)
    # Conversation logs (handoff messages, sent pushes, dialog state) older than this are purged.
    retention_days: int = Field(default=180, ge=1)
    # Durable intake: a process renews its claim on the messages it is handling this often (a third of the
    # lease); a message whose process died is taken over by another process once the lease runs out.
    inbox_lease_seconds: float = Field(default=30.0, gt=0)
    # A push claimed by a sender that died is retried by another after this long.
    outbox_lease_seconds: float = Field(default=60.0, gt=0)
    # The address people reach this server at (e.g. https://shegong.example.org): links sent in chat, such as
    # the dashboard's one-time login link, are built from it.
    public_url: str = ""
    # When set, GET /metrics wants `Authorization: Bearer <token>` (for a scraper outside the proxy).
    metrics_token: str = Field(default="", repr=False)

    # Web chat sessions: a signed, HttpOnly cookie issued by the server names the visitor. It lapses after
    # this many days without a message; Secure is set when the request came over HTTPS (directly or as
    # X-Forwarded-Proto from a trusted proxy) or always when web_cookie_secure is on.
    web_session_days: int = Field(default=30, ge=1)
    web_cookie_secure: bool = False
    # Peers whose X-Forwarded-For is believed (comma separated addresses): the reverse proxy in front of
    # `shegong serve`. Client-address rate limits count the address the proxy saw, not the proxy's own.
    trusted_proxies: str = "127.0.0.1,::1"

    # Rate limits (see SECURITY.md). Messages per identity per minute: counted in each process (a person's
    # messages reach one process at a time in practice, so a second process at most doubles it). Invite
    # failures and new web identities: counted in the database, shared by every process.
    rate_messages_per_minute: int = Field(default=30, ge=1)
    invite_max_failures: int = Field(default=5, ge=1)
    invite_failure_window_minutes: int = Field(default=15, ge=1)
    web_new_identities_per_hour: int = Field(default=60, ge=1)

    # Knowledge base: the built-in documents plus any extra folders (comma separated).
    kb_builtin: bool = True
    kb_extra_dirs: str = ""
    kb_min_confidence: float = Field(default=0.0, description="Overrides the engine's refusal threshold when > 0")

    # Channels (a channel whose settings are absent is not mounted).
    telegram_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base: str = "https://api.telegram.org/bot"

    wechat_token: str = ""
    wechat_appid: str = ""
    wechat_appsecret: str = ""
    wechat_aes_key: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"

    wecom_corpid: str = ""
    wecom_agentid: str = ""
    wecom_secret: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_api_base: str = "https://qyapi.weixin.qq.com"

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'shegong.db'}"

    @property
    def push_channels(self) -> frozenset[str]:
        """The platforms this deployment can push a message to (the conditions each channel's `create` checks):
        a person bound only elsewhere, e.g. on the console, cannot be notified and must be told another way."""
        found = set()
        if self.telegram_token:
            found.add("telegram")
        if self.wechat_token:
            found.add("wechat")
        if all((self.wecom_corpid, self.wecom_secret, self.wecom_token, self.wecom_aes_key, self.wecom_agentid)):
            found.add("wecom")
        return frozenset(found)

    @property
    def is_embedded(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The embedded database's file (None for PostgreSQL or an in-memory database)."""
        if not self.is_embedded:
            return None
        database = make_url(self.effective_database_url).database
        return Path(database) if database and database != ":memory:" else None

    def ensure_data_dir(self) -> Path:
        """The data directory (mode 700) and, for SQLite, the database file (mode 600; SQLite gives its
        -wal and -shm files the database's mode), created before anything is written into them."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        try:
            self.data_dir.chmod(PRIVATE_DIR_MODE)
        except PermissionError:  # a directory someone else owns (a mounted volume): usable, but say so
            log.warning("cannot make the data directory %s private (mode 700): check who else can read it",
                        self.data_dir)
        if (database := self.sqlite_path) is not None and database.parent.is_dir():
            make_private_file(database)
        return self.data_dir


def make_private_file(path: Path) -> None:
    """Create `path` (empty) if absent, readable and writable by its owner only either way."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    path.chmod(PRIVATE_FILE_MODE)
