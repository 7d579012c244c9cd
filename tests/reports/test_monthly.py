"""The monthly report's numbers against a hand-computed station month: a closed case (before and during the
month), a reassigned case, an unassigned new case, visits in the first and last minutes of the month in
Asia/Shanghai, several categories per case, danger events with and without follow-up, tickets, overdue items."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.common.area import Area
from handlers.reports.categories import (
    OTHER,
    CategoriesError,
    default_categories,
    load_categories,
    parse_categories,
)
from handlers.reports.monthly import (
    DangerFact,
    GroupFact,
    Month,
    NoteFact,
    OverdueFact,
    ReportInput,
    StationFact,
    TicketFact,
    WorkerFact,
    boundaries,
    monthly_report,
)

SH = ZoneInfo("Asia/Shanghai")
NOV = Month(2026, 11)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
CATEGORIES = parse_categories(
    "助餐\t助餐、送餐、饭堂\n就医\t陪诊、医院\n政策咨询\t咨询、低保\n康复辅具\t轮椅\n", "test.tsv"
)


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) time."""
    return datetime.fromisoformat(text).replace(tzinfo=SH).astimezone(UTC)


def fixture() -> ReportInput:
    def months(*values: int) -> tuple[int, ...]:  # May … November
        return values

    zeros = months(0, 0, 0, 0, 0, 0, 0)
    groups = [
        # 张桂英 and 李四 (王芳): visited in October (张桂英) and November (both), 张桂英 home-visited in November
        GroupFact(1, 10, ("低保", "独居老人"), months(2, 2, 2, 2, 2, 2, 2), months(0, 0, 0, 0, 0, 1, 2),
                  months(0, 0, 0, 0, 0, 0, 1)),
        # 陈婆, closed in October: active until then, not in November (so no worker, no categories)
        GroupFact(1, None, (), months(1, 1, 1, 1, 1, 1, 0), months(0, 0, 0, 0, 0, 1, 0), months(0, 0, 0, 0, 0, 1, 0)),
        # 黄伯, handed from 王芳 to 李敏 in November: 王芳 visited, the case counts for 李敏
        GroupFact(1, 11, ("独居老人",), months(1, 1, 1, 1, 1, 1, 1), months(0, 0, 0, 0, 0, 0, 1),
                  months(0, 0, 0, 0, 0, 0, 1)),
        # 何秀珍, registered on 20 November, unassigned
        GroupFact(1, None, ("残疾人",), months(0, 0, 0, 0, 0, 0, 1), zeros, zeros),
        # 周一平, closed during November: still active in November
        GroupFact(1, 11, ("低保", "残疾人"), months(1, 1, 1, 1, 1, 1, 1), zeros, zeros),
    ]
    notes = [
        NoteFact("需要助餐，想办轮椅", "联系长者饭堂送餐", 1),
        NoteFact("", "陪诊去医院", 1),
        NoteFact("咨询低保续期", "", 1),
        NoteFact("很好", "", 1),
    ]
    danger = [
        DangerFact(3, 1, "张桂英", 1, at("2026-11-20 11:00"), "", "高", True),
        DangerFact(2, 4, "黄伯", 1, at("2026-11-12 10:00"), "想不开", "高", False),
    ]
    tickets = [
        TicketFact(1, at("2026-11-03 09:00"), at("2026-11-03 09:30")),
        TicketFact(1, at("2026-11-05 09:00"), at("2026-11-05 10:30")),
        TicketFact(1, at("2026-11-06 09:00"), None),
    ]
    overdue = [
        OverdueFact(1, 11, 6, "周一平", "季度探访", date(2026, 11, 10), 20),
        OverdueFact(1, None, 5, "何秀珍", "首次探访", date(2026, 11, 25), 5),
    ]
    return ReportInput(
        area=Area("station", "石龙镇社工站"),
        month=NOV,
        tz=SH,
        generated_at=at("2026-12-02 09:00"),
        stations=[StationFact(1, "石龙镇社工站", "东莞市", "", "石龙镇")],
        workers=[WorkerFact(10, "王芳", 1), WorkerFact(11, "李敏", 1)],
        groups=groups,
        visit_counts={(1, 10, 6): 3, (1, 11, 6): 1, (1, 10, 5): 2},
        notes=notes,
        danger=danger,
        tickets=tickets,
        overdue=overdue,
        overdue_as_of=date(2026, 11, 30),
        categories=CATEGORIES,
    )


def test_month_arithmetic_in_shanghai() -> None:
    assert Month.parse("2026-11") == NOV == Month.parse("2026年11月") == Month.of(at("2026-11-30 23:59"), SH)
    assert Month.of(at("2026-12-01 00:00"), SH) == Month(2026, 12)
    assert NOV.shift(-11) == Month(2025, 12) and NOV.shift(2) == Month(2027, 1)
    bounds = boundaries(NOV, SH)
    assert len(bounds) == 8 and bounds[0] == at("2026-05-01 00:00")
    assert bounds[6] == datetime(2026, 10, 31, 16, tzinfo=UTC) and bounds[7] == datetime(2026, 11, 30, 16, tzinfo=UTC)
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("2026-13")


