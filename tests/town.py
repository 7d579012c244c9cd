"""The one township builder for the tests: stations with their area and directory details, workers, leads and
supervisors bound to chat identities, cases with their categories and risk, visits at given times, the handoff
desk's residents and tickets, and a chat with the real dispatcher.

Everything goes through the real store functions (`add_station`, invites, `import_cases`, `save_visit`) or the
chat itself (`bind`), except `case_row`, `visit_row` and `ticket_row`, which write records exactly as given for
tests that compute what a report must say by hand. The `shegong` admin functions build the same station for
tests whose bot runs elsewhere (`station_with_one_case`). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select
from sqlalchemy import text as sql_text

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import new_invite_code
from bot.messages import Incoming, Reply
from bot.pii import open_note
from bot.services import Services
from bot.store import CaseRow, StationRecord, Store, VisitDraft
from bot.store.case_periods import sync_assignments
from bot.store.casework_models import Case, Visit, VisitAttachment
from bot.store.handoff_models import Ticket
from bot.store.models import OutboxMessage
from handlers.casework import admin
from handlers.casework.store import CaseworkStore
from handlers.common.area import Area
from handlers.directory.store import DirectoryStore
from handlers.reminders.rules import RuleBook, load_rulebook
from handlers.workers.store import WorkersStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE = "13812345678"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# The two stations of the chat tests, 石湾镇 (禅城) and 龙江镇 (顺德) in 佛山市, about 15 km apart: their district
# and directory details.
TWO_STATIONS = {
    "石湾镇社工站": dict(
        county="禅城区",
        address="佛山市禅城区石湾镇街道太平街 8 号",
        phone="0757-82700000",
        hours="周一至周五 8:30-12:00 14:00-17:30",
        latitude=23.0030,
        longitude=113.0860,
    ),
    "龙江镇社工站": dict(
        county="顺德区",
        address="佛山市顺德区龙江镇龙江社区",
        phone="0757-23300000",
        hours="工作日 9:00-17:00",
        latitude=22.8730,
        longitude=113.0860,
    ),
}
# A one-message visit report by 李敏 on her case 李四 (东村), in the casework tests' township.
REPORT = "走访 李四 入户 身体还可以，腿脚不便，需要助餐，低风险，下周电话回访"
_message_ids = itertools.count(1)
_serials = itertools.count(100)


def id_number(body: str) -> str:
    """A resident ID with a valid GB 11643 check character: the 17 digits given and their check digit."""
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


ZHANG_ID = id_number("44060519450312002")  # 张桂英's, in the casework chat tests and the admin-built station


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """That local (Asia/Shanghai) time, in UTC as the clock keeps it."""
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


def local_at(text: str) -> datetime:
    """ "2026-11-01 00:05" in Shanghai, in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def case(name: str, worker: str, village: str, serial: int, **kw: Any) -> CaseRow:
    """A roster row: 低保 and 独居老人, low risk, an address in the village, a phone and a valid ID number."""
    values: dict[str, Any] = dict(
        name=name,
        categories=("低保", "独居老人"),
        village=village,
        address=f"{village}1号",
        phone=PHONE,
        id_number=id_number(f"440605194503{serial:05d}"),
        risk_level="低",
        worker_name=worker,
    )
    values.update(kw)
    return CaseRow(**values)


