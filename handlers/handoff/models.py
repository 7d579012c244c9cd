"""The handoff feature's own table: who is on duty. Tickets and their messages are shared
(bot/store/handoff_models.py): intake reads a resident's open ticket for every message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class WorkerDuty(Base):
    """`值班` / `下班`. A station where nobody is marked on duty notifies all its bound workers."""

    __tablename__ = "worker_duty"

    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True)
    on_duty: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime]
