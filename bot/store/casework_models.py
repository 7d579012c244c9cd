"""Shared tables: stations, workers and their chat identities, cases (服务对象), home visits and the audit log.

The core store needs them (who a sender is, the audit log, protecting visit notes at start-up; `visits` refers to
`cases`) and several features read them. A table only one feature uses lives in that feature's `models.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base

# The risk level of a case nobody has assessed yet (a blank 风险等级 in the roster): not 低.
UNASSESSED = "未评估"


class Station(Base):
    """A township (镇/街) social-work station."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    city: Mapped[str] = mapped_column(String(16), default="")  # 地级市
    # 县/区 (was `county`, migration 0007); empty where towns sit directly under the city (东莞, 中山).
    district: Mapped[str] = mapped_column(String(32), default="")
    town: Mapped[str] = mapped_column(String(32), default="")  # 镇/街
    created_at: Mapped[datetime]
    # Directory details for residents (added by migration 0005, set with `shegong station add|set`).
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    hours: Mapped[str] = mapped_column(String(100), default="")
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)



class Worker(Base):
    __tablename__ = "workers"
    __table_args__ = (UniqueConstraint("station_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for a supervisor, who belongs to an area (`scope`) rather than a station.
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), index=True, nullable=True)
    name: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))  # worker | lead | admin | supervisor
    scope: Mapped[str] = mapped_column(String(80), default="")  # supervisors: province | city:X | district:X
    created_at: Mapped[datetime]
    # active | disabled (left the station: no chat identity, no case access; records kept). Migration 0008.
    status: Mapped[str] = mapped_column(String(8), default="active")
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WorkerIdentity(Base):
    """A chat identity (users row) linked to a worker: one worker may use WeCom and Telegram."""

    __tablename__ = "worker_identities"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), index=True)
    bound_at: Mapped[datetime]



class Case(Base):
    """A resident served by the station (服务对象). ID number and phone are encrypted at rest."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("station_id", "id_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    name: Mapped[str] = mapped_column(String(32), index=True)
    categories: Mapped[list[str]] = mapped_column(default=list)  # JSON list, e.g. ["低保", "独居老人"]
    village: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    phone_enc: Mapped[str] = mapped_column(Text, default="")
    id_number_enc: Mapped[str] = mapped_column(Text, default="")
    # Keyed hash of the ID number: finds the same resident again on re-import without decrypting.
    id_hash: Mapped[str] = mapped_column(String(64))
    # Keyed hash of the row as last imported: re-importing the same file finds nothing to change without
    # decrypting anything, and does not undo risk levels that visits changed since.
    import_hash: Mapped[str] = mapped_column(String(64), default="")
    risk_level: Mapped[str] = mapped_column(String(8), default=UNASSESSED)  # 高 | 中 | 低 | 未评估 (migration 0006)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Why and when it was closed (CLOSE_REASONS), migration 0008; "" / None while open.
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_reason: Mapped[str] = mapped_column(String(8), default="")


class CaseAssignment(Base):
    """What was true of a case over time (migration 0014): one row per stretch during which it was open with
    one responsible worker (None: unassigned) and one category list; `ended_at` None for the current one. A
    close ends the stretch, a reopen, a reassignment or a new category list starts another, so the reports of
    past months read the cases as they were then. Kept by bot.store.case_periods.sync_assignments."""

    __tablename__ = "case_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), nullable=True)
    categories: Mapped[list[str]] = mapped_column(default=list)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)



class Visit(Base):
    __tablename__ = "visits"
    # The reports read an area's visits by case and date (migration 0014).
    __table_args__ = (Index("ix_visits_case_id_visited_at", "case_id", "visited_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    visited_at: Mapped[datetime] = mapped_column(index=True)
    # False: only the day was reported; visited_at holds noon of that day and is shown and exported as a date.
    time_known: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    mode: Mapped[str] = mapped_column(String(4))  # 入户 | 电话 | 视频 | 到站
    findings: Mapped[str] = mapped_column(Text, default="")
    needs: Mapped[str] = mapped_column(Text, default="")
    services: Mapped[str] = mapped_column(Text, default="")
    risk_after: Mapped[str] = mapped_column(String(2), default="")
    risk_before: Mapped[str] = mapped_column(String(8), default="")  # the case's level, restored on 撤销
    follow_up: Mapped[str] = mapped_column(Text, default="")
    danger: Mapped[str] = mapped_column(String(200), default="")  # danger words found, "" when none
    # The platform message that created it: the same message never creates two visits.
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class VisitAttachment(Base):
    __tablename__ = "visit_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # image | location
    url: Mapped[str] = mapped_column(String(500), default="")
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    label: Mapped[str] = mapped_column(Text, default="")  # encrypted: a caption or a place's name
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """Who read or exported which case data, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(64))  # "worker:12" or "cli:<os user>"
    action: Mapped[str] = mapped_column(String(32))  # e.g. case.read, visits.export
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
