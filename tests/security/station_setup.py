"""The station the security tests start from: one case, and an invite code for its lead, made with the real
`shegong` admin functions."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bot.config import Settings
from handlers.casework.admin import add_station, import_cases, invite

STATION = "石湾镇社工站"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(body: str) -> str:
    """A valid 18-digit ID number: the 17 digits given and their check digit."""
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


async def station_with_one_case(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """石湾镇社工站 with its lead 李敏 invited and her case 张桂英 imported; the lead's invite code."""
    await add_station(settings, STATION, county="禅城区", city="佛山市")
    await invite(settings, STATION, "李敏", "lead")
    code = re.search(r"绑定码：([A-Z0-9]+)", capsys.readouterr().out)
    assert code is not None
    cases = tmp_path / "cases.csv"
    with cases.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([
            ["姓名", "类别", "村居", "住址", "电话", "身份证号", "风险等级", "负责社工"],
            ["张桂英", "低保;独居老人", "东村", "东村12号", "13812345678", id_number("44060519450312002"), "中",
             "李敏"],
        ])
    assert await import_cases(settings, cases, STATION) == 0
    return code.group(1)
