"""A small township for reminder tests: one station, two workers and a lead with chat identities, cases
registered and visited at chosen times by moving a frozen clock. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.store import CaseRow, Store, VisitDraft
from handlers.casework.store import CaseworkStore
from handlers.reminders.rules import RuleBook, load_rulebook
from handlers.reminders.store import HARVEST_LAG
from handlers.workers.store import WorkersStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
_serial = itertools.count(100)


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """That local (Asia/Shanghai) time, in UTC as the clock keeps it."""
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


@dataclass
class Town:
    store: Store
    clock: FrozenClock
    rules: RuleBook = field(default_factory=load_rulebook)
    station_id: int = 0
    workers: dict[str, int] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)

    async def setup(self, station: str = "石岗镇社工站") -> Town:
        self.station_id = (await WorkersStore.of(self.store).add_station(station)).id
        await self.worker("王芳", "telegram", "1001")
        await self.worker("李敏", "telegram", "1003")
        await self.worker("陈站长", "telegram", "1002", role="lead")
        return self

    async def worker(self, name: str, channel: str, chat: str, role: str = "worker") -> int:
        code = f"code-{name}-{channel}"
        record = await WorkersStore.of(self.store).add_worker_with_invite(
            self.station_id, name, role, code, self.clock.now() + timedelta(days=7)
        )
        if channel:
            user = await self.store.user_for(channel, chat)
            assert not isinstance(await WorkersStore.of(self.store).redeem_invite(code, user.id), str)
        self.workers[name] = record.id
        return record.id

    async def register(
        self, name: str, categories: tuple[str, ...], worker: str | None = "王芳", at: datetime | None = None
    ) -> int:
        """Import one case (registered at `at`, default now)."""
        keep = self.clock.now()
        if at is not None:
            self.clock._at = at
        row = CaseRow(name, categories, "石岗村", "", "", f"44010119500101{next(_serial):04d}", "低", worker or "")
        await CaseworkStore.of(self.store).import_cases(self.station_id, [row])
        self.clock._at = keep
        found = [c for c in await CaseworkStore.of(self.store).find_cases(self.station_id, name) if c.name == name]
        self.cases[name] = found[0].id
        return found[0].id

    async def visit(
        self, name: str, at: datetime, mode: str = "入户", findings: str = "身体尚可", worker: str = "王芳"
    ) -> None:
        draft = VisitDraft(self.cases[name], at, mode, findings=findings)
        await CaseworkStore.of(self.store).save_visit(
            self.workers[worker], draft, f"visit:{name}:{at.isoformat()}:{mode}"
        )

    def at(self, day: date, hour: int = 9, minute: int = 0) -> None:
        self.clock._at = local(day, hour, minute)

    def later(self, **delta: float) -> None:
        self.clock.advance(**delta)


@pytest.fixture
async def town(store: Store, clock: FrozenClock) -> Town:
    clock._at = local(date(2026, 1, 5))
    return await Town(store, clock).setup()


__all__ = ["HARVEST_LAG", "SHANGHAI", "Town", "local"]
