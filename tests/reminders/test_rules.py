"""Rules as data: the shipped defaults, validation errors that name file and line, station overrides,
merging of a case's categories, calendar-month intervals."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from handlers.reminders.rules import BUILTIN_RULES, Interval, RulesError, load_rulebook, parse_interval


def test_defaults_cover_the_guidance() -> None:
    rules = load_rulebook().default
    keys = {c: {i.key: i for i in items} for c, items in rules.categories.items()}
    assert keys["特困分散供养"]["home_visit"].every == Interval(1)
    assert keys["特困分散供养"]["selfcare_assessment"].every == Interval(12)
    assert keys["独居老人"]["home_visit"].every == Interval(1)
    assert keys["低保"]["econ_check"].every == Interval(12)
    assert keys["低保收入不固定"]["econ_check"].every == Interval(6)
    assert keys["困境儿童"]["child_visit"].every == Interval(3)
    assert keys["事实无人抚养儿童"]["child_visit"].every == Interval(3)
    [needs] = rules.common
    assert (needs.name, needs.first_within_days, needs.every) == ("需求评估", 15, None)


def test_a_case_gets_one_item_per_key_the_strictest() -> None:
    rules = load_rulebook().default
    items = {i.key: i for i in rules.items_for(["低保", "低保（收入不固定）"])}  # an alias, too
    assert items["econ_check"].every == Interval(6)
    both = [i.key for i in rules.items_for(["特困分散供养", "独居老人"])]
    assert both.count("home_visit") == 1 and "selfcare_assessment" in both
    assert [i.key for i in rules.items_for(["其他"])] == ["needs_assessment"]  # no recurring items


@pytest.mark.parametrize(("text", "months", "days"), [
    ("1 month", 1, 0), ("3 months", 3, 0), ("1 year", 12, 0), ("6 months", 6, 0), ("15 days", 0, 15),
    ("2 weeks", 0, 14), ("每月", 1, 0), ("每季度", 3, 0), ("每半年", 6, 0), ("每年", 12, 0), ("3个月", 3, 0)])
def test_intervals(text: str, months: int, days: int) -> None:
    assert parse_interval(text) == Interval(months, days)


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    assert Interval(1).add_to(date(2025, 1, 31)) == date(2025, 2, 28)
    assert Interval(1).add_to(date(2024, 1, 31)) == date(2024, 2, 29)
    assert Interval(12).add_to(date(2024, 2, 29)) == date(2025, 2, 28)
    assert Interval(3).add_to(date(2025, 11, 15)) == date(2026, 2, 15)


def write(root: Path, body: str, name: str = "default.yaml") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


BAD = {
    "every: 1 fortnight": ("categories:\n  低保:\n    - key: econ_check\n      name: 核查\n      every: 1 fortnight\n"
                           "      reset_by: {keywords: [核查]}\n", 5, "看不懂的间隔"),
    "unknown field": ("categories:\n  低保:\n    - key: econ_check\n      name: 核查\n      every: 1 year\n"
                      "      remind: 3\n      reset_by: {keywords: [核查]}\n", 6, "未知字段"),
    "no reset_by": ("categories:\n  低保:\n    - key: econ_check\n      name: 核查\n      every: 1 year\n", 3,
                    "reset_by"),
    "bad mode": ("categories:\n  低保:\n    - key: econ_check\n      name: 核查\n      every: 1 year\n"
                 "      reset_by:\n        modes: [上门]\n", 7, "上门"),
    "bad key": ("categories:\n  低保:\n    - key: 核查\n      name: 核查\n      every: 1 year\n"
                "      reset_by: {keywords: [核查]}\n", 3, "key"),
    "aliases moved to the table": ("aliases:\n  低保户: 低保\ncategories: {}\n", 1, "categories.tsv"),
    "an alias as a category": ("categories:\n  特困:\n    - key: home_visit\n      name: 入户\n      every: 1 month\n"
                               "      reset_by: {modes: [入户]}\n", 2, "请写类别名“特困分散供养”"),
    "unknown category": ("categories:\n  五保户:\n    - key: home_visit\n      name: 入户\n      every: 1 month\n"
                         "      reset_by: {modes: [入户]}\n", 2, "不在类别表"),
    "negative lead": ("categories:\n  低保:\n    - key: econ_check\n      name: 核查\n      every: 1 year\n"
                      "      lead_days: -1\n      reset_by: {keywords: [核查]}\n", 6, "lead_days"),
    "yaml": ("categories:\n  低保: [\n", 3, "YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_errors_name_the_file_and_the_line(tmp_path: Path, case: str) -> None:
    body, line, words = BAD[case]
    path = write(tmp_path, body)
    with pytest.raises(RulesError) as caught:
        load_rulebook(tmp_path)
    message = str(caught.value)
    assert f"{path}:{line}" in message and words in message, message


def test_a_station_overrides_replaces_and_disables_items(tmp_path: Path) -> None:
    shutil.copy(BUILTIN_RULES / "default.yaml", tmp_path / "default.yaml")
    write(tmp_path, "categories:\n  独居老人:\n    - key: home_visit\n      name: 入户探访\n      every: 2 weeks\n"
                    "      reset_by: {modes: [入户]}\n  低保:\n    - key: econ_check\n      disabled: true\n"
                    "  留守儿童:\n    - key: child_visit\n      name: 儿童走访\n      every: 1 month\n"
                    "      reset_by: {modes: [入户, 电话]}\n", "stations/石岗镇社工站.yaml")
    book = load_rulebook(tmp_path)
    mine, other = book.for_station("石岗镇社工站"), book.for_station("别的站")
    assert {i.key: i.every for i in mine.items_for(["独居老人"])}["home_visit"] == Interval(0, 14)
    assert "econ_check" not in {i.key for i in mine.items_for(["低保"])}
    assert "child_visit" in {i.key for i in mine.items_for(["留守儿童"])}
    assert {i.key: i.every for i in other.items_for(["独居老人"])}["home_visit"] == Interval(1)
    assert "econ_check" in {i.key for i in other.items_for(["低保"])}


def test_only_station_files_may_disable(tmp_path: Path) -> None:
    write(tmp_path, "categories:\n  低保:\n    - key: econ_check\n      disabled: true\n")
    with pytest.raises(RulesError, match="只有站点规则"):
        load_rulebook(tmp_path)


@pytest.mark.parametrize(("spelling", "key"), [
    ("特困", "home_visit"), ("特困人员", "selfcare_assessment"), ("独居", "home_visit"), ("低保户", "econ_check"),
    ("低保（收入不固定）", "econ_check"), ("低保(收入不固定)", "econ_check"), ("空巢老人", "home_visit")])
def test_rules_accept_every_spelling_of_the_shared_category_table(spelling: str, key: str) -> None:
    assert key in {i.key for i in load_rulebook().default.items_for([spelling])}


def test_a_broken_category_table_is_a_rules_error_naming_its_line(tmp_path: Path) -> None:
    table = tmp_path / "categories.tsv"
    table.write_text("# 类别\n低保\t低保户\n特困分散供养\t低保户\n", encoding="utf-8")
    with pytest.raises(RulesError, match=f"{table}:3.*低保户"):
        load_rulebook(categories=table)
