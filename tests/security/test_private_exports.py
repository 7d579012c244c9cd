"""Issue 13, point 9: visit exports and the file of rejected import rows hold case data, so they are readable by
their owner only."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import pytest

from bot.config import Settings
from handlers.casework.admin import add_station, export_visits, import_cases


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_exports_are_private_even_over_an_existing_file(tmp_path: Path, fmt: str) -> None:
    old_umask = os.umask(0o022)  # the usual default, under which new files are world-readable
    try:
        settings = Settings(data_dir=tmp_path / "data", database_url="", _env_file=None)
        fresh, existing = tmp_path / f"走访.{fmt}", tmp_path / f"旧的走访.{fmt}"
        existing.write_bytes(b"")
        existing.chmod(0o644)
        for out in (fresh, existing):
            assert await export_visits(settings, None, None, None, fmt, out) == 0
            assert stat.S_IMODE(out.stat().st_mode) == 0o600, out.name
            assert out.stat().st_size > 0  # the header row at least was written
    finally:
        os.umask(old_umask)


async def test_the_file_of_rejected_import_rows_is_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        settings = Settings(data_dir=tmp_path / "data", database_url="", _env_file=None)
        await add_station(settings, "石湾镇社工站")
        roster = tmp_path / "名单.csv"
        with roster.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(
                [
                    ["姓名", "类别", "村居", "住址", "电话", "身份证号", "风险等级", "负责社工"],
                    ["张桂英", "低保", "东村", "东村12号", "13812345678", "440605194503120000", "中", ""],
                ]
            )
        rejected = tmp_path / "有错误的行.xlsx"
        assert await import_cases(settings, roster, "石湾镇社工站", errors_out=rejected) != 0
        assert stat.S_IMODE(rejected.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)
