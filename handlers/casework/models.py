"""Tables only casework reads and writes: the roster's history dates before the bot (reminders read these
through casework) and the stations' village service points (made by migration 0003, not used yet). Stations,
workers, cases, visits and their attachments are shared: bot/store/casework_models.py (the engine's free-text
protection reads visits and attachments)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class StationPoint(Base):
    """A village or community (村/居) service point belonging to a station."""

    __tablename__ = "station_points"
    __table_args__ = (UniqueConstraint("station_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))


class CaseHistory(Base):
    """A date the roster gave for the case's history before the bot (上次走访日期 and the like): counts for
    reminders like a visit of that kind on that day. `kind`: visit | home_visit | assessment (HISTORY_KINDS)."""

    __tablename__ = "case_history"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    done_at: Mapped[datetime]  # local noon of the day, in UTC: the day stays the day in any reading
    source: Mapped[str] = mapped_column(String(16), default="import")
    updated_at: Mapped[datetime]


