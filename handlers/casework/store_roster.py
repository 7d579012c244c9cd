"""A roster that changes: closing a case (迁出, 死亡, 不再符合, 其他) and opening it again, handing a case to
another worker, and the open cases a new roster file no longer lists. Closed cases keep their visits and stay in
exports with their status; they leave reminders, lookups and the workers' lists (those read open cases only)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.store.case_periods import sync_assignments
from bot.store.casework_models import AuditEntry, Case, Worker
from bot.store.casework_records import CLOSE_REASONS
from bot.store.feature import FeatureStore


class RosterQueries(FeatureStore):

    async def close_cases(self, station_id: int, case_ids: Sequence[int], reason: str) -> list[int]:
        """Close the station's open cases among `case_ids`; returns those closed now."""
        if reason not in CLOSE_REASONS:
            raise ValueError(f"结案原因应为 {'、'.join(CLOSE_REASONS)} 之一（收到：{reason}）")
        now = self.clock.now()
        async with self.session.begin() as s:
            rows = (await s.execute(select(Case).where(Case.station_id == station_id, Case.id.in_(list(case_ids)),
                                                       Case.status == "open").with_for_update())).scalars().all()
            for case in rows:
                case.status, case.closed_reason, case.closed_at, case.updated_at = "closed", reason, now, now
            await s.flush()
            await sync_assignments(s, now, Case.id.in_([c.id for c in rows]))
            return sorted(c.id for c in rows)

    async def reopen_case(self, station_id: int, case_id: int) -> bool:
        """Undo a close: the case is open again (its history was never touched)."""
        async with self.session.begin() as s:
            case = await s.get(Case, case_id, with_for_update=True)
            if case is None or case.station_id != station_id or case.status != "closed":
                return False
            now = self.clock.now()
            case.status, case.closed_reason, case.closed_at, case.updated_at = "open", "", None, now
            await s.flush()
            await sync_assignments(s, now, Case.id == case_id)
            return True

    async def reopen_cases(self, station_id: int, case_ids: Sequence[int]) -> list[int]:
        """Open the station's closed cases among `case_ids` again; returns those reopened now."""
        now = self.clock.now()
        async with self.session.begin() as s:
            rows = (await s.execute(select(Case).where(Case.station_id == station_id, Case.id.in_(list(case_ids)),
                                                       Case.status == "closed").with_for_update())).scalars().all()
            for case in rows:
                case.status, case.closed_reason, case.closed_at, case.updated_at = "open", "", None, now
            return sorted(c.id for c in rows)

    async def reassign_case(self, station_id: int, case_id: int, worker_id: int | None) -> int | None:
        """Hand an open case to another active worker of the station (None: unassigned). Returns the worker it
        had before. Raises ValueError when the case or the worker is not the station's."""
        async with self.session.begin() as s:
            case = await s.get(Case, case_id, with_for_update=True)
            if case is None or case.station_id != station_id or case.status != "open":
                raise ValueError("本站没有这位在册的服务对象")
            if worker_id is not None:
                worker = await s.get(Worker, worker_id)
                if worker is None or worker.station_id != station_id or worker.status != "active":
                    raise ValueError("接手的社工不是本站在职的社工")
            before, now = case.worker_id, self.clock.now()
            case.worker_id, case.updated_at = worker_id, now
            await s.flush()
            await sync_assignments(s, now, Case.id == case_id)
            return before

    async def closed_cases_listed(self, station_id: int, id_numbers: Collection[str]) -> list[int]:
        """The station's closed cases whose ID number is among `id_numbers` (a new roster file), by id."""
        present = {self.secrets.id_hash(n) for n in id_numbers}
        async with self.session() as s:
            rows = (await s.execute(select(Case.id, Case.id_hash).where(Case.station_id == station_id,
                                                                       Case.status == "closed"))).all()
        return sorted(case_id for case_id, h in rows if h in present)

    async def closed_by(self, case_id: int, station_id: int, closed_at: datetime) -> str:
        """Who closed the case (a worker's name, 管理员 for the command line), "" when no record says: the
        audit entry written right after the close, for this case or for a re-import's closing of several."""
        stmt = (select(AuditEntry.action, AuditEntry.actor, AuditEntry.detail, Worker.name)
                .outerjoin(Worker, Worker.id == AuditEntry.worker_id)
                .where(AuditEntry.action.in_(["case.close", "cases.close"]),
                       AuditEntry.target.in_([f"case:{case_id}", f"station:{station_id}"]),
                       AuditEntry.at >= closed_at)
                .order_by(AuditEntry.at, AuditEntry.id).limit(20))
        async with self.session() as s:
            for action, who, detail, name in (await s.execute(stmt)).all():
                if action == "case.close" or case_id in (detail or {}).get("cases", []):
                    return name or ("管理员" if who.startswith("cli:") else "")
        return ""

    async def open_cases_missing(self, station_id: int, id_numbers: Collection[str]) -> list[int]:
        """The station's open cases whose ID number is not among `id_numbers` (a new roster file), by id."""
        present = {self.secrets.id_hash(n) for n in id_numbers}
        async with self.session() as s:
            rows = (await s.execute(select(Case.id, Case.id_hash).where(Case.station_id == station_id,
                                                                       Case.status == "open"))).all()
        return sorted(case_id for case_id, h in rows if h not in present)

    async def last_roster_change(self, worker_id: int, actions: Sequence[str], since: datetime
                                 ) -> tuple[str, dict[str, Any]] | None:
        """The newest of the worker's audited roster changes among `actions` since `since` (for 撤销结案 and
        撤销转交): (action, detail), or None."""
        stmt = (select(AuditEntry.action, AuditEntry.detail)
                .where(AuditEntry.worker_id == worker_id, AuditEntry.action.in_(list(actions)),
                       AuditEntry.at >= since)
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(1))
        async with self.session() as s:
            row = (await s.execute(stmt)).first()
        return (row[0], dict(row[1])) if row is not None else None
