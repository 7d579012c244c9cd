"""A roster that changes, on SQLite and PostgreSQL: closing a case (CLI and the lead's 结案 with confirmation
and undo), reassigning (CLI and 转交), `cases import --sync`, disabling a worker who left, and the leads being
told of every new binding."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from test_cli_casework import HEADER, STATION, fresh_postgres, ok, run, write_csv  # noqa: F401 - a fixture
from town import REPORT, Town

from bot.config import Settings
from bot.crypto import generate_key
from bot.store.casework_models import Case, Visit
from bot.store.casework_records import VisitDraft
from bot.store.models import OutboxMessage
from handlers.casework import admin
from handlers.casework.store import CaseworkStore
from handlers.casework.store_visits import CaseClosedError
from handlers.common.roles import NOT_A_WORKER
from handlers.workers.store import WorkersStore

ROSTER = [
    "张桂英,低保、独居老人,石牌村,石牌东路1号,13812345678,440106199001011235,低,王芳",
    "李伯,高龄老人,石牌村,,020-12345678,44010619520315018x,高风险,王芳",
    "陈婆,特困分散供养 残疾人,龙口村,龙口西路2号,,440106194805200012,,王芳",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    env = {"SHEGONG_DATABASE_URL": request.getfixturevalue("fresh_postgres"), "SHEGONG_SECRET_KEY": generate_key()}
    ok(["db", "upgrade"], tmp_path, **env)
    return env


class Admin:
    """The `shegong` commands in this process (a process per command is seconds each), output captured."""

    def __init__(self, tmp_path: Path, db: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
        self.settings = Settings(
            _env_file=None,
            data_dir=tmp_path / "data",
            database_url=db.get("SHEGONG_DATABASE_URL", ""),
            secret_key=db.get("SHEGONG_SECRET_KEY", ""),
        )
        self.capsys = capsys

    async def ok(self, command: Callable[..., Awaitable[int]], *args: object, **kw: object) -> str:
        self.capsys.readouterr()
        assert await command(self.settings, *args, **kw) == 0
        return self.capsys.readouterr().out

    async def fails(self, command: Callable[..., Awaitable[int]], *args: object, **kw: object) -> str:
        with pytest.raises(SystemExit) as stopped:
            await command(self.settings, *args, **kw)
        return str(stopped.value)

    async def cases(self, status: str = "open") -> dict[str, dict[str, object]]:
        listed = json.loads(await self.ok(admin.list_cases, STATION, status, as_json=True))
        return {c["name"]: c for c in listed}


async def test_close_reassign_sync_and_disable_from_the_command_line(
    tmp_path: Path, db: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Admin(tmp_path, db, capsys)
    await cli.ok(admin.add_station, STATION)
    for name in ("王芳", "李敏"):
        await cli.ok(admin.invite, STATION, name)
    roster = write_csv(tmp_path / "名单.csv", [HEADER, *ROSTER])
    await cli.ok(admin.import_cases, roster, STATION)
    assert set(await cli.cases()) == {"张桂英", "李伯", "陈婆"}

    # through the real command line once: the options and the exit status
    result = run(["cases", "close", "张桂英", "--station", STATION, "--reason", "迁出"], tmp_path, **db)
    assert result.returncode == 0 and "已结案：张桂英" in result.stdout and "原因：迁出" in result.stdout
    wrong = run(["cases", "close", "李伯", "--station", STATION, "--reason", "搬走"], tmp_path, **db)
    assert wrong.returncode != 0 and "迁出" in wrong.stderr  # the choices are named
    assert set(await cli.cases()) == {"李伯", "陈婆"}
    closed = (await cli.cases("closed"))["张桂英"]
    assert (closed["status"], closed["closed_reason"], closed["phone"]) == ("closed", "迁出", "138****5678")
    assert "没有在册的服务对象：张桂英" in await cli.fails(admin.close_case, STATION, "张桂英", "迁出")

    by_id = f"#{(await cli.cases())['李伯']['id']}"
    assert "由 王芳 改为 李敏 负责" in await cli.ok(admin.reassign_case, STATION, by_id, "李敏")
    assert (await cli.cases())["李伯"]["worker"] == "李敏"
    nobody = await cli.fails(admin.reassign_case, STATION, "陈婆", "赵六")
    assert "没有在职的社工：赵六" in nobody and "王芳、李敏" in nobody

    # the new roster leaves out 陈婆: listed, not closed, until --close-missing
    new = write_csv(tmp_path / "新名单.csv", [HEADER, ROSTER[1].replace("王芳", "李敏")])
    out = await cli.ok(admin.import_cases, new, STATION, sync=True)
    assert "有 1 位在册的服务对象不在新名单里" in out and "陈婆｜龙口村｜" in out
    assert "--close-missing" in out and "陈婆" in await cli.cases()
    dry = await cli.ok(admin.import_cases, new, STATION, sync=True, close_missing=True, dry_run=True)
    assert "试运行：将结案以上 1 人" in dry and "陈婆" in await cli.cases()
    out = await cli.ok(admin.import_cases, new, STATION, sync=True, close_missing=True, reason="不再符合")
    assert "已结案 1 人（原因：不再符合）" in out
    assert set(await cli.cases()) == {"李伯"} and (await cli.cases("closed"))["陈婆"]["closed_reason"] == "不再符合"
    assert "--sync" in await cli.fails(admin.import_cases, new, STATION, close_missing=True)

    # 李敏 leaves: her case goes to 王芳, she cannot be invited until enabled again
    out = await cli.ok(admin.disable_worker, STATION, "李敏", "王芳")
    assert "已停用：李敏" in out and "1 位已转交给 王芳" in out
    assert (await cli.cases())["李伯"]["worker"] == "王芳"
    listed = {w["name"]: w for w in json.loads(await cli.ok(admin.list_workers, STATION, as_json=True))}
    assert (listed["李敏"]["status"], listed["王芳"]["status"], listed["李敏"]["channels"]) == (
        "disabled",
        "active",
        [],
    )
    assert "李敏  社工  已停用" in await cli.ok(admin.list_workers)
    refused = await cli.fails(admin.invite, STATION, "李敏")
    assert "已停用" in refused and "workers enable" in refused
    assert "已恢复：李敏" in await cli.ok(admin.enable_worker, STATION, "李敏")
    assert "绑定码" in await cli.ok(admin.invite, STATION, "李敏")


async def test_a_closed_case_in_a_new_roster_is_named_and_reopened_only_when_asked(
    tmp_path: Path, db: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Admin(tmp_path, db, capsys)
    await cli.ok(admin.add_station, STATION)
    await cli.ok(admin.invite, STATION, "王芳")
    roster = write_csv(tmp_path / "名单.csv", [HEADER, *ROSTER])
    await cli.ok(admin.import_cases, roster, STATION)
    await cli.ok(admin.close_case, STATION, "张桂英", "迁出")
    without = write_csv(tmp_path / "不含.csv", [HEADER, *ROSTER[1:]])
    assert "已结案但出现在新名单" not in await cli.ok(admin.import_cases, without, STATION, dry_run=True, sync=True)

    # 张桂英 moved back: the new sheet lists her again. Without --reopen she is named and stays closed.
    back = write_csv(tmp_path / "新名单.csv", [HEADER, ROSTER[0].replace("石牌东路1号", "石牌东路9号"), *ROSTER[1:]])
    for kw in ({}, {"sync": True}, {"dry_run": True}, {"dry_run": True, "sync": True}):
        out = await cli.ok(admin.import_cases, back, STATION, **kw)
        assert "已结案但出现在新名单：1 人" in out and "张桂英｜石牌村｜" in out and "结案（迁出）" in out, kw
        assert "--reopen" in out and "张桂英" not in await cli.cases(), kw
    assert "不在新名单里" not in out  # a closed case is not "missing" either
    closed = (await cli.cases("closed"))["张桂英"]
    assert closed["address"] == "石牌东路9号"  # her data follows the sheet, her status does not

    # the option through the real command line, as a dry run: said, not done
    dry = run(["cases", "import", str(back), "--station", STATION, "--reopen", "--dry-run"], tmp_path, **db)
    assert dry.returncode == 0 and "试运行：将恢复在册以上 1 人" in dry.stdout
    assert "张桂英" not in await cli.cases()
    out = await cli.ok(admin.import_cases, back, STATION, sync=True, reopen=True)
    assert "已恢复在册 1 人" in out and "张桂英" in await cli.cases()
    assert "已结案但出现在新名单" not in await cli.ok(admin.import_cases, back, STATION, reopen=True)


# -- chat --------------------------------------------------------------------------------------------
async def lead(world: Town, text: str) -> str:
    return (await world.one(text, "tg-lead", channel="telegram")).text


async def test_the_lead_closes_with_confirmation_and_undo(world: Town) -> None:
    assert "只对站长开放" in (await world.one("结案 李四 迁出")).text
    asked = await lead(world, "结案 李四")
    assert "因什么结案" in asked
    shown = await lead(world, "结案 李四 迁出")
    assert "确认结案：李四（#" in shown and "原因：迁出" in shown and "负责社工：李敏" in shown
    assert "已结案 ✅ 李四" in await lead(world, "确认")
    assert "没有找到“李四”" in (await world.one("查 李四")).text  # gone from lookups
    assert "李四" not in (await world.one("我的对象")).text  # and from the worker's list
    rows = await CaseworkStore.of(world.services.store).station_cases(world.a.id, "closed")
    assert [(c.name, c.closed_reason, c.status_label) for c in rows] == [("李四", "迁出", "已结案（迁出）")]
    assert "李四 恢复在册" in await lead(world, "撤销结案")
    assert "30 分钟内您没有结案操作" in await lead(world, "撤销结案")
    assert "李四" in (await world.one("我的对象")).text
    # 取消 leaves it open; two people of one name are chosen by number
    await lead(world, "结案 李四 死亡")
    assert "名单没有改动" in await lead(world, "取消")
    twins = await lead(world, "结案 张桂英 死亡")
    assert "本站有 2 位“张桂英”" in twins and "结案 #" in twins


async def test_a_report_half_written_when_the_lead_closes_the_case_is_not_saved(world: Town) -> None:
    assert "请核对" in (await world.one(REPORT)).text  # 李敏 writes about 李四...
    await lead(world, "结案 李四 迁出")  # ...while the lead closes the case
    await lead(world, "确认")
    refused = await world.one("确认")
    assert "李四已于 11月28日 结案（原因：迁出，操作人：陈站长）" in refused.text
    assert "没有保存" in refused.text and "撤销结案" in refused.text and "取消" in refused.text
    assert await world.rows(Visit) == []
    # The lead reopens it: the report waited, and 确认 saves it now.
    assert "恢复在册" in await lead(world, "撤销结案")
    assert "已保存 ✅ 李四" in (await world.one("确认")).text
    [visit] = await world.rows(Visit)
    assert visit.case_id == (await CaseworkStore.of(world.services.store).find_cases(world.a.id, "李四"))[0].id


async def test_a_report_half_written_when_the_admin_closes_the_case_is_not_saved(world: Town) -> None:
    assert "请核对" in (await world.one(REPORT)).text
    assert await admin.close_case(world.services.settings, "石湾镇社工站", "李四", "死亡") == 0
    refused = await world.one("确认")
    # (the command line runs on the real clock, the chat on the test's)
    assert re.search(r"李四已于 \d+月\d+日 结案（原因：死亡，操作人：管理员）", refused.text)
    assert "没有保存" in refused.text
    assert "已保存" not in (await world.one("确认")).text  # asked again: still closed, still nothing saved
    assert "已取消" in (await world.one("取消")).text and await world.rows(Visit) == []


async def test_saving_re_checks_the_case_inside_the_transaction(world: Town) -> None:
    """The handler's check and the save are two steps: the save itself refuses a case closed in between."""
    store = CaseworkStore.of(world.services.store)
    [case] = await store.find_cases(world.a.id, "李四")
    [limin] = [w for w, _ in await WorkersStore.of(world.services.store).list_workers(world.a.id) if w.name == "李敏"]
    draft = VisitDraft(case_id=case.id, visited_at=world.clock.now(), mode="入户", findings="还好")
    await store.close_cases(world.a.id, [case.id], "迁出")
    with pytest.raises(CaseClosedError) as refused:
        await store.save_visit(limin.id, draft, "race-1")
    assert (refused.value.name, refused.value.reason) == ("李四", "迁出") and refused.value.closed_at is not None
    assert await world.rows(Visit) == []
    await store.reopen_case(world.a.id, case.id)
    assert (await store.save_visit(limin.id, draft, "race-1"))[1] is True


