"""Shared tables for residents: profiles and consent, tickets and their messages, knowledge-base drafts made
from answers. Station directory columns live on `stations`.

Intake reads a resident's profile and open ticket for every message, and start-up protects tickets' texts: the
core store needs these. Drafts are written by kb_drafts and deleted by privacy (erasure, retention), which
kb_drafts itself depends on, so they stay here. Who is on duty is handoff's alone (handlers/handoff/models.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class ResidentProfile(Base):
    """What a resident agreed to let us keep: their station (镇街) and when they saw the notice and consented.
    One row per chat identity, deleted with it (`删除我的信息`)."""

    __tablename__ = "resident_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id", ondelete="SET NULL"), nullable=True)
    town: Mapped[str] = mapped_column(String(32), default="")
    notice_at: Mapped[datetime | None] = mapped_column(nullable=True)
    consented_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]



class Ticket(Base):
    """A resident's request for a person. Active (the bot stays silent) while open and touched in the last
    24 hours; open until a worker sends `结束 N` (or the resident leaves, or it goes stale)."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                index=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), index=True)  # open | closed
    # The worker who replied last: the resident's messages go to them (else to everyone on duty).
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    last_activity_at: Mapped[datetime]
    first_reply_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_by: Mapped[str] = mapped_column(String(16), default="")  # worker|resident|stale|replaced|deleted


class TicketMessage(Base):
    """The conversation log of a ticket after its question; purged after the retention period."""

    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    sender: Mapped[str] = mapped_column(String(8))  # resident | worker
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)


class KbDraft(Base):
    """`收录 N`: a ticket's question and the workers' answer, waiting for a lead's `发布 M`."""

    __tablename__ = "kb_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # draft | published
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"), nullable=True)
    document_path: Mapped[str] = mapped_column(String(300), default="")
