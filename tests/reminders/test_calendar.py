"""Holidays beyond the chinese-calendar package: the administrator's handlers/common/data/holidays.tsv, validated on
load, used for the years it covers; `reminders due` warns when the next 60 days have no holiday data.

The 2027 rows below are a made-up test fixture to exercise the format, not the State Council's schedule."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from town import Town

from handlers.common.calendar import HolidaysError, HolidayTable, WorkCalendar, load_holidays

from .test_cli import env_for, shegong

FIXTURE = ("# 测试用，非真实安排\n"
           "2027\t来源\t测试数据（不是国务院通知）\n"
           "2027-02-08~2027-02-12\t休\t春节\n"
           "2027-02-06\t班\t春节\n")


def table(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "holidays.tsv"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_shipped_file_loads_and_agrees_with_the_package_where_both_know() -> None:
    shipped = load_holidays()
    package = WorkCalendar(HolidayTable())  # the chinese-calendar package alone
    assert set(shipped.sources) == {d.year for d in shipped.days}
    for day, (workday, _name) in shipped.days.items():
        if package.has_data(day):
            assert package.is_workday(day) is workday, day


def test_a_year_from_the_file_holidays_and_make_up_days(tmp_path: Path) -> None:
    cal = WorkCalendar(load_holidays(table(tmp_path, FIXTURE)))
    assert cal.is_workday(date(2027, 2, 8)) is False  # a Monday off
    assert cal.is_workday(date(2027, 2, 6)) is True  # a Saturday at work
    assert cal.is_workday(date(2027, 2, 13)) is False and cal.is_workday(date(2027, 2, 15)) is True
    assert cal.describe(date(2027, 2, 9)) == "春节假期" and cal.describe(date(2027, 2, 6)) == "春节调休上班日"
    assert cal.has_data(date(2027, 7, 1)) and cal.missing_years(date(2027, 12, 1)) == [2028]
    assert WorkCalendar(load_holidays(table(tmp_path, "# 空\n"))).missing_years(date(2026, 12, 2)) == [2027]
    assert WorkCalendar(load_holidays(table(tmp_path, "# 空\n"))).missing_years(date(2026, 6, 1)) == []


def test_the_file_wins_over_the_package_for_the_years_it_covers(tmp_path: Path) -> None:
    body = "2026\t来源\t测试\n2026-03-02\t休\t测试假\n"
    cal = WorkCalendar(load_holidays(table(tmp_path, body)))
    assert cal.is_workday(date(2026, 3, 2)) is False and cal.is_workday(date(2026, 10, 1)) is True


@pytest.mark.parametrize(("body", "line", "words"), [
    ("2027\t来源\t通知\n2027-02-30\t休\t春节\n", 2, "日期不存在"),
    ("2027\t来源\t通知\n2027/02/08\t休\t春节\n", 2, "日期应写成"),
    ("2027\t来源\t通知\n2027-02-08\t放\t春节\n", 2, "“休”或“班”"),
    ("2027\t来源\t通知\n2027-02-08\t班\t春节\n", 2, "周一，本来就上班"),
    ("2027\t来源\t通知\n2027-02-08~2027-02-10\t休\t春节\n2027-02-10\t休\t春节\n", 3, "第 2 行已经写过"),
    ("2027\t来源\t通知\n2027-02-10~2027-02-08\t休\t春节\n", 2, "先早后晚"),
    ("2027-02-08\t休\t春节\n", 1, "2027 年没有来源行"),
    ("2027\t来源\t通知\n2027-02-08\t休\n", 2, "三列"),
    ("二〇二七\t来源\t通知\n", 1, "年份"),
])
def test_errors_name_the_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = table(tmp_path, body)
    with pytest.raises(HolidaysError) as caught:
        load_holidays(path)
    assert f"{path}:{line}" in str(caught.value) and words in str(caught.value), str(caught.value)


def test_a_source_without_days_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HolidaysError, match="2027 年只有来源，没有日期"):
        load_holidays(table(tmp_path, "2027\t来源\t通知\n"))


async def test_due_warns_when_the_next_60_days_have_no_holiday_data(database_url: str, town: Town,
                                                                    tmp_path: Path) -> None:
    """With the shipped file: 2026 is in the package; a year no source has published yet is not."""
    env = env_for(database_url, tmp_path)
    code, out, err = await shegong(env, "reminders", "due", "--date", "2026-06-01", "--json")
    assert code == 0 and json.loads(out)["holiday_data_missing"] == [] and "节假日" not in err
    late = date(2099, 12, 1)
    code, out, err = await shegong(env, "reminders", "due", "--date", late.isoformat())
    assert code == 0, err
    assert f"未来 60 天（到 {late + timedelta(days=60)}）里，2099、2100 年还没有节假日和调休数据" in err
    assert "holidays.tsv" in err


async def test_rules_command_lists_the_holidays_file(tmp_path: Path) -> None:
    code, out, _ = await shegong(env_for("sqlite+aiosqlite:///:memory:", tmp_path), "reminders", "rules")
    assert code == 0 and "holidays.tsv" in out and "categories.tsv" in out