async def test_closed_cases_stay_in_the_export_with_their_status(world: Town) -> None:
    await world.report(REPORT)  # 李敏 visits 李四
    await lead(world, "结案 李四 死亡")
    await lead(world, "确认")
    rows = await CaseworkStore.of(world.services.store).export_visits(world.a.id, None, None)
    assert [(r["服务对象"], r["对象状态"]) for r in rows] == [("李四", "已结案（死亡）")]


async def test_the_lead_reassigns_with_confirmation_and_undo(world: Town) -> None:
    shown = await lead(world, "转交 陈大文 给 李敏")
    assert "确认转交：陈大文" in shown and "改由 李敏 负责" in shown
    assert "已转交 ✅ 陈大文 改由 李敏 负责" in await lead(world, "确认")
    assert "陈大文" in (await world.one("我的对象")).text
    assert "恢复由 王芳 负责" in await lead(world, "撤销转交")
    assert "陈大文" not in (await world.one("我的对象")).text
    assert "没有在职的社工“赵强”" in await lead(world, "转交 陈大文 赵强")  # another station's worker
    assert "只对站长开放" in (await world.one("转交 陈大文 给 李敏")).text


async def test_a_disabled_worker_loses_access_at_once_and_keeps_records(world: Town) -> None:
    await world.report(REPORT)
    assert "李四" in (await world.one("我的对象")).text
    done = await WorkersStore.of(world.services.store).disable_worker(world.a.id, "李敏", "王芳")
    assert (done["identities"], done["to"]) == (1, "王芳") and done["cases"] == 4
    assert NOT_A_WORKER in (await world.one("我的对象")).text
    assert "负责社工" not in (await world.one("查 李四")).text  # no case data for her identity
    assert "李四" in (await world.one("我的对象", "wangfang")).text
    async with world.services.store.session() as s:
        assert (await s.execute(select(Case.worker_id).where(Case.name == "李四"))).scalar_one() is not None
    visits = await CaseworkStore.of(world.services.store).export_visits(world.a.id, None, None)
    assert [v["社工"] for v in visits] == ["李敏"]  # her records stay hers
    code = await world.invite(world.a, "王芳")  # a code made before she leaves, used after
    await WorkersStore.of(world.services.store).disable_worker(world.a.id, "王芳", None)
    # Refused with the one answer every failed code gets (issue 13: a guesser learns nothing from it).
    assert "绑定没有成功" in (await world.one(f"绑定 {code}", "new-phone")).text


async def test_a_new_binding_is_told_to_the_leads(world: Town) -> None:
    async with world.services.store.session() as s:
        before = (await s.execute(select(OutboxMessage.id))).scalars().all()
    assert "绑定成功" in (await world.bind(world.a, "李敏", "limin-tg", channel="telegram")).text
    async with world.services.store.session() as s:
        new = [
            r
            for r in (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
            if r.id not in before
        ]
    assert sorted((r.channel, r.chat_id) for r in new) == [("telegram", "tg-lead"), ("wecom", "wc-lead")]
    assert "李敏（社工）刚在Telegram绑定了聊天账号，现在共 2 个账号" in new[0].payload["text"]
    assert "shegong workers disable --station 石湾镇社工站 --name 李敏" in new[0].payload["text"]