@dataclass
class Town:
    """Stations (`a` and `b` are the first two), worker ids and chat ids by name, case ids by the key the test
    gave, and the chat speaking by default as `user` on `channel`."""

    store: Store
    clock: FrozenClock
    services: Services | None = None
    user: str = "limin"
    channel: str = "console"
    stations: list[StationRecord] = field(default_factory=list)
    workers: dict[str, int] = field(default_factory=dict)
    chats: dict[str, str] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)
    _rules: RuleBook | None = None

    @property
    def rules(self) -> RuleBook:
        """The reminder rules the due list is computed with (the built-in ones unless a test sets others)."""
        if self._rules is None:
            self._rules = load_rulebook()
        return self._rules

    @rules.setter
    def rules(self, rules: RuleBook) -> None:
        self._rules = rules

    @property
    def a(self) -> StationRecord:
        return self.stations[0]

    @property
    def b(self) -> StationRecord:
        return self.stations[1]

    @property
    def station_id(self) -> int:
        return self.a.id

    # -- stations and people ----------------------------------------------------------------------------
    async def station(
        self, name: str, county: str = "", city: str = "", town: str = "", **details: Any
    ) -> StationRecord:
        """A station in its area; `details` (address, phone, hours, latitude, longitude) for the directory."""
        station = await WorkersStore.of(self.store).add_station(name, county=county, city=city, town=town)
        if details:
            await DirectoryStore.of(self.store).set_station_details(station.id, **details)
        self.stations.append(station)
        return station

    async def two_stations(self, details: bool = False) -> Town:
        """石湾镇社工站 and 龙江镇社工站 (`a` and `b`), with their directory details if asked."""
        for name, fields in TWO_STATIONS.items():
            directory = {k: v for k, v in fields.items() if k != "county"} if details else {}
            await self.station(name, county=str(fields["county"]), city="佛山市", **directory)
        return self

    async def invite(
        self, station: StationRecord | None, name: str, role: str = "worker", days: int = 7, area: Area | None = None
    ) -> str:
        """A new binding code for a worker of `station` (made if new), or for a supervisor of `area`."""
        store, code = self.store, new_invite_code()
        expires = self.clock.now() + timedelta(days=days)
        if area is not None:
            record = await WorkersStore.of(store).add_supervisor_with_invite(
                area, name, store.secrets.invite_hash(code), expires
            )
        else:
            station_id = station.id if station is not None else self.station_id
            record = await WorkersStore.of(store).add_worker_with_invite(
                station_id, name, role, store.secrets.invite_hash(code), expires
            )
        self.workers[name] = record.id
        return code

    async def add_worker(
        self,
        name: str,
        channel: str = "telegram",
        chat: str = "",
        role: str = "worker",
        station: StationRecord | None = None,
    ) -> int:
        """A worker of `station` (default the first), bound to `chat` on `channel` through the store (no chat
        message, no binding notice); not bound at all when `channel` is empty."""
        code = await self.invite(station, name, role)
        if channel:
            user = await self.store.user_for(channel, chat)
            redeemed = await WorkersStore.of(self.store).redeem_invite(self.store.secrets.invite_hash(code), user.id)
            assert not isinstance(redeemed, str), redeemed
            self.chats[name] = chat
        return self.workers[name]

    async def bind(
        self,
        station: StationRecord | None,
        name: str,
        user: str,
        role: str = "worker",
        channel: str = "console",
        area: Area | None = None,
        days: int = 7,
    ) -> Reply:
        """Invite and bind by chat (`绑定 CODE` from `user`), as a worker would; the bot's answer."""
        code = await self.invite(station, name, role, days=days, area=area)
        self.chats[name] = user
        return await self.one(f"绑定 {code}", user, channel=channel)

    async def forget_pushes(self) -> None:
        """Start from an empty outbox (binding notices to the leads, say)."""
        async with self.store.session.begin() as s:
            await s.execute(delete(OutboxMessage))

    # -- cases and visits --------------------------------------------------------------------------------
    async def import_cases(self, station: StationRecord, rows: Sequence[CaseRow]) -> None:
        """Import roster rows; each case's id under "name@village"."""
        await CaseworkStore.of(self.store).import_cases(station.id, list(rows))
        async with self.store.session() as s:
            for row in (await s.execute(select(Case).where(Case.station_id == station.id))).scalars():
                self.cases.setdefault(f"{row.name}@{row.village}", row.id)

    async def register(
        self, name: str, categories: tuple[str, ...], worker: str | None = "王芳", at: datetime | None = None
    ) -> int:
        """Import one case of the first station (registered at `at`, default now); its id under its name."""
        keep = self.clock.now()
        if at is not None:
            self.clock._at = at
        row = CaseRow(name, categories, "石岗村", "", "", f"44010119500101{next(_serials):04d}", "低", worker or "")
        await CaseworkStore.of(self.store).import_cases(self.station_id, [row])
        self.clock._at = keep
        found = [c for c in await CaseworkStore.of(self.store).find_cases(self.station_id, name) if c.name == name]
        self.cases[name] = found[0].id
        return found[0].id

    async def visit(
        self, name: str, at: datetime, mode: str = "入户", findings: str = "身体尚可", worker: str = "王芳"
    ) -> None:
        """A visit to the case `name`, saved as the worker's report would be."""
        draft = VisitDraft(self.cases[name], at, mode, findings=findings)
        await CaseworkStore.of(self.store).save_visit(
            self.workers[worker], draft, f"visit:{name}:{at.isoformat()}:{mode}"
        )

    # -- records exactly as given ------------------------------------------------------------------------
    async def case_row(
        self,
        station: StationRecord,
        name: str,
        worker: str | None,
        categories: list[str],
        status: str,
        created: datetime,
        updated: datetime,
        serial: int,
        first_worker: str | None = None,
    ) -> int:
        """A case in 东村 with its status and times as given (a closed case's `updated` is when it closed), and
        the history (case_assignments) the writers would have kept: registered open at `created` (with
        `first_worker` if given, handed to `worker` at `updated`), then closed at `updated`."""
        async with self.store.session.begin() as s:
            row = Case(
                station_id=station.id,
                name=name,
                categories=categories,
                id_hash=f"h{serial}",
                worker_id=self.workers[first_worker or worker] if (first_worker or worker) else None,
                status="open",
                created_at=created,
                updated_at=created,
                village="东村",
                phone_enc=self.store.secrets.encrypt(PHONE),
                id_number_enc=self.store.secrets.encrypt(f"44190019450312{serial:03d}5"),
            )
            s.add(row)
            await s.flush()
            await sync_assignments(s, created, Case.id == row.id)
            if first_worker:
                row.worker_id, row.updated_at = self.workers[worker] if worker else None, updated
                await s.flush()
                await sync_assignments(s, updated, Case.id == row.id)
            if status == "closed":
                row.status, row.closed_reason, row.closed_at, row.updated_at = "closed", "迁出", updated, updated
                await s.flush()
                await sync_assignments(s, updated, Case.id == row.id)
            self.cases[name] = row.id
        return row.id

    async def visit_row(
        self,
        case_name: str,
        worker: str,
        at: datetime,
        mode: str,
        needs: str = "",
        services: str = "",
        danger: str = "",
        risk: str = "",
        key: str = "",
        recorded: datetime | None = None,
    ) -> None:
        """A visit written as it stands: the case's risk level is left as it is; written at `recorded` if given
        (a late entry), else at the visit's time."""
        async with self.store.session.begin() as s:
            s.add(
                Visit(
                    case_id=self.cases[case_name],
                    worker_id=self.workers[worker],
                    visited_at=at,
                    mode=mode,
                    needs=needs,
                    services=services,
                    danger=danger,
                    risk_after=risk,
                    source_key=key or f"seed:{next(_message_ids)}",
                    created_at=recorded or at,
                )
            )

    async def ticket_row(
        self, station: StationRecord, chat: str, opened: datetime, first_reply: datetime | None
    ) -> None:
        """A closed ticket with its opening and first-reply times."""
        async with self.store.session.begin() as s:
            s.add(
                Ticket(
                    station_id=station.id,
                    channel="console",
                    chat_id=chat,
                    question="问",
                    status="closed",
                    created_at=opened,
                    last_activity_at=opened,
                    first_reply_at=first_reply,
                    closed_by="worker",
                )
            )

    # -- the chat ----------------------------------------------------------------------------------------
    async def say(
        self,
        text: str = "",
        user: str | None = None,
        channel: str | None = None,
        message_id: str | None = None,
        **kw: Any,
    ) -> list[Reply]:
        assert self.services is not None and self.services.dispatcher is not None
        user = user or self.user
        incoming = Incoming(
            channel=channel or self.channel,
            user_id=user,
            chat_id=user,
            text=text,
            message_id=message_id or f"m{next(_message_ids)}",
            at=self.clock.now(),
            **kw,
        )
        return await self.services.dispatcher.handle(incoming)

    async def one(self, text: str = "", user: str | None = None, **kw: Any) -> Reply:
        replies = await self.say(text, user, **kw)
        assert len(replies) == 1, replies
        return replies[0]

    async def answer(self, text: str, user: str | None = None, **kw: Any) -> str:
        """The text of the one answer."""
        return (await self.one(text, user, **kw)).text

    async def worker(self, name: str, text: str) -> Reply:
        """What a worker bound with `add_worker` says on Telegram."""
        return await self.one(text, self.chats[name], channel="telegram")

    async def rows(self, model: Any) -> list[Any]:
        """The table's rows; visit notes, captions and place names opened as the station's export shows them
        (they are encrypted at rest: tests/security/test_free_text_privacy.py)."""
        async with self.store.session() as s:
            found = list((await s.execute(select(model).order_by(model.id))).scalars())
        text = {Visit: ("findings", "needs", "services", "follow_up"), VisitAttachment: ("label",)}.get(model, ())
        for row in found:  # detached: changing them writes nothing
            for column in text:
                setattr(row, column, open_note(getattr(row, column), self.store.secrets.decrypt, False))
        return found

    async def raw(self, sql: str) -> str:
        """Every value of a query's rows as one text, as someone reading the database file would see it (nothing
        opened, unlike `rows`)."""
        async with self.store.session() as s:
            return "\n".join(" ".join(str(v) for v in row) for row in (await s.execute(sql_text(sql))).all())

    async def outbox(self) -> list[OutboxMessage]:
        return await self.rows(OutboxMessage)

    async def pushed(self, chat: str) -> list[str]:
        """Texts queued for one chat, oldest first."""
        return [m.payload["text"] for m in await self.outbox() if m.chat_id == chat]

    async def to_worker(self, name: str) -> list[str]:
        return await self.pushed(self.chats[name])

    async def report(self, text: str, user: str | None = None, channel: str | None = None) -> Reply:
        """A visit report shown for checking, then confirmed; the answer to 确认."""
        shown = await self.one(text, user, channel=channel)
        assert "请核对" in shown.text, shown.text
        return await self.one("确认", user, channel=channel)

    async def ready_resident(self, user: str | None = None, town: str = "石湾镇") -> None:
        """A resident who saw the notice, consented and named their 镇街."""
        await self.say("你好", user)
        await self.say("同意", user)
        assert "已记住" in (await self.one(f"我在{town}", user)).text

    async def open_ticket(self, question: str, user: str | None = None) -> int:
        """A resident's 找社工 and question; the new ticket's number."""
        await self.say("找社工", user)
        opened = await self.one(question, user)
        assert "工单 #" in opened.text, opened.text
        return int(opened.text.split("工单 #")[1].split("）")[0])

    # -- moving the clock --------------------------------------------------------------------------------
    def at(self, day: date, hour: int = 9, minute: int = 0) -> None:
        self.clock._at = local(day, hour, minute)

    def later(self, **delta: float) -> None:
        self.clock.advance(**delta)


