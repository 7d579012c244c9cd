"""Home-visit reports (入户走访记录): save once per platform message, undo, attach, list, export."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select

from bot.pii import protect_note, reveal
from bot.store.casework_models import Case, Station, Visit, Worker
from bot.store.casework_records import RISK_LEVELS, VISIT_MODES, VisitDraft, VisitRecord, aware, utc
from bot.store.feature import FeatureStore
from handlers.casework.models import VisitAttachment

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import ColumnElement


ATTACH_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """A photo or location attached to a visit; `label` is the photo's caption or the place's name."""

    kind: str  # image | location
    label: str
    latitude: float | None
    longitude: float | None

    def place(self) -> str:
        where = (
            f"{self.latitude:.5f},{self.longitude:.5f}"
            if self.latitude is not None and self.longitude is not None
            else ""
        )
        return "".join((self.label, f"（{where}）" if self.label and where else where))


class VisitQueries(FeatureStore):
    if TYPE_CHECKING:  # provided by Store and OutboxQueries

        def _insert(self, table: Any) -> Any: ...
        async def enqueue(
            self,
            channel: str,
            chat_id: str,
            payload: dict[str, Any],
            dedup_key: str | None = None,
            session: AsyncSession | None = None,
        ) -> bool: ...

    async def save_visit(
        self,
        worker_id: int,
        draft: VisitDraft,
        source_key: str,
        notices: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> tuple[VisitRecord, bool]:
        """Save a confirmed report; (record, True) the first time, (existing record, False) when this
        source_key was saved before. `notices` are outbox rows (channel, chat_id, payload) committed with
        the visit. A risk level in the report becomes the case's risk level."""
        if draft.mode not in VISIT_MODES:
            raise ValueError(f"未知走访方式：{draft.mode}")
        if draft.risk_after not in ("", *RISK_LEVELS):
            raise ValueError(f"未知风险等级：{draft.risk_after}")
        now = self.clock.now()
        async with self.session.begin() as s:
            if (existing := await self._visit_id_for(s, source_key)) is not None:
                return (await self._visits(s, Visit.id == existing))[0], False
            case = await s.get(Case, draft.case_id, with_for_update=True)  # serialises risk-level changes
            worker = await s.get(Worker, worker_id)
            if case is None or worker is None or case.station_id != worker.station_id:
                raise ValueError("服务对象不属于该社工所在的社工站")
            protect = functools.partial(protect_note, encrypt=self.secrets.encrypt)
            stmt = (
                self._insert(Visit)
                .values(
                    case_id=case.id,
                    worker_id=worker_id,
                    visited_at=utc(draft.visited_at),
                    time_known=draft.time_known,
                    mode=draft.mode,
                    findings=protect(draft.findings),
                    needs=protect(draft.needs),
                    services=protect(draft.services),
                    risk_after=draft.risk_after,
                    risk_before=case.risk_level,
                    follow_up=protect(draft.follow_up),
                    danger=draft.danger[:200],
                    source_key=source_key,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["source_key"])
                .returning(Visit.id)
            )
            visit_id = (await s.execute(stmt)).scalar_one_or_none()
            if visit_id is None:  # another process saved the same message a moment ago
                existing = await self._visit_id_for(s, source_key)
                return (await self._visits(s, Visit.id == existing))[0], False
            if draft.risk_after and draft.risk_after != case.risk_level:
                case.risk_level, case.updated_at = draft.risk_after, now
            for i, (channel, chat_id, payload) in enumerate(notices):
                await self.store.enqueue(channel, chat_id, payload, dedup_key=f"visit:{visit_id}:notice:{i}", session=s)
            return (await self._visits(s, Visit.id == visit_id))[0], True

    async def last_visit_of_worker(self, worker_id: int) -> VisitRecord | None:
        """The worker's most recently saved report (for 撤销)."""
        async with self.session() as s:
            found = await self._visits(s, Visit.worker_id == worker_id, newest_first=True, by_created=True, limit=1)
            return found[0] if found else None

    async def visits_of_same_report(self, visit_id: int, worker_id: int) -> list[VisitRecord]:
        """The visits saved from one report (one per person it named, keyed `<source>` and `<source>#<case>`),
        the worker's own only."""
        async with self.session() as s:
            key = (
                await s.execute(select(Visit.source_key).where(Visit.id == visit_id, Visit.worker_id == worker_id))
            ).scalar_one_or_none()
            if key is None:
                return []
            head, _, case_id = key.rpartition("#")
            base = head if head and case_id.isdigit() else key
            pattern = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "#%"
            return await self._visits(
                s,
                Visit.worker_id == worker_id,
                (Visit.source_key == base) | Visit.source_key.like(pattern, escape="\\"),
            )

    async def delete_visit(self, visit_id: int, worker_id: int) -> bool:
        """Delete one of the worker's own visits. The case's risk level goes back to what it was before,
        unless a later report changed it again."""
        now = self.clock.now()
        async with self.session.begin() as s:
            visit = (
                await s.execute(select(Visit).where(Visit.id == visit_id, Visit.worker_id == worker_id))
            ).scalar_one_or_none()
            if visit is None:
                return False
            if visit.risk_after and visit.risk_before:
                case = await s.get(Case, visit.case_id, with_for_update=True)
                later = (
                    select(Visit.id)
                    .where(Visit.case_id == visit.case_id, Visit.id > visit.id, Visit.risk_after != "")
                    .limit(1)
                )
                if (
                    case is not None
                    and case.risk_level == visit.risk_after
                    and (await s.execute(later)).first() is None
                ):
                    case.risk_level, case.updated_at = visit.risk_before, now
            await s.execute(delete(VisitAttachment).where(VisitAttachment.visit_id == visit_id))
            await s.execute(delete(Visit).where(Visit.id == visit_id))
            return True

    async def attach_to_recent_visit(
        self,
        worker_id: int,
        kind: str,
        url: str = "",
        latitude: float | None = None,
        longitude: float | None = None,
        label: str = "",
        since: datetime | None = None,
    ) -> VisitRecord | None:
        """Attach a photo or location to the worker's newest visit saved at or after `since` (default: ten
        minutes ago); None when there is none."""
        if not kind or len(kind) > 8:
            raise ValueError(f"未知附件类型：{kind}")
        since = utc(since) if since is not None else self.clock.now() - ATTACH_WINDOW
        async with self.session.begin() as s:
            newest = (
                select(Visit.id)
                .where(Visit.worker_id == worker_id, Visit.created_at >= since)
                .order_by(Visit.created_at.desc(), Visit.id.desc())
                .limit(1)
            )
            visit_id = (await s.execute(newest)).scalar_one_or_none()
            if visit_id is None:
                return None
            s.add(
                VisitAttachment(
                    visit_id=visit_id,
                    kind=kind,
                    url=url[:500],
                    latitude=latitude,
                    longitude=longitude,
                    label=label[:200],
                    created_at=self.clock.now(),
                )
            )
            await s.flush()
            return (await self._visits(s, Visit.id == visit_id))[0]

    async def visits_of_worker(self, worker_id: int, start: datetime, end: datetime) -> list[VisitRecord]:
        """The worker's visits with start <= visited_at < end, oldest first."""
        async with self.session() as s:
            return await self._visits(
                s, Visit.worker_id == worker_id, Visit.visited_at >= utc(start), Visit.visited_at < utc(end)
            )

    async def visits_of_case(self, case_id: int, limit: int = 5) -> list[VisitRecord]:
        """The case's most recent visits, newest first."""
        async with self.session() as s:
            return await self._visits(s, Visit.case_id == case_id, newest_first=True, limit=limit)

    async def attachments_of(self, visit_ids: Sequence[int]) -> dict[int, list[AttachmentInfo]]:
        """The photos and locations of these visits, in the order they were sent."""
        if not visit_ids:
            return {}
        async with self.session() as s:
            return await self._attachments(s, visit_ids)

    async def _attachments(self, s: AsyncSession, visit_ids: Sequence[int]) -> dict[int, list[AttachmentInfo]]:
        stmt = select(VisitAttachment).where(VisitAttachment.visit_id.in_(list(visit_ids))).order_by(VisitAttachment.id)
        found: dict[int, list[AttachmentInfo]] = {}
        for a in (await s.execute(stmt)).scalars():
            found.setdefault(a.visit_id, []).append(AttachmentInfo(a.kind, a.label, a.latitude, a.longitude))
        return found

    async def export_visits(
        self, station_id: int | None, start: datetime | None, end: datetime | None
    ) -> list[dict[str, str]]:
        """One row per visit (start <= visited_at < end), Chinese column names, ID and phone numbers in
        clear: the only place they leave the database unmasked. The caller writes the audit row."""
        where: list[ColumnElement[bool]] = []
        if station_id is not None:
            where.append(Case.station_id == station_id)
        if start is not None:
            where.append(Visit.visited_at >= utc(start))
        if end is not None:
            where.append(Visit.visited_at < utc(end))
        stmt = (
            select(Visit, Case, Worker.name, Station.name)
            .join(Case, Case.id == Visit.case_id)
            .join(Worker, Worker.id == Visit.worker_id)
            .join(Station, Station.id == Case.station_id)
            .where(*where)
            .order_by(Visit.visited_at, Visit.id)
        )
        async with self.session() as s:
            rows = (await s.execute(stmt)).all()
            attached = await self._attachments(s, [v.id for v, *_rest in rows])
        decrypt = self.secrets.decrypt

        def clear(note: str) -> str:
            return reveal(note, decrypt, masked=False)

        return [
            {
                "社工站": station,
                "服务对象": case.name,
                "身份证号": decrypt(case.id_number_enc),
                "电话": decrypt(case.phone_enc),
                "类别": "、".join(case.categories),
                "村居": case.village,
                "走访时间": _when(v, self.tz),
                "方式": v.mode,
                "发现情况": clear(v.findings),
                "需求": clear(v.needs),
                "提供服务": clear(v.services),
                "走访后风险": v.risk_after,
                "跟进计划": clear(v.follow_up),
                "危险提示": v.danger,
                "社工": worker,
                **_attachment_columns(attached.get(v.id, [])),
                "对象状态": "在册" if case.status == "open" else f"已结案（{case.closed_reason or '其他'}）",
            }
            for v, case, worker, station in rows
        ]

    async def _visit_id_for(self, s: AsyncSession, source_key: str) -> int | None:
        return (await s.execute(select(Visit.id).where(Visit.source_key == source_key))).scalar_one_or_none()

    async def _visits(
        self,
        s: AsyncSession,
        *where: ColumnElement[bool],
        newest_first: bool = False,
        by_created: bool = False,
        limit: int | None = None,
    ) -> list[VisitRecord]:
        attachments = (
            select(func.count(VisitAttachment.id)).where(VisitAttachment.visit_id == Visit.id).scalar_subquery()
        )
        key = Visit.created_at if by_created else Visit.visited_at
        order = (key.desc(), Visit.id.desc()) if newest_first else (key, Visit.id)
        stmt = (
            select(Visit, Case.name, Worker.name, attachments)
            .join(Case, Case.id == Visit.case_id)
            .join(Worker, Worker.id == Visit.worker_id)
            .where(*where)
            .order_by(*order)
            .limit(limit)
        )

        def shown(note: str) -> str:  # phone numbers masked: records are for chat messages and lists
            return reveal(note, self.secrets.decrypt, masked=True)

        return [
            VisitRecord(
                v.id,
                v.case_id,
                case_name,
                v.worker_id,
                worker_name,
                aware(v.visited_at),
                v.mode,
                shown(v.findings),
                shown(v.needs),
                shown(v.services),
                v.risk_after,
                shown(v.follow_up),
                v.danger,
                aware(v.created_at),
                n,
                v.time_known,
            )
            for v, case_name, worker_name, n in (await s.execute(stmt)).all()
        ]


def _when(visit: Visit, tz: ZoneInfo) -> str:
    """The visit's local time for the export; the date alone when only the day was reported."""
    return aware(visit.visited_at).astimezone(tz).strftime("%Y-%m-%d %H:%M" if visit.time_known else "%Y-%m-%d")


def _attachment_columns(attachments: list[AttachmentInfo]) -> dict[str, str]:
    """照片 (how many), 照片说明 (their captions), 位置 (names and coordinates): the photos themselves stay on
    the platform that received them."""
    photos = [a for a in attachments if a.kind == "image"]
    places = [a for a in attachments if a.kind == "location"]
    return {
        "照片": str(len(photos)) if photos else "",
        "照片说明": "；".join(a.label for a in photos if a.label),
        "位置": "；".join(a.place() for a in places),
    }
