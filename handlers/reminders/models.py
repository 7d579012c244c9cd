"""Tables for reminders: the notice ledger, daily digests, completions and snoozes from replies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class ReminderNotice(Base):
    """The ledger: one row per notice ever queued, so that no notice is sent twice. `kind` is "remind" (the
    item first appeared in its worker's digest) or "escalate" (sent to a station lead). The row is written
    in the same transaction as the outbox message that carries it."""

    __tablename__ = "reminder_ledger"
    __table_args__ = (UniqueConstraint("case_id", "item_key", "due_date", "kind", "recipient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(24))
    due_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))  # remind | escalate
    recipient_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), index=True)
    station_id: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(12))  # queued | unreachable
    outbox_key: Mapped[str | None] = mapped_column(String(200), nullable=True)  # outbox.dedup_key
    created_at: Mapped[datetime]


class ReminderDigest(Base):
    """One worker's digest for one day: the unique key is what makes it one, across processes."""

    __tablename__ = "reminder_digests"
    __table_args__ = (UniqueConstraint("worker_id", "digest_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"))
    digest_date: Mapped[date] = mapped_column(Date, index=True)
    channel: Mapped[str] = mapped_column(String(16), default="")  # "" when the worker is unreachable
    chat_id: Mapped[str] = mapped_column(String(128), default="")
    outbox_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(12))  # queued | unreachable
    items: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class ReminderCompletion(Base):
    """An item marked done by reply ("完成 2" or the button): resets its clock like a matching visit."""

    __tablename__ = "reminder_completions"
    __table_args__ = (Index("ix_reminder_completions_case_item", "case_id", "item_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(24))
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    done_at: Mapped[datetime]
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"), nullable=True)


class ReminderSnooze(Base):
    """"推迟 2 3天": the item (for this due date) stays out of digests until `until_date`."""

    __tablename__ = "reminder_snoozes"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    item_key: Mapped[str] = mapped_column(String(24), primary_key=True)
    due_date: Mapped[date] = mapped_column(Date, primary_key=True)
    until_date: Mapped[date] = mapped_column(Date, index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime]


class ReminderList(Base):
    """The numbered list a worker saw last (digest or 待办): what "完成 2" refers to."""

    __tablename__ = "reminder_lists"

    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True)
    items: Mapped[list[Any]] = mapped_column(JSON)  # [[case_id, item_key, "YYYY-MM-DD", case_name, item_name], ...]
    shown_at: Mapped[datetime]


# When each case last had a visit matching each reset condition, harvested from visits older than the
# undo window, so that the due list reads one row per case instead of searching every visit's text. One
# column per condition ("slot", assigned in reminder_harvest): a join on the primary key, no pivoting.
MARK_SLOTS = 16
reminder_marks = Table(
    "reminder_marks", Base.metadata,
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    *[Column(f"s{i}", DateTime(timezone=True), nullable=True) for i in range(MARK_SLOTS)],
)


class ReminderHarvest(Base):
    """Per reset condition (`spec`, a hash of its modes and keywords): its column in reminder_marks and how
    far visits have been harvested into it (visits.id)."""

    __tablename__ = "reminder_harvest"

    spec: Mapped[str] = mapped_column(String(16), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, unique=True)
    upto: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column()  # the modes and keywords, for people reading the table
