"""Database tables. Every schema change comes with an Alembic migration in migrations/versions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[str]: JSON}


class User(Base):
    """One record per (channel, platform user id); later features link these to workers."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "platform_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(64), default="")
    city: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Messages per minute, counted where every process sees them (bot.store.arrivals): the minute
    # (Unix time // 60) and how many this sender sent in it.
    rate_window: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rate_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ConversationState(Base):
    """Where a user is in a multi-step dialog; kept in the database so any process can continue it."""

    __tablename__ = "conversation_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # A Fernet token (a JSON string) of the data's JSON: Store.seal_state; a dict in rows written in clear.
    data: Mapped[dict[str, Any] | str] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class SeenMessage(Base):
    """Platform message ids already taken by some process: redeliveries are dropped."""

    __tablename__ = "seen_messages"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class KbDocument(Base):
    """A document added with `shegong kb ingest`; the built-in documents live in the package."""

    __tablename__ = "kb_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(300), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300), default="")
    year: Mapped[str] = mapped_column(String(16), default="")
    region: Mapped[str] = mapped_column(String(32), default="")
    body: Mapped[str] = mapped_column(Text)  # the cleaned Markdown-like text
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    ingested_at: Mapped[datetime]
    # Provenance from the front matter (contract A): a list of {title, issuer, number, date, url, unconfirmed}.
    sources: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    reviewed: Mapped[date | None] = mapped_column(default=None)
    aliases: Mapped[list[str]] = mapped_column(default=list)
    front_matter: Mapped[str] = mapped_column(Text, default="")  # as written, for `shegong kb check --ingested`


class OutboxMessage(Base):
    """A message to push later or to someone else; claimed by one sender, sent, marked sent."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column()  # a serialised Reply
    # A caller-chosen key makes enqueueing idempotent (e.g. "reply:wechat:<MsgId>").
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)  # pending/sent/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(index=True)  # not before (retry backoff, lease expiry)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")


class KeyValue(Base):
    """Small shared values every process must agree on, e.g. a platform access token and its expiry."""

    __tablename__ = "shared_values"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)


class InboxMessage(Base):
    """A message the platform was told we have (HTTP 200) and whose replies are not yet in the outbox.

    Written before the webhook answers and deleted in the transaction that queues the replies, so after a
    crash whatever is left here is exactly what was acknowledged and not answered. `owner` is the process
    handling it; it keeps `lease_until` in the future while it lives, and any process takes over a row whose
    lease ran out."""

    __tablename__ = "inbox"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # the dedup key, "<channel>:<message id>"
    channel: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column()  # the Incoming (bot.messages.incoming_to_payload)
    owner: Mapped[str] = mapped_column(String(32))
    lease_until: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    accepted_at: Mapped[datetime]


class RateEvent(Base):
    """One counted event for a rate limit every process must share (a failed invite attempt, a new web
    identity), keyed by what is limited: `invite:user:<id>`, `invite:addr:<hash>`, `web:new:<hash>`."""

    __tablename__ = "rate_events"
    __table_args__ = (Index("ix_rate_events_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
