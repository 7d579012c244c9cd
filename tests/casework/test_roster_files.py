"""Reading real stations' roster sheets (handlers.casework.files.parse_case_file), in-process: which sheet, which
header row, which columns, what is skipped, what is normalised, what is refused and why."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from messy_roster import HE_ID, IGNORED, OLD_ID, OLD_ID_AS_18, SHEET, build_messy_roster, lower_x_id
from town import id_number

from bot.store import CaseRow
from handlers.casework.files import (
    ImportFileError,
    ParsedFile,
    normalize_phone,
    parse_case_file,
    parse_history_date,
    parse_risk_level,
    upgrade_id_number,
    write_errors_xlsx,
)

TODAY = date(2026, 12, 2)
WORKERS = ["王芳", "李敏"]


def parse(path: Path, **options: object) -> ParsedFile:
    return parse_case_file(path, WORKERS, TODAY, **options)  # type: ignore[arg-type]


def test_the_messy_roster_reads_what_the_station_meant(tmp_path: Path) -> None:
    parsed = parse(build_messy_roster(tmp_path / "名单.xlsx"))
    assert (parsed.sheet, parsed.other_sheets, parsed.header_line) == (SHEET, ["填表说明"], 3)
    assert parsed.ignored == IGNORED
    assert parsed.columns["村居"] == ["所属村居"] and parsed.columns["电话"] == ["联系方式", "本人电话"]
    assert parsed.columns["风险等级"] == ["风险级别"] and parsed.columns["负责社工"] == ["责任社工"]
    assert parsed.footers == [(9, "合计"), (10, "填表人")]
    assert parsed.rows == [
        CaseRow(
            "何亚妹",
            ("特困分散供养", "独居老人"),
            "石牌村",
            "石牌东路1号",
            "13812345678",
            HE_ID,
            "高",
            "王芳",
            (("visit", date(2026, 10, 15)),),
        ),
        CaseRow("李伯", ("低保", "残疾人"), "石牌村", "石牌东路3号", "020-12345678", OLD_ID_AS_18, "未评估", ""),
        CaseRow(
            "陈婆",
            ("特困分散供养",),
            "石牌村",
            "石牌西路2号",
            "0757-81234567",
            lower_x_id().upper(),
            "中",
            "王芳",
            (("visit", date(2026, 9, 1)),),
        ),
    ]
    assert parsed.errors == [
        (7, "身份证号被 Excel 存成了数字，末几位已丢失：请把该列设为“文本”后重新录入"),
        (8, "未知类别：五保户"),
    ]
    assert parsed.unknown_categories and parsed.history_rows == 2
    assert parsed.changes["15 位身份证号已转为 18 位"] == 1 and parsed.changes["姓名中的空格已去掉"] == 2
    assert parsed.changes["风险等级为空，记为未评估"] == 1 and parsed.changes["身份证号末位 x 已改为 X"] == 1


def test_the_issue_sheet_keeps_village_address_phone_worker_and_risk(tmp_path: Path) -> None:
    """The sheet from issue 14 that imported with blank village, address, phone, worker and risk 低."""
    path = tmp_path / "名单.csv"
    path.write_text(
        "石牌街服务对象花名册\n\n姓名,所属村居,详细地址,联系方式,本人电话,身份证号,类别,风险级别,责任社工\n"
        f"张桂英,石牌村,石牌东路1号,,13812345678,{HE_ID},低保,高,王芳\n",
        encoding="utf-8",
    )
    parsed = parse(path)
    assert parsed.header_line == 3 and parsed.ignored == []
    assert parsed.rows == [CaseRow("张桂英", ("低保",), "石牌村", "石牌东路1号", "13812345678", HE_ID, "高", "王芳")]


def test_sheet_option_and_sheets_without_a_header(tmp_path: Path) -> None:
    path = build_messy_roster(tmp_path / "名单.xlsx")
    assert parse(path, sheet=SHEET).sheet == SHEET
    with pytest.raises(ImportFileError, match="找不到工作表“名单2”（这个文件里有：填表说明、服务对象名单）"):
        parse(path, sheet="名单2")
    with pytest.raises(ImportFileError, match="工作表“填表说明”的前 10 行里没有"):
        parse(path, sheet="填表说明")
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["请按模板填写"])
    book.save(tmp_path / "empty.xlsx")
    with pytest.raises(ImportFileError, match="每个工作表（说明）的前 10 行里没有同时含这两列的行"):
        parse(tmp_path / "empty.xlsx")


def test_merged_cells_fill_every_row_they_cover(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "村居", "类别", "身份证号"])
    ids = [id_number(f"4401061950010100{n}") for n in range(3)]
    for n, number in enumerate(ids):
        sheet.append([f"对象{n}", "棠下村" if n == 0 else None, "低保" if n == 0 else None, number])
    sheet.merge_cells("B2:B4")  # one village and one category for three people
    sheet.merge_cells("C2:C4")
    book.save(tmp_path / "merged.xlsx")
    parsed = parse(tmp_path / "merged.xlsx")
    assert [(r.village, r.categories) for r in parsed.rows] == [("棠下村", ("低保",))] * 3
    assert parsed.merged == 2


def test_a_header_repeated_on_each_printed_page_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "pages.csv"
    second = id_number("44010619500101002")
    path.write_text(f"姓名,类别,身份证号\n甲,低保,{HE_ID}\n姓名,类别,身份证号\n乙,低保,{second}\n", encoding="utf-8")
    parsed = parse(path)
    assert [r.name for r in parsed.rows] == ["甲", "乙"] and parsed.changes["重复的表头行已跳过"] == 1


def test_footer_rows_are_skipped_and_counted_not_errors(tmp_path: Path) -> None:
    path = tmp_path / "footer.csv"
    path.write_text(f"姓名,类别,身份证号\n甲,低保,{HE_ID}\n合计：1 人,,\n,制表：王芳,审核：李敏\n", encoding="utf-8")
    parsed = parse(path)
    assert parsed.errors == [] and parsed.footers == [(3, "合计"), (4, "制表")]


def test_ids(tmp_path: Path) -> None:
    assert upgrade_id_number(OLD_ID) == OLD_ID_AS_18
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "类别", "身份证"])
    sheet.append(["甲", "低保", int(OLD_ID)])  # a 15-digit number is exact even as a number
    sheet.append(["乙", "低保", 440106199001011235])
    sheet.append(["丙", "低保", "4.40106E+17"])
    sheet.append(["丁", "低保", "440106991301018"])  # 15 digits, no 13th month
    sheet.append(["戊", "低保", " 4401 0619 9001 0112 35 "])
    book.save(tmp_path / "ids.xlsx")
    parsed = parse(tmp_path / "ids.xlsx")
    assert [r.id_number for r in parsed.rows] == [OLD_ID_AS_18, HE_ID]
    reasons = dict(parsed.errors)
    assert "存成了数字" in reasons[3] and "存成了数字" in reasons[4] and "出生日期不存在" in reasons[5]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("020-12345678", "020-12345678"),
        ("(0757)8123 4567", "0757-81234567"),
        ("（020）12345678", "020-12345678"),
        ("0757 81234567", "0757-81234567"),
        ("81234567", "81234567"),
        ("13812345678/020-12345678", "13812345678"),
        ("13812345678（儿子）", "13812345678"),
        ("", ""),
    ],
)
def test_phones_mobiles_and_landlines(cell: str, expected: str) -> None:
    assert normalize_phone(cell) == (expected, "")


@pytest.mark.parametrize("cell", ["1381234567", "12345", "电话不详"])
def test_phones_refused(cell: str) -> None:
    assert normalize_phone(cell)[0] == "" and "电话格式不对" in normalize_phone(cell)[1]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("", "未评估"),
        ("  ", "未评估"),
        ("高", "高"),
        ("高风险", "高"),
        ("中等", "中"),
        ("低风险", "低"),
        ("未评估", "未评估"),
        ("中风险等级", "中"),
    ],
)
def test_risk_blank_is_unassessed_not_low(cell: str, expected: str) -> None:
    assert parse_risk_level(cell) == (expected, "")


def test_risk_refused_names_the_choices() -> None:
    level, reason = parse_risk_level("很高")
    assert level == "" and "高、中、低 或留空（未评估）" in reason


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026-10-05", date(2026, 10, 5)),
        ("2026/9/1", date(2026, 9, 1)),
        ("2026年9月1日", date(2026, 9, 1)),
        (datetime(2026, 11, 30, 0, 0), date(2026, 11, 30)),
        (None, None),
        ("", None),
    ],
)
def test_history_dates(cell: object, expected: date | None) -> None:
    assert parse_history_date(cell, TODAY) == (expected, "")


@pytest.mark.parametrize(
    ("cell", "words"),
    [("2027-01-05", "不能晚于今天"), ("2026-02-30", "不存在"), ("上个月", "看不懂"), ("1998-01-01", "早于 2000 年")],
)
def test_history_dates_refused(cell: str, words: str) -> None:
    day, reason = parse_history_date(cell, TODAY)
    assert day is None and words in reason


def test_names_lose_full_width_and_inner_spaces_but_keep_dots(tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    second, third = id_number("44010619500101002"), id_number("44010619500101003")
    path.write_text(
        f"姓名,类别,身份证号\n何　亚妹,低保,{HE_ID}\n 黄 伟 ,低保,{second}\n阿依古丽·买买提,低保,{third}\n",
        encoding="utf-8",
    )
    assert [r.name for r in parse(path).rows] == ["何亚妹", "黄伟", "阿依古丽·买买提"]


def test_error_workbook_keeps_the_rows_as_text_with_reasons(tmp_path: Path) -> None:
    parsed = parse(build_messy_roster(tmp_path / "名单.xlsx"))
    write_errors_xlsx(parsed, tmp_path / "errors.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "errors.xlsx").active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0][-2:] == ["错误原因", "原行号"] and rows[0][:2] == ["序号", "姓名"]
    assert [(r[1], r[-1]) for r in rows[1:]] == [("张三", "7"), ("赵六", "8")]
    assert rows[2][-2] == "未知类别：五保户" and rows[2][7] == id_number("44010619450707001")
    assert all(c.data_type == "s" for c in sheet[3] if c.value is not None)
    # Fixed in Excel and imported again, the reason and line columns are named as ignored, not errors.
    again = parse(tmp_path / "errors.xlsx")
    assert again.ignored == ["序号", "性别", "备注", "错误原因", "原行号"]
