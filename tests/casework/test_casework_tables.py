"""The casework data files administrators edit: the one category table shared by the roster import and the
reminder rules, and the roster header synonyms. Shipped files load; bad lines are reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import CATEGORIES
from handlers.casework.files import parse_categories
from handlers.casework.tables import TableError, load_categories, load_headers
from handlers.reminders.rules import load_rulebook


def test_the_shipped_category_table_covers_the_store_and_the_issue_spellings() -> None:
    table = load_categories()
    assert set(CATEGORIES) <= set(table.names)
    for spelling, name in [
        ("特困", "特困分散供养"),
        ("特困人员", "特困分散供养"),
        ("独居", "独居老人"),
        ("低保户", "低保"),
        ("低保（收入不固定）", "低保收入不固定"),
        ("低保(收入不固定)", "低保收入不固定"),
        ("事实孤儿", "事实无人抚养儿童"),
        (" 低 保 ", "低保"),
    ]:
        assert table.canonical(spelling) == name, spelling
    assert table.canonical("五保户") is None


def test_import_and_reminder_rules_read_every_spelling_the_same_way() -> None:
    table = load_categories()
    rules = load_rulebook().default
    for spelling, name in table.spellings.items():
        assert parse_categories(spelling, table) == ((name,), [])
        assert rules.items_for([spelling]) == rules.items_for([name]), spelling


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("低保、独居", ("低保", "独居老人")),
        ("低保/残疾人", ("低保", "残疾人")),
        ("特困，独居；高龄", ("特困分散供养", "独居老人", "高龄老人")),
        ("低保,低保户", ("低保",)),
        ("低保；残疾", ("低保", "残疾人")),
        ("低保 残疾人", ("低保", "残疾人")),
        ("低保／留守", ("低保", "留守儿童")),
    ],
)
def test_several_categories_in_one_cell(cell: str, expected: tuple[str, ...]) -> None:
    assert parse_categories(cell) == (expected, [])


def test_unknown_and_empty_categories_are_reasons_without_the_whole_list() -> None:
    assert parse_categories("低保、五保户") == (None, ["未知类别：五保户"])
    assert parse_categories(" ") == ((), ["类别不能为空"])


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("低保\t低保户\n特困分散供养\t低保户\n", 2, "低保户"),
        ("低保\t低保户\t\n", 1, "空的写法"),
        ("\t低保户\n", 1, "第一列应为类别名"),
        ("低 保\n", 1, "不要含空格"),
        ("# 只有注释\n低保\n低保\n", 3, "低保"),
    ],
)
def test_category_table_errors_name_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = tmp_path / "categories.tsv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TableError) as caught:
        load_categories(path)
    assert f"{path}:{line}" in str(caught.value) and words in str(caught.value)


def test_the_shipped_header_table_knows_the_issue_synonyms() -> None:
    table = load_headers()
    expected = {
        "村居": ["所属村居", "村(居)", "村（居）", "社区"],
        "住址": ["详细地址", "家庭住址"],
        "电话": ["联系方式", "联系电话", "手机", "本人电话"],
        "风险等级": ["风险级别", "风险"],
        "负责社工": ["责任社工", "社工"],
        "身份证号": ["身份证", "公民身份号码", "身份证号码"],
        "类别": ["对象类别", "人员类别"],
        "姓名": ["姓 名", "*姓名", "姓名："],
    }
    for field, names in expected.items():
        for name in names:
            assert table.field_of(name) == field, name
    assert table.field_of("性别") is None
    assert table.is_footer("合计：60 人") == "合计" and table.is_footer("填表人：王芳") == "填表人"
    assert table.is_footer("制表：李敏") == "制表" and table.is_footer("审核人：陈站长") == "审核"
    assert table.is_footer("何亚妹") == ""


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("姓名\t名字\n类别\t名字\n", 2, "名字"),
        ("性别\t男女\n", 1, "第一列应为字段名"),
        ("姓名\t\t名字\n", 1, "空的列名"),
    ],
)
def test_header_table_errors_name_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = tmp_path / "roster_headers.tsv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TableError) as caught:
        load_headers(path)
    assert f"{path}:{line}" in str(caught.value) and words in str(caught.value)


def test_a_header_table_missing_a_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "roster_headers.tsv"
    path.write_text("姓名\t对象姓名\n", encoding="utf-8")
    with pytest.raises(TableError, match="缺少字段 类别"):
        load_headers(path)
