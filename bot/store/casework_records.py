"""Casework records handed to features: plain frozen values, personal numbers already masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import overload

ROLES = ("worker", "lead", "admin", "supervisor")
# A supervisor (区/市/省 level) sees a whole area's aggregates, not a station's casework; they have no station.
AREA_ROLES = ("supervisor",)
# Who does a station lead's work: overdue escalations, danger and draft notices, station statistics. An admin
# registers the station's workers and is treated as a lead for all of these.
LEAD_ROLES = ("lead", "admin")
RISK_LEVELS = ("高", "中", "低")
VISIT_MODES = ("入户", "电话", "视频", "到站")
# "低保收入不固定" marks a 低保 household whose income varies (working-age members): it is reviewed
# half-yearly instead of yearly (handlers/reminders/data/default.yaml).
CATEGORIES = ("低保", "低保收入不固定", "低保边缘", "特困分散供养", "特困集中供养", "独居老人", "高龄老人", "残疾人",
              "困境儿童", "留守儿童", "事实无人抚养儿童", "孤儿", "其他")
CLOSE_REASONS = ("迁出", "死亡", "不再符合", "其他")
# A roster's history columns and what each date stands for: any visit, a home visit, an assessment.
HISTORY_KINDS = {"上次走访日期": "visit", "上次入户日期": "home_visit", "上次评估日期": "assessment"}
EXPORT_COLUMNS = ("社工站", "服务对象", "身份证号", "电话", "类别", "村居", "走访时间", "方式", "发现情况", "需求",
                  "提供服务", "走访后风险", "跟进计划", "危险提示", "社工", "照片", "照片说明", "位置", "对象状态")


@dataclass(frozen=True, slots=True)
class StationRecord:
    id: int
    name: str
    district: str  # 县/区, "" where towns sit directly under the city
    city: str
    town: str = ""

    @property
    def county(self) -> str:
        """The old name of `district` (before migration 0007)."""
        return self.district


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    id: int
    name: str
    role: str
    station_id: int
    station_name: str

    @property
    def is_lead(self) -> bool:
        return self.role in LEAD_ROLES


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: int
    station_id: int
    name: str
    categories: tuple[str, ...]
    village: str
    address: str
    phone_masked: str
    id_masked: str
    risk_level: str
    worker_id: int | None
    worker_name: str
    status: str
    last_visit_at: datetime | None
    closed_reason: str = ""
    closed_at: datetime | None = None

    @property
    def status_label(self) -> str:
        """在册, or 已结案（迁出）."""
        return "在册" if self.status == "open" else f"已结案（{self.closed_reason or '其他'}）"


@dataclass(frozen=True, slots=True)
class VisitDraft:
    """What a worker reported, before saving."""

    case_id: int
    visited_at: datetime
    mode: str
    findings: str = ""
    needs: str = ""
    services: str = ""
    risk_after: str = ""
    follow_up: str = ""
    danger: str = ""
    time_known: bool = True  # False: a date-only report


@dataclass(frozen=True, slots=True)
class VisitRecord:
    id: int
    case_id: int
    case_name: str
    worker_id: int
    worker_name: str
    visited_at: datetime
    mode: str
    findings: str
    needs: str
    services: str
    risk_after: str
    follow_up: str
    danger: str
    created_at: datetime
    attachments: int
    time_known: bool = True


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One validated import row, plain values; the store encrypts."""

    name: str
    categories: tuple[str, ...]
    village: str
    address: str
    phone: str
    id_number: str
    risk_level: str
    worker_name: str
    # (kind in HISTORY_KINDS' values, day) for each history column the row fills in
    history: tuple[tuple[str, date], ...] = ()


def utc(value: datetime) -> datetime:
    """Everything is stored in UTC: SQLite keeps the wall-clock digits and drops the offset."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
