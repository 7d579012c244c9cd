"""Bulk import of cases (服务对象), mixed into Store through CaseworkQueries.

Fast enough for 100,000 rows on SQLite: hashes and Fernet encryption are computed before the write
transaction opens, rows go in as executemany batches, and a row identical to what was imported last time is
not touched at all (so re-importing a file changes no row and no updated_at).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from bot.store.case_periods import sync_assignments
from bot.store.casework_models import UNASSESSED, Case, Station, Worker
from bot.store.casework_records import RISK_LEVELS, CaseRow
from bot.store.feature import FeatureStore
from handlers.casework.models import CaseHistory

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

CHUNK = 2000


class CaseImportQueries(FeatureStore):
    async def import_cases(
        self,
        station_id: int,
        rows: Sequence[CaseRow],
        progress: Callable[[int], object] | None = None,
        dry_run: bool = False,
    ) -> dict[str, int]:
        """Add or update the station's cases, matched by (station, keyed hash of the ID number). All or
        nothing: unknown worker names or duplicate ID numbers raise ValueError before anything is written.
        `progress` is called with the number of rows just finished. `dry_run`: the same counts, nothing written."""
        tick = progress or (lambda _n: None)
        async with self.session() as s:
            if await s.get(Station, station_id) is None:
                raise ValueError(f"社工站不存在：{station_id}")
            workers = dict(
                (await s.execute(select(Worker.name, Worker.id).where(Worker.station_id == station_id))).all()
            )
        unknown = sorted({r.worker_name for r in rows if r.worker_name and r.worker_name not in workers})
        if unknown:
            raise ValueError("负责社工不是本站的社工：" + "、".join(unknown))
        if bad := sorted({r.risk_level for r in rows} - {*RISK_LEVELS, UNASSESSED}):
            raise ValueError("未知风险等级：" + "、".join(bad))

        prepared: dict[str, tuple[str, CaseRow, int | None]] = {}  # id_hash → (import_hash, row, worker_id)
        for row in rows:
            id_hash = self.secrets.id_hash(row.id_number)
            if id_hash in prepared:
                raise ValueError(f"身份证号重复：{row.name}")
            worker_id = workers.get(row.worker_name) if row.worker_name else None
            prepared[id_hash] = (self._import_hash(row, worker_id), row, worker_id)

        # Encrypt outside the transaction (it is most of the CPU time), only for rows that will be written.
        before = await self._import_hashes(station_id)
        if dry_run:
            changed = [h for h, (ih, _row, _w) in prepared.items() if before.get(h, ("", ""))[1] != ih]
            added = sum(1 for h in changed if h not in before)
            tick(len(prepared))
            return {"added": added, "updated": len(changed) - added, "unchanged": len(prepared) - len(changed)}
        encrypted = {
            h: self._encrypt_row(row) for h, (ih, row, _w) in prepared.items() if before.get(h, ("", ""))[1] != ih
        }

        counts = {"added": 0, "updated": 0, "unchanged": 0}
        now = self.clock.now()
        async with self.session.begin() as s:
            if self.dialect == "postgresql":  # one import per station at a time
                await s.execute(select(Station.id).where(Station.id == station_id).with_for_update())
            current = await self._import_hashes(station_id, s)  # again: another import may have run meanwhile
            inserts: list[dict[str, object]] = []
            updates: list[dict[str, object]] = []
            for id_hash, (import_hash, row, worker_id) in prepared.items():
                case_id, old_hash = current.get(id_hash, (None, ""))
                if old_hash == import_hash:
                    counts["unchanged"] += 1
                    continue
                phone_enc, id_enc = encrypted.get(id_hash) or self._encrypt_row(row)
                values: dict[str, object] = {
                    "name": row.name,
                    "categories": list(row.categories),
                    "village": row.village,
                    "address": row.address,
                    "phone_enc": phone_enc,
                    "id_number_enc": id_enc,
                    "import_hash": import_hash,
                    "risk_level": row.risk_level,
                    "worker_id": worker_id,
                    "updated_at": now,
                }
                if case_id is None:
                    inserts.append(
                        {**values, "station_id": station_id, "id_hash": id_hash, "status": "open", "created_at": now}
                    )
                else:
                    updates.append({**values, "id": case_id})
            tick(counts["unchanged"])
            for batch, stmt, key in ((inserts, insert(Case), "added"), (updates, update(Case), "updated")):
                for start in range(0, len(batch), CHUNK):
                    chunk = batch[start : start + CHUNK]
                    await s.execute(stmt, chunk)
                    counts[key] += len(chunk)
                    tick(len(chunk))
            if inserts or updates:  # new cases, and cases given another worker or other categories
                await sync_assignments(s, now, Case.station_id == station_id)
            written = {h for h, (ih, _row, _w) in prepared.items() if current.get(h, (None, ""))[1] != ih}
            await self._write_history(
                s, station_id, {h: prepared[h][1].history for h in written if prepared[h][1].history}
            )
        return counts

    async def _write_history(
        self, s: AsyncSession, station_id: int, history: dict[str, tuple[tuple[str, date], ...]]
    ) -> None:
        """The roster's 上次走访/入户/评估日期 of the rows just written. A date replaces the one imported before
        (the sheet is the station's record); a blank cell leaves it."""
        now = self.clock.now()
        hashes = list(history)
        for start in range(0, len(hashes), CHUNK):
            chunk = hashes[start : start + CHUNK]
            ids = dict(
                (
                    await s.execute(
                        select(Case.id_hash, Case.id).where(Case.station_id == station_id, Case.id_hash.in_(chunk))
                    )
                ).all()
            )
            rows = [
                {
                    "case_id": ids[h],
                    "kind": kind,
                    "done_at": self._local_noon(day),
                    "source": "import",
                    "updated_at": now,
                }
                for h in chunk
                for kind, day in history[h]
            ]
            if rows:
                ins = self._insert(CaseHistory.__table__)
                await s.execute(
                    ins.on_conflict_do_update(
                        index_elements=["case_id", "kind"],
                        set_={
                            "done_at": ins.excluded.done_at,
                            "source": ins.excluded.source,
                            "updated_at": ins.excluded.updated_at,
                        },
                    ),
                    rows,
                )

    def _local_noon(self, day: date) -> datetime:
        return datetime.combine(day, time(12), self.tz).astimezone(UTC)

    def _import_hash(self, row: CaseRow, worker_id: int | None) -> str:
        # Keyed, because it covers the ID and phone numbers.
        fields: list[object] = [
            row.name,
            list(row.categories),
            row.village,
            row.address,
            row.phone,
            row.id_number.upper(),
            row.risk_level,
            worker_id,
        ]
        if row.history:  # only then: rows imported before history columns existed keep their hash
            fields.append([[kind, day.isoformat()] for kind, day in row.history])
        return self.secrets.lookup_hash("case:" + json.dumps(fields, ensure_ascii=False))

    def _encrypt_row(self, row: CaseRow) -> tuple[str, str]:
        return self.secrets.encrypt(row.phone), self.secrets.encrypt(row.id_number.upper())

    async def _import_hashes(self, station_id: int, s: AsyncSession | None = None) -> dict[str, tuple[int, str]]:
        stmt = select(Case.id_hash, Case.id, Case.import_hash).where(Case.station_id == station_id)
        if s is not None:
            rows = (await s.execute(stmt)).all()
        else:
            async with self.session() as own:
                rows = (await own.execute(stmt)).all()
        return {h: (case_id, ih) for h, case_id, ih in rows}