def test_hand_computed_station_month() -> None:
    report = monthly_report(fixture())
    assert report["month"] == "2026-11" and report["area"] == {
        "level": "station",
        "name": "石龙镇社工站",
        "stations": 1,
    }
    assert report["period"] == {"from": "2026-11-01", "to": "2026-11-30", "timezone": "Asia/Shanghai"}
    assert report["totals"] == {
        "active_cases": 5,
        "served": 3,
        "served_rate": 0.6,
        "home_visited": 2,
        "home_rate": 0.4,
        "visits": 4,
    }
    assert report["categories"] == [
        {
            "category": "低保",
            "active_cases": 3,
            "served": 2,
            "served_rate": 0.6667,
            "home_visited": 1,
            "home_rate": 0.3333,
        },
        {
            "category": "独居老人",
            "active_cases": 3,
            "served": 3,
            "served_rate": 1.0,
            "home_visited": 2,
            "home_rate": 0.6667,
        },
        {"category": "残疾人", "active_cases": 2, "served": 0, "served_rate": 0.0, "home_visited": 0, "home_rate": 0.0},
    ]
    assert report["workers"] == [
        {
            "worker_id": 10,
            "name": "王芳",
            "station": "石龙镇社工站",
            "cases": 2,
            "served": 2,
            "served_rate": 1.0,
            "home_visited": 1,
            "visits": 3,
            "overdue": 0,
        },
        {
            "worker_id": 11,
            "name": "李敏",
            "station": "石龙镇社工站",
            "cases": 2,
            "served": 1,
            "served_rate": 0.5,
            "home_visited": 1,
            "visits": 1,
            "overdue": 1,
        },
        {
            "worker_id": None,
            "name": "未分配",
            "station": "",
            "cases": 1,
            "served": 0,
            "served_rate": 0.0,
            "home_visited": 0,
            "visits": 0,
            "overdue": 1,
        },
    ]
    assert report["stations"] == [
        {
            "station_id": 1,
            "name": "石龙镇社工站",
            "city": "东莞市",
            "district": "",
            "town": "石龙镇",
            "active_cases": 5,
            "served": 3,
            "served_rate": 0.6,
            "home_visited": 2,
            "home_rate": 0.4,
            "visits": 4,
            "overdue": 2,
            "danger_events": 2,
            "danger_open": 1,
        }
    ]
    danger = report["danger"]
    assert isinstance(danger, dict)
    assert (danger["events"], danger["followed_up"], danger["open"]) == (2, 1, 1)
    assert [(e["case_name"], e["date"], e["followed_up"]) for e in danger["list"]] == [
        ("黄伯", "2026-11-12", False),
        ("张桂英", "2026-11-20", True),
    ]
    assert report["handoff"] == {"tickets": 3, "answered": 2, "median_first_response_minutes": 60.0}
    assert report["needs"] == {"助餐": 1, "就医": 0, "政策咨询": 1, "康复辅具": 1, OTHER: 1}
    assert report["services"] == {"助餐": 1, "就医": 1, "政策咨询": 0, "康复辅具": 0, OTHER: 0}
    overdue = report["overdue"]
    assert isinstance(overdue, dict) and overdue["items"] == 2 and overdue["as_of"] == "2026-11-30"
    assert [o["worker"] for o in overdue["list"]] == ["李敏", "未分配"]
    trend = report["trend"]
    assert isinstance(trend, list) and [t["month"] for t in trend] == [str(NOV.shift(k)) for k in range(-6, 1)]
    assert trend[5] == {
        "month": "2026-10",
        "active_cases": 5,
        "served": 2,
        "served_rate": 0.4,
        "home_visited": 1,
        "home_rate": 0.2,
        "visits": 2,
    }
    assert trend[0] == {
        "month": "2026-05",
        "active_cases": 5,
        "served": 0,
        "served_rate": 0.0,
        "home_visited": 0,
        "home_rate": 0.0,
        "visits": 0,
    }
    assert trend[6] == {"month": "2026-11", **report["totals"]}  # type: ignore[dict-item]


def test_empty_area_has_no_rates() -> None:
    data = fixture()
    empty = ReportInput(
        data.area, NOV, SH, data.generated_at, data.stations, [], [], {}, [], [], [], [], date(2026, 11, 30),
        CATEGORIES,
    )
    report = monthly_report(empty)
    assert report["totals"] == {
        "active_cases": 0,
        "served": 0,
        "served_rate": None,
        "home_visited": 0,
        "home_rate": None,
        "visits": 0,
    }
    assert report["handoff"] == {"tickets": 0, "answered": 0, "median_first_response_minutes": None}


def test_categories_file_is_valid_and_errors_name_file_and_line(tmp_path) -> None:
    shipped = default_categories()
    assert {"助餐", "就医", "政策咨询", "心理支持", "转介"} <= set(shipped.names) and shipped.names[-1] == OTHER
    assert shipped.of("陪伴老人谈心，转介到医院") == ("就医", "心理支持", "转介")
    assert shipped.of("") == () and shipped.of("  ") == () and shipped.of("一切正常") == (OTHER,)
    assert shipped.of("協助申請低保") == ("政策咨询",)  # traditional characters count too
    bad = tmp_path / "c.tsv"
    for text, message in [
        ("# x\n助餐 助餐\n", "c.tsv:2：每行应为"),
        ("助餐\t助餐\n助餐\t送餐\n", "c.tsv:2：类别“助餐”重复（第 1 行已有）"),
        ("就医\t陪诊、\n", "c.tsv:1：类别“就医”的关键词有空项"),
        ("其他\t别的\n", "c.tsv:1：“其他”是保留的类别"),
        ("# only comments\n", "文件里没有任何类别"),
    ]:
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(CategoriesError, match=message):
            load_categories(bad)
