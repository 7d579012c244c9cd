"""`shegong report monthly` as an administrator runs it: JSON equal to the in-process report, XLSX with a
native chart, A4 setup, a title, one sheet per worker or station, and no unmasked numbers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from town import Town

from bot.config import Settings
from bot.store.connect import open_store

from .station_month import seed


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHEGONG_DATA_DIR": str(tmp_path / "data"), "SHEGONG_DATABASE_URL": "",
           "SHEGONG_SECRET_KEY": ""}
    return subprocess.run([sys.executable, "-m", "bot.cli", "report", "monthly", *args], capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path, check=False)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    async def setup() -> None:
        store = await open_store(Settings(_env_file=None, data_dir=tmp_path / "data", database_url="", secret_key=""))
        try:
            await seed(Town(store, store.clock))
        finally:
            await store.close()

    asyncio.run(setup())
    return tmp_path


def test_json_and_xlsx_for_a_station_and_a_city(seeded: Path) -> None:
    out = run(["--station", "石龙镇社工站", "--month", "2026-11"], seeded)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["totals"]["active_cases"] == 5 and report["totals"]["served"] == 3
    assert [t["month"] for t in report["trend"]][-2:] == ["2026-10", "2026-11"]

    path = seeded / "月报.xlsx"
    assert run(["--station", "石龙镇社工站", "--month", "2026-11", "--format", "xlsx", "-o", str(path)],
               seeded).returncode == 0
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "王芳", "李敏", "陈站长"]
    summary = wb["汇总"]
    assert summary["A1"].value == "石龙镇社工站 2026年11月 社会工作服务月报"
    assert summary.page_setup.paperSize == 9 == wb["王芳"].page_setup.paperSize  # A4
    cells = [str(c.value) for sheet in wb.worksheets for row in sheet.iter_rows() for c in row if c.value]
    assert "张桂英" in cells and "138****5678" in cells
    assert not any("13812345678" in c or "44190019450312" in c for c in cells)
    with zipfile.ZipFile(path) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 2 and b"<lineChart>" in z.read(charts[0]) and b"<barChart>" in z.read(charts[1])

    city = seeded / "city.xlsx"
    assert run(["--city", "佛山市", "--month", "2026-11", "--format", "xlsx", "-o", str(city)], seeded).returncode == 0
    assert openpyxl.load_workbook(city).sheetnames == ["汇总", "石湾镇社工站"]


def test_problems_are_explained(seeded: Path) -> None:
    for args, message in [(["--station", "无此站", "--month", "2026-11"], "找不到社工站：无此站"),
                          (["--city", "中山市", "--month", "2026-11"], "中山市还没有登记社工站"),
                          (["--province", "--month", "2026-13"], "月份应为 YYYY-MM"),
                          (["--province", "--month", "2026-11", "--format", "xlsx"], "需要用 -o 指定输出文件")]:
        result = run(args, seeded)
        assert result.returncode == 1 and message in result.stderr, result.stderr