@asynccontextmanager
async def running_town(settings: Settings, clock: FrozenClock, **defaults: Any) -> AsyncIterator[Town]:
    """The bot's services on `settings` (migrated), and an empty town on them; closed afterwards."""
    services = await build_services(settings, clock=clock, migrate=True)
    try:
        yield Town(services.store, clock, services, **defaults)
    finally:
        await services.close()


# -- the same station through the `shegong` admin commands ---------------------------------------------------
STATION = "石湾镇社工站"


async def station_with_one_case(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """石湾镇社工站 with its lead 李敏 invited and her case 张桂英 imported from a roster file, with the real
    `shegong` admin functions; the lead's invite code."""
    await admin.add_station(settings, STATION, county="禅城区", city="佛山市")
    await admin.invite(settings, STATION, "李敏", "lead")
    code = re.search(r"绑定码：([A-Z0-9]+)", capsys.readouterr().out)
    assert code is not None
    cases = tmp_path / "cases.csv"
    with cases.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(
            [
                ["姓名", "类别", "村居", "住址", "电话", "身份证号", "风险等级", "负责社工"],
                ["张桂英", "低保;独居老人", "东村", "东村12号", PHONE, ZHANG_ID, "中", "李敏"],
            ]
        )
    assert await admin.import_cases(settings, cases, STATION) == 0
    return code.group(1)
