"""Issue 13, point 10 (fuzzing part): the roster importer. Whatever a CSV or XLSX file holds (any header, any
cells, merged areas, huge or odd strings, NUL and control characters, bytes in no encoding), reading it either
fails with ImportFileError, a Chinese message, or gives rows and rejected rows, each rejection naming its line
and reason in Chinese. Importing it with `shegong cases import` then either writes every row or, when it
reports an error, leaves the database as it was, on both databases."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import text

from bot.config import Settings
from bot.crypto import generate_key
from bot.store import create_engine, upgrade
from bot.store.connect import open_store
from handlers.casework.admin import add_station, import_cases, invite
from handlers.casework.files import ImportFileError, parse_case_file
from handlers.casework.tables import FIELDS, HISTORY_FIELDS

TODAY = date(2026, 11, 28)
STATION = "石湾镇社工站"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
HEADER_WORDS = (*FIELDS, *HISTORY_FIELDS, "序号", "所属村居", "联系方式", "身份证号码", "户主姓名", "备注", "", "姓 名")
VALUES = (
    "张桂英",
    "何　亚妹",
    "低保",
    "低保、独居老人",
    "特困分散供养 残疾人",
    "未知类别",
    "石牌村",
    "石牌东路1号",
    "13812345678",
    "020-12345678",
    "1381234567",
    "440106199001011235",
    "44010619520315018x",
    "4.40106E+17",
    "440106520315018",
    "低",
    "高风险",
    "未评估",
    "王芳",
    "不存在的社工",
    "2025-03-01",
    "2025年3月1日",
    "2099-01-01",
    "合计",
    "填表人：",
    '=HYPERLINK("x")',
    "+1",
    "@SUM(A1)",
    "\x00",
    "张\x00桂英",
    "\x1b[31m",
    "\ud800",
    "\u202e",
    "﹟",
    "🙂",
    " ",
    "\t",
    "\r\n",
    '"',
    ",",
    "张" * 5000,
    "1" * 400,
)
cells = st.sampled_from(VALUES) | st.text(max_size=30) | st.integers(-(10**20), 10**20).map(str)
rows = st.lists(st.lists(cells, max_size=12), max_size=12)
headers = st.permutations(FIELDS).map(list) | st.lists(st.sampled_from(HEADER_WORDS) | st.text(max_size=8), max_size=12)
titles = st.lists(st.lists(cells, max_size=3), max_size=2)  # title rows above the header
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def csv_file(path: Path, lines: list[list[str]], encoding: str) -> Path:
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    path.write_bytes(out.getvalue().encode(encoding, errors="surrogatepass" if encoding == "utf-8" else "replace"))
    return path


def xlsx_file(path: Path, lines: list[list[str]], merges: list[tuple[int, int, int, int]], numbers: bool) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for r, line in enumerate(lines, 1):
        for c, value in enumerate(line, 1):
            clean: Any = ILLEGAL_CHARACTERS_RE.sub("", value.encode("utf-8", "replace").decode())
            if numbers and clean.isdigit() and len(clean) < 18:
                clean = int(clean)  # Excel turns digits into numbers
            sheet.cell(r, c, clean)
    for top, left, height, width in merges:
        if top <= len(lines):
            sheet.merge_cells(start_row=top, start_column=left, end_row=top + height, end_column=left + width)
    book.save(path)
    return path


ODD = st.sampled_from(["\x00", "\x1b", "\x7f", "\u200b", "\u202e", "\ufeff", "\ud83d", "\r", "\t", "　", "=", "\\"])
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@st.composite
def odd_text(draw: st.DrawFn, base: st.SearchStrategy[str], limit: int) -> str:
    """A plausible value with odd characters put in it."""
    value = list(draw(base))
    for _ in range(draw(st.integers(0, 2))):
        value.insert(draw(st.integers(0, len(value))), draw(ODD))
    return "".join(value)[:limit]


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(date(1920, 1, 1), date(2020, 12, 31)))
    body = f"440106{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def good_rows() -> st.SearchStrategy[list[str]]:
    """Rows in FIELDS order that mostly pass validation, with odd characters in their free text."""
    return st.tuples(
        odd_text(st.sampled_from(["张桂英", "陈秀兰", "欧阳娟"]), 32),
        st.sampled_from(["低保", "低保、独居老人", "高龄老人", "特困分散供养 残疾人"]),
        odd_text(st.text(max_size=10), 64),
        odd_text(st.text(max_size=60) | st.just("石牌东路1号"), 200),
        st.sampled_from(["", "13812345678", "020-12345678", "138 1234 5678"]),
        id_numbers(),
        st.sampled_from(["", "低", "中", "高风险"]),
        st.sampled_from(["", "王芳"]),
    ).map(list)


@st.composite
def roster_files(draw: st.DrawFn, tmp: Path) -> Path:
    if draw(st.booleans()):
        lines = [*draw(titles), draw(headers), *draw(rows)]
    else:
        body = draw(st.lists(good_rows() | st.lists(cells, max_size=10), min_size=1, max_size=8))
        lines = [*draw(titles), list(FIELDS), *body]
    kind = draw(st.sampled_from(["csv", "csv-gbk", "xlsx", "bytes"]))
    path = tmp / f"roster.{'xlsx' if kind == 'xlsx' else 'csv'}"
    if kind == "bytes":
        path.write_bytes(draw(st.binary(max_size=400)))
        return path
    if kind == "xlsx":
        merges = draw(st.lists(st.tuples(*[st.integers(1, 8)] * 2, *[st.integers(0, 3)] * 2), max_size=3))
        return xlsx_file(path, lines, merges, draw(st.booleans()))
    return csv_file(path, lines, "utf-8" if kind == "csv" else "gb18030")


def check_parsed(path: Path) -> bool:
    """Reads the file as the import does; True when it has rows and no rejected row."""
    try:
        parsed = parse_case_file(path, ["王芳"], TODAY)
    except ImportFileError as exc:
        assert CHINESE.search(str(exc)), str(exc)
        return False
    assert parsed.rows or parsed.errors
    for line, reason in parsed.errors:
        assert line > parsed.header_line and CHINESE.search(reason), (line, reason)
    for row in parsed.rows:
        assert row.name and row.id_number and "\x00" not in row.name + row.village + row.address
    return not parsed.errors


@FUZZ
@given(data=st.data())
def test_any_roster_file_is_read_or_refused_with_a_chinese_message(data: st.DataObject, tmp_path: Path) -> None:
    check_parsed(data.draw(roster_files(tmp_path)))


@pytest.fixture
def roster_settings(tmp_path: Path, database_url: str) -> Settings:
    found = Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=generate_key(), _env_file=None)

    async def setup() -> None:
        if not database_url.startswith("sqlite"):
            engine = create_engine(database_url)
            await upgrade(engine)
            await engine.dispose()
        await add_station(found, STATION, county="禅城区", city="佛山市")
        await invite(found, STATION, "王芳", "worker")

    asyncio.run(setup())
    return found


async def snapshot(found: Settings) -> list[list[tuple[Any, ...]]]:
    store = await open_store(found)
    try:
        async with store.session() as s:
            tables = [(await s.execute(text(f"SELECT * FROM {t}"))).all() for t in ("cases", "case_history")]
        return [sorted((tuple(r) for r in rows), key=repr) for rows in tables]
    finally:
        await store.close()


@pytest.mark.timeout(600)  # every example opens the database as `shegong cases import` does
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_an_import_that_reports_an_error_writes_nothing(
    data: st.DataObject, tmp_path: Path, roster_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    path = data.draw(roster_files(tmp_path))
    before = asyncio.run(snapshot(roster_settings))
    try:
        status = asyncio.run(import_cases(roster_settings, path, STATION))
    except SystemExit as exc:
        assert isinstance(exc.code, str) and CHINESE.search(exc.code), exc.code
        status = 2
    capsys.readouterr()
    after = asyncio.run(snapshot(roster_settings))
    if status != 0:
        assert after == before
    else:
        assert len(after[0]) >= len(before[0])
