"""`shegong station|invite|workers|cases|visits` as an administrator runs them: real processes, the embedded
database (and PostgreSQL when SHEGONG_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from live_app import throwaway_postgres
from messy_roster import IGNORED, SHEET, build_messy_roster

from bot.config import Settings
from bot.crypto import generate_key, new_invite_code
from bot.store import EXPORT_COLUMNS, Store, VisitDraft, WorkerRecord
from bot.store.connect import open_store
from handlers.casework.store import CaseworkStore
from handlers.workers.store import WorkersStore

POSTGRES_URL = os.environ.get("SHEGONG_TEST_POSTGRES_URL", "")
STATION = "石牌街社工站"
HEADER = "姓名,类别,村居,住址,电话,身份证号,风险等级,负责社工"
GOOD = [
    "张桂英,低保、独居老人,石牌村,石牌东路1号,13812345678,440106199001011235,低,王芳",
    "李伯,高龄老人,石牌村,,020-12345678,44010619520315018x,高风险,",
    "陈婆,特困分散供养 残疾人,龙口村,龙口西路2号,,440106194805200012,,王芳",
]
CODE = re.compile(r"绑定 ([A-HJ-NP-Z2-9]{8})")


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "SHEGONG_DATA_DIR": str(tmp_path / "data"),
        "SHEGONG_DATABASE_URL": "",
        "SHEGONG_SECRET_KEY": "",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        cwd=tmp_path,
    )


def ok(args: list[str], tmp_path: Path, **env: str) -> str:
    result = run(args, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", database_url="", secret_key="")


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.fixture
def station(tmp_path: Path) -> Path:
    """A station with one worker, 王芳, set up in-process (the commands themselves are tested above)."""
    import asyncio

    async def setup() -> None:
        store = await open_store(settings(tmp_path))
        try:
            st = await WorkersStore.of(store).add_station(STATION, "天河区", "广州市")
            await WorkersStore.of(store).add_worker_with_invite(
                st.id, "王芳", "worker", store.secrets.invite_hash(new_invite_code()), store.clock.now()
            )
        finally:
            await store.close()

    asyncio.run(setup())
    return tmp_path


# -- stations, invites, workers ---------------------------------------------------------------
async def test_station_invite_bind_and_workers_list(tmp_path: Path) -> None:
    assert "已添加社工站：石牌街社工站（广州市天河区）" in ok(
        ["station", "add", STATION, "--county", "天河区", "--city", "广州市"], tmp_path
    )
    again = run(["station", "add", STATION], tmp_path)
    assert again.returncode == 1 and "社工站已存在：石牌街社工站" in again.stderr
    out = ok(["invite", "--station", STATION, "--name", "李敏", "--role", "lead"], tmp_path)
    assert "李敏（站长，石牌街社工站）" in out and "7 天内有效" in out
    code = CODE.search(out).group(1)
    assert f"请在任意渠道发送：绑定 {code}" in out
    unknown = run(["invite", "--station", "无此站", "--name", "甲"], tmp_path)
    assert unknown.returncode == 1 and "找不到社工站：无此站" in unknown.stderr
    assert "李敏  站长  在职  石牌街社工站  未绑定" in ok(["workers", "list"], tmp_path)

    store = await open_store(settings(tmp_path))  # the bot process, sharing the data directory and its key
    try:
        user = await store.user_for("wecom", "limin")
        bound = await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(code), user.id)
        assert isinstance(bound, WorkerRecord) and bound.name == "李敏"
    finally:
        await store.close()
    out = ok(["workers", "list", "--station", STATION], tmp_path)
    assert "李敏  站长  在职  石牌街社工站  wecom" in out and "共 1 人，已绑定 1 人" in out
    assert "石牌街社工站" in ok(["station", "list"], tmp_path)


def test_secret_key_file_is_created_once_and_reused(station: Path) -> None:
    key_file = station / "data" / "secret.key"
    first = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    ok(["invite", "--station", STATION, "--name", "陈军"], station)
    assert key_file.read_text() == first


# -- import -----------------------------------------------------------------------------------
def test_import_csv_then_reimport_changes_nothing(station: Path) -> None:
    path = write_csv(station / "cases.csv", [HEADER, *GOOD])
    result = run(["cases", "import", str(path), "--station", STATION], station)
    assert result.returncode == 0, result.stderr
    assert "新增 3 人，更新 0 人，未变 0 人" in result.stdout
    assert "导入" in result.stderr and "%" in result.stderr  # the progress bar is on stderr
    db = station / "data" / "shegong.db"
    before = sqlite3.connect(db).execute("SELECT id, updated_at, phone_enc FROM cases ORDER BY id").fetchall()
    assert "新增 0 人，更新 0 人，未变 3 人" in ok(["cases", "import", str(path), "--station", STATION], station)
    assert sqlite3.connect(db).execute("SELECT id, updated_at, phone_enc FROM cases ORDER BY id").fetchall() == before
    changed = write_csv(station / "changed.csv", [HEADER, GOOD[0].replace("石牌东路1号", "石牌东路3号"), *GOOD[1:]])
    assert "新增 0 人，更新 1 人，未变 2 人" in ok(["cases", "import", str(changed), "--station", STATION], station)


def test_numbers_are_encrypted_in_the_database_file(station: Path) -> None:
    ok(["cases", "import", str(write_csv(station / "c.csv", [HEADER, *GOOD])), "--station", STATION], station)
    raw = (station / "data" / "shegong.db").read_bytes()
    for plain in ("440106199001011235", "13812345678", "12345678", "4401061952"):
        assert plain.encode() not in raw
    wal = station / "data" / "shegong.db-wal"
    assert not wal.exists() or b"13812345678" not in wal.read_bytes()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_import_csv_with_bom_or_gbk(station: Path, encoding: str) -> None:
    path = write_csv(station / "cases.csv", [HEADER, *GOOD], encoding=encoding)
    assert "新增 3 人" in ok(["cases", "import", str(path), "--station", STATION], station)


def test_import_xlsx_with_title_row_and_numeric_phone(station: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["石牌街服务对象名单（2026年11月）"])
    sheet.append(HEADER.split(","))
    for line in GOOD:
        cells: list[object] = line.split(",")
        if cells[4] == "13812345678":
            cells[4] = 13812345678  # typed as a number in Excel
        sheet.append(cells)
    book.save(station / "cases.xlsx")
    assert "新增 3 人" in ok(["cases", "import", str(station / "cases.xlsx"), "--station", STATION], station)
    assert "未变 3 人" in ok(["cases", "import", str(station / "cases.xlsx"), "--station", STATION], station)


def test_bad_file_imports_nothing_and_lists_each_bad_row(station: Path) -> None:
    lines = [
        HEADER,  # 1
        GOOD[0],  # 2
        "王五,低保,石牌村,,13812345678,440106199001011234,低,",  # 3 check digit
        "赵六,低保,石牌村,,13812345678,4401061990010112,低,",  # 4 length
        "钱七,低保,石牌村,,13812345678,440106199013011231,低,",  # 5 no 13th month
        "孙八,五保户,石牌村,,13812345678,44010619520315018X,低,",  # 6 category
        "",  # 7 blank: skipped
        '周九,低保,石牌村,"两行\n地址",1381234567,440106194805200012,低,',  # 8-9 phone
        "吴十,低保,石牌村,,,44010619520315018X,很高,路人",  # 10 risk + worker
        ",低保,石牌村,,,440106200001010000,低,",  # 11 name
        "郑一,低保,石牌村,,,440106199001011235,低,",  # 12 duplicate of line 2
        "冯二,,石牌村,,,440106205001010000,低,",  # 13 category + birth
    ]
    path = write_csv(station / "bad.csv", lines)
    result = run(["cases", "import", str(path), "--station", STATION], station)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("第 ")]
    assert [e.split("：")[0] for e in errors] == [f"第 {n} 行" for n in (3, 4, 5, 6, 8, 10, 11, 12, 13)]
    text_of = dict(e.split("：", 1) for e in errors)
    assert "校验位" in text_of["第 3 行"]
    assert "应为 18 位（现为 16 位）" in text_of["第 4 行"]
    assert "出生日期不存在" in text_of["第 5 行"]
    assert "未知类别：五保户" in text_of["第 6 行"]
    assert "电话格式不对" in text_of["第 8 行"]
    assert "风险等级" in text_of["第 10 行"] and "负责社工“路人”" in text_of["第 10 行"]
    assert "姓名不能为空" in text_of["第 11 行"]
    assert "与第 2 行重复" in text_of["第 12 行"]
    assert "类别不能为空" in text_of["第 13 行"] and "出生日期不合理" in text_of["第 13 行"]
    assert "共 9 行有错误，未导入任何数据" in result.stderr
    for plain in ("440106199001011234", "13812345678"):
        assert plain not in result.stderr + result.stdout
    assert sqlite3.connect(station / "data" / "shegong.db").execute("SELECT count(*) FROM cases").fetchone() == (0,)


def test_xlsx_with_id_numbers_stored_as_numbers_is_refused(station: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(HEADER.split(","))
    book.active.append(["张桂英", "低保", "", "", "", 440106199001011235, "低", ""])
    book.save(station / "numeric.xlsx")
    result = run(["cases", "import", str(station / "numeric.xlsx"), "--station", STATION], station)
    assert result.returncode == 1
    assert "第 2 行：身份证号被 Excel 存成了数字" in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "找不到文件"),
        ("old.xls", b"xx", "不支持的文件类型：.xls"),
        ("noheader.csv", "张桂英,低保\n".encode(), "找不到表头"),
        ("partial.csv", "姓名,身份证号\n张桂英,440106199001011235\n".encode(), "缺少列：类别"),
        ("empty.csv", (HEADER + "\n").encode(), "没有数据行"),
        ("broken.xlsx", b"not a zip", "无法读取 Excel 文件"),
    ],
)
def test_import_file_problems_are_explained(station: Path, name: str, content: bytes | None, message: str) -> None:
    path = station / name
    if content is not None:
        path.write_bytes(content)
    result = run(["cases", "import", str(path), "--station", STATION], station)
    assert result.returncode == 1 and message in result.stderr


def test_import_to_unknown_station(station: Path) -> None:
    path = write_csv(station / "cases.csv", [HEADER, *GOOD])
    result = run(["cases", "import", str(path), "--station", "无此站"], station)
    assert result.returncode == 1 and "找不到社工站：无此站" in result.stderr


def clean_roster(path: Path) -> Path:
    """The messy roster with its two bad rows (lines 7 and 8) fixed the way an admin would: removed."""
    book = openpyxl.load_workbook(build_messy_roster(path))
    book[SHEET].delete_rows(7, 2)
    book.save(path)
    return path


def test_messy_roster_dry_run_error_file_then_import(station: Path) -> None:
    messy = build_messy_roster(station / "名单.xlsx")
    errors = station / "有错误的行.xlsx"
    result = run(
        ["cases", "import", str(messy), "--station", STATION, "--dry-run", "--errors-out", str(errors)], station
    )
    assert result.returncode == 1
    out = result.stdout
    assert f"读取：名单.xlsx 的工作表“{SHEET}”（未读取的工作表：填表说明），表头在第 3 行" in out
    assert "忽略的列：" + "、".join(IGNORED) in out
    assert "村居←所属村居" in out and "电话←联系方式、本人电话" in out and "负责社工←责任社工" in out
    assert "跳过表尾 2 行：第 9 行（合计）、第 10 行（填表人）" in out
    assert "15 位身份证号已转为 18 位 1 行" in out and "风险等级为空，记为未评估 1 行" in out
    assert "试运行（没有写入数据库）：3 行可以导入，将新增 3 人，更新 0 人，未变 0 人" in out
    assert "第 7 行：身份证号被 Excel 存成了数字" in result.stderr and "第 8 行：未知类别：五保户" in result.stderr
    assert result.stderr.count("可用类别：") == 1 and result.stderr.count("特困分散供养") == 1
    assert "共 2 行有错误，未导入任何数据" in result.stderr
    rejected = [[c.value for c in r] for r in openpyxl.load_workbook(errors).active.iter_rows()]
    assert [r[1] for r in rejected[1:]] == ["张三", "赵六"] and rejected[0][-2] == "错误原因"
    for plain in ("440106199001011235", "13812345678"):
        assert plain not in result.stdout + result.stderr
    db = station / "data" / "shegong.db"
    assert sqlite3.connect(db).execute("SELECT count(*) FROM cases").fetchone() == (0,)

    clean = clean_roster(station / "名单-改好.xlsx")
    dry = run(["cases", "import", str(clean), "--station", STATION, "--dry-run"], station)
    assert dry.returncode == 0 and "将新增 3 人" in dry.stdout
    assert sqlite3.connect(db).execute("SELECT count(*) FROM cases").fetchone() == (0,)
    assert "新增 3 人，更新 0 人，未变 0 人" in ok(["cases", "import", str(clean), "--station", STATION], station)
    stored = [
        (name, json.loads(categories), village, risk)
        for name, categories, village, risk in sqlite3.connect(db).execute(
            "SELECT name, categories, village, risk_level FROM cases ORDER BY id"
        )
    ]
    assert stored == [
        ("何亚妹", ["特困分散供养", "独居老人"], "石牌村", "高"),
        ("李伯", ["低保", "残疾人"], "石牌村", "未评估"),
        ("陈婆", ["特困分散供养"], "石牌村", "中"),
    ]
    assert "未变 3 人" in ok(["cases", "import", str(clean), "--station", STATION, "--sheet", SHEET], station)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--errors-out", "errors.csv"], "--errors-out 应为 .xlsx 文件"),
        (["--errors-out", "no/such/dir/errors.xlsx"], "输出目录不存在"),
        (["--sheet", "名单"], "--sheet 只用于 .xlsx 文件"),
    ],
)
def test_import_option_errors(station: Path, args: list[str], message: str) -> None:
    path = write_csv(station / "cases.csv", [HEADER, *GOOD])
    result = run(["cases", "import", str(path), "--station", STATION, *args], station)
    assert result.returncode == 1 and message in result.stderr


# -- export -----------------------------------------------------------------------------------
async def _report_visits(tmp_path: Path) -> None:
    """What the chat side does: bind 王芳 and save two visits (11-05 and 11-20 local time)."""
    store: Store = await open_store(settings(tmp_path))
    try:
        station = await WorkersStore.of(store).station_by_name(STATION)
        workers = {w.name: w for w, _ in await WorkersStore.of(store).list_workers(station.id)}
        cases = {c.name: c for c in await CaseworkStore.of(store).cases_of_worker(workers["王芳"].id)}
        await CaseworkStore.of(store).save_visit(
            workers["王芳"].id,
            VisitDraft(
                cases["张桂英"].id,
                datetime(2026, 11, 5, 2, 30, tzinfo=UTC),
                "入户",
                findings="身体还可以，腿脚不便",
                needs="助餐",
                risk_after="低",
                follow_up="下周电话回访",
            ),
            "console:wf:1",
        )
        await CaseworkStore.of(store).save_visit(
            workers["王芳"].id,
            VisitDraft(
                cases["陈婆"].id, datetime(2026, 11, 20, 16, 30, tzinfo=UTC), "电话", findings='=HYPERLINK("http://x")'
            ),
            "console:wf:2",
        )
    finally:
        await store.close()


FIRST_ROW = {
    "社工站": STATION,
    "服务对象": "张桂英",
    "身份证号": "440106199001011235",
    "电话": "13812345678",
    "类别": "低保、独居老人",
    "村居": "石牌村",
    "走访时间": "2026-11-05 10:30",
    "方式": "入户",
    "发现情况": "身体还可以，腿脚不便",
    "需求": "助餐",
    "提供服务": "",
    "走访后风险": "低",
    "跟进计划": "下周电话回访",
    "危险提示": "",
    "社工": "王芳",
    "照片": "",
    "照片说明": "",
    "位置": "",
    "对象状态": "在册",
}


async def test_export_csv_xlsx_and_audit(station: Path) -> None:
    ok(["cases", "import", str(write_csv(station / "c.csv", [HEADER, *GOOD])), "--station", STATION], station)
    await _report_visits(station)

    out = ok(["visits", "export", "--format", "csv", "--to", "2026-11-20"], station)
    assert not out.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [FIRST_ROW]  # 11-20 16:30 UTC is 11-21 00:30 in Guangzhou: outside --to 2026-11-20

    result = run(
        ["visits", "export", "--station", STATION, "--from", "2026-11-01", "--format", "csv", "-o", "out.csv"], station
    )
    assert result.returncode == 0 and "已导出 2 条走访记录" in result.stderr
    raw = (station / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == FIRST_ROW
    assert rows[1]["发现情况"] == '\'=HYPERLINK("http://x")'  # never a formula in Excel

    ok(["visits", "export", "--format", "xlsx", "-o", str(station / "out.xlsx"), "--from", "2026-11-21"], station)
    sheet = openpyxl.load_workbook(station / "out.xlsx").active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[0] == list(EXPORT_COLUMNS)
    assert [r[1] for r in values[1:]] == ["陈婆"]
    assert values[1][2] == "440106194805200012" and sheet.cell(2, 9).data_type == "s"

    db = sqlite3.connect(station / "data" / "shegong.db")
    audits = db.execute("SELECT actor, action, target, detail FROM audit_log WHERE action = 'visits.export'").fetchall()
    assert len(audits) == 3
    assert all(a[0].startswith("cli:") and len(a[0]) > 4 for a in audits)
    assert '"rows": 1' in audits[0][3] and audits[0][2] == "all" and audits[1][2].startswith("station:")
    assert all("440106" not in a[3] for a in audits)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xlsx"], "需要用 -o"),
        (["--format", "csv", "--from", "2026/11/01"], "YYYY-MM-DD"),
        (["--format", "csv", "--from", "2026-11-02", "--to", "2026-11-01"], "不能晚于"),
        (["--format", "csv", "--station", "无此站"], "找不到社工站"),
        (["--format", "csv", "-o", "no/such/dir/x.csv"], "输出目录不存在"),
    ],
)
def test_export_argument_errors(station: Path, args: list[str], message: str) -> None:
    result = run(["visits", "export", *args], station)
    assert result.returncode != 0 and message in result.stderr


# -- PostgreSQL -------------------------------------------------------------------------------
@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("SHEGONG_TEST_POSTGRES_URL not set")
    with throwaway_postgres("shegong_cli") as url:
        yield url


def test_cli_on_postgresql(tmp_path: Path, fresh_postgres: str) -> None:
    db = {"SHEGONG_DATABASE_URL": fresh_postgres}
    key = {**db, "SHEGONG_SECRET_KEY": generate_key()}
    before = run(["station", "add", STATION], tmp_path, **key)
    assert before.returncode != 0 and "shegong db upgrade" in before.stderr
    assert "最新版本" in ok(["db", "upgrade"], tmp_path, **db)
    ok(["station", "add", STATION], tmp_path, **db)  # no personal data involved: works without the key
    no_key = run(["invite", "--station", STATION, "--name", "王芳"], tmp_path, **db)
    assert no_key.returncode != 0 and "SHEGONG_SECRET_KEY" in no_key.stderr and "所有进程" in no_key.stderr
    ok(["invite", "--station", STATION, "--name", "王芳"], tmp_path, **key)
    path = write_csv(tmp_path / "c.csv", [HEADER, *GOOD])
    assert "新增 3 人" in ok(["cases", "import", str(path), "--station", STATION], tmp_path, **key)
    assert "未变 3 人" in ok(["cases", "import", str(path), "--station", STATION], tmp_path, **key)
    clean = clean_roster(tmp_path / "名单.xlsx")  # the real-sheet path, and 未评估 in PostgreSQL's column
    # 张桂英 and 李伯 (his 15-digit number, now 18) are the same people as in c.csv: matched, not added twice.
    assert "新增 1 人，更新 2 人" in ok(
        ["cases", "import", str(clean), "--station", STATION, "--sheet", SHEET], tmp_path, **key
    )
    assert ok(["visits", "export", "--format", "csv"], tmp_path, **key).strip() == ",".join(EXPORT_COLUMNS)
    assert "王芳  社工  在职  石牌街社工站  未绑定" in ok(["workers", "list"], tmp_path, **db)
    assert not (tmp_path / "data" / "secret.key").exists()
