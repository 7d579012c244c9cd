"""`shegong station|invite|workers|cases|visits`: casework administration on the bot's own database.

Each function returns the exit code; problems the operator must fix end with SystemExit and a Chinese
message (on standard error). Nothing here prints or logs an ID or phone number, except the export itself.
"""

from __future__ import annotations

import getpass
import os
import sys
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tqdm import tqdm

from bot.store.connect import open_store
from bot.casework_files import SUPPORTED, ImportFileError, count_lines, parse_case_file, write_csv, write_xlsx
from bot.config import Settings
from bot.crypto import SecretKeyError, UnavailableSecrets, new_invite_code
from bot.store import StationRecord, Store

INVITE_DAYS = 7
ROLE_NAMES = {"worker": "社工", "lead": "站长", "admin": "管理员", "supervisor": "督导"}


@asynccontextmanager
async def _store(settings: Settings, needs_key: bool = False) -> AsyncIterator[Store]:
    store = await open_store(settings)
    try:
        if needs_key and isinstance(store.secrets, UnavailableSecrets):
            raise SystemExit(store.secrets.reason)
        yield store
    except SecretKeyError as exc:  # e.g. a key that differs from the one the data was written with
        raise SystemExit(str(exc)) from exc
    finally:
        await store.close()


async def _station(store: Store, name: str) -> StationRecord:
    station = await store.station_by_name(name)
    if station is None:
        raise SystemExit(f"找不到社工站：{name}（用 shegong station add 添加，shegong station list 查看）")
    return station


def _operator() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # containers often run as a uid without a passwd entry
        return f"cli:uid{os.getuid()}"


# -- stations ---------------------------------------------------------------------------------
async def add_station(settings: Settings, name: str, county: str = "", city: str = "", district: str = "",
                      town: str = "", **details: str | float | None) -> int:
    """`details`: address, phone, hours, latitude, longitude (the directory residents see). `county` is the
    old name of `district`."""
    _check_location(details)
    if county:
        print("提示：--county 已改名为 --district（县/区），旧写法仍可使用。", file=sys.stderr)
    async with _store(settings) as store:
        try:
            station = await store.add_station(name, city=city, district=district or county, town=town)
            if any(v is not None for v in details.values()):
                await store.set_station_details(station.id, **details)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
    where = "".join(p for p in (station.city, station.district, station.town) if p)
    print(f"已添加社工站：{station.name}" + (f"（{where}）" if where else ""))
    return 0


def _check_location(details: dict[str, str | float | None]) -> None:
    if (details.get("latitude") is None) != (details.get("longitude") is None):
        raise SystemExit("纬度和经度要一起填写：--lat 23.0215 --lon 113.1214")


async def set_station(settings: Settings, name: str, **details: str | float | None) -> int:
    """`shegong station set NAME --phone …`: change only the given directory details."""
    if all(v is None for v in details.values()):
        raise SystemExit("请至少指定一项：--address --phone --hours --lat --lon")
    _check_location(details)
    async with _store(settings) as store:
        station = await _station(store, name)
        try:
            info = await store.set_station_details(station.id, **details)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
    assert info is not None
    where = f"{info.latitude},{info.longitude}" if info.latitude is not None else "未登记"
    print(f"已更新社工站：{info.name}\n地址：{info.address or '未登记'}\n电话：{info.phone or '未登记'}\n"
          f"开放时间：{info.hours or '未登记'}\n位置：{where}")
    return 0


async def list_stations(settings: Settings) -> int:
    async with _store(settings) as store:
        stations = await store.list_stations()
    for s in stations:
        print(f"{s.name}  {s.city or '-'} {s.district or '-'} {s.town or '-'}")
    print(f"共 {len(stations)} 个社工站")
    return 0


# -- workers ----------------------------------------------------------------------------------
async def invite(settings: Settings, station_name: str, name: str, role: str | None = None) -> int:
    """Register the worker (or find them again) and print a new one-time binding code."""
    async with _store(settings, needs_key=True) as store:
        station = await _station(store, station_name)
        code = new_invite_code()
        expires = store.clock.now() + timedelta(days=INVITE_DAYS)
        try:
            worker = await store.add_worker_with_invite(station.id, name, role or "", store.secrets.invite_hash(code),
                                                        expires)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
    local = expires.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
    print(f"已登记：{worker.name}（{ROLE_NAMES.get(worker.role, worker.role)}，{worker.station_name}）")
    print(f"绑定码：{code}（{INVITE_DAYS} 天内有效，至 {local}；只能使用一次，之前发的码作废）")
    print(f"请在任意渠道发送：绑定 {code}")
    print(f"（Telegram 也可以发送 /bind {code}）")
    return 0


async def list_workers(settings: Settings, station_name: str | None = None) -> int:
    async with _store(settings) as store:
        station = await _station(store, station_name) if station_name else None
        workers = await store.list_workers(station.id if station else None)
    for worker, channels in workers:
        print(f"{worker.name}  {ROLE_NAMES.get(worker.role, worker.role)}  {worker.station_name}  "
              f"{'、'.join(channels) if channels else '未绑定'}")
    bound = sum(1 for _, channels in workers if channels)
    print(f"共 {len(workers)} 人，已绑定 {bound} 人")
    return 0


# -- cases ------------------------------------------------------------------------------------
async def import_cases(settings: Settings, path: Path, station_name: str) -> int:
    """Validate the whole file; import only if every row is good (all or nothing)."""
    if not path.is_file():
        raise SystemExit(f"找不到文件：{path}")
    if path.suffix.lower() not in SUPPORTED:
        raise SystemExit(f"不支持的文件类型：{path.suffix or path.name}（请用 .csv 或 .xlsx；.xls 请在 Excel 中另存为 .xlsx）")
    async with _store(settings, needs_key=True) as store:
        station = await _station(store, station_name)
        names = [w.name for w, _ in await store.list_workers(station.id)]
        today = datetime.now(ZoneInfo(settings.timezone)).date()
        with tqdm(total=count_lines(path), desc="校验", unit="行", file=sys.stderr) as bar:
            try:
                parsed = parse_case_file(path, names, today, progress=bar.update)
            except ImportFileError as exc:
                raise SystemExit(str(exc)) from exc
        if parsed.errors:
            for line, reason in parsed.errors:
                print(f"第 {line} 行：{reason}", file=sys.stderr)
            print(f"共 {len(parsed.errors)} 行有错误，未导入任何数据。请改正后重新导入。", file=sys.stderr)
            return 1
        with tqdm(total=len(parsed.rows), desc="导入", unit="行", file=sys.stderr) as bar:
            counts = await store.import_cases(station.id, parsed.rows, progress=bar.update)
        await store.audit(_operator(), "cases.import", target=f"station:{station.id}",
                          detail={"file": path.name, **counts})
    print(f"导入完成（{station.name}）：新增 {counts['added']} 人，更新 {counts['updated']} 人，"
          f"未变 {counts['unchanged']} 人。")
    return 0


# -- visits -----------------------------------------------------------------------------------
def _day(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise SystemExit(f"{option} 日期格式应为 YYYY-MM-DD，例如 2026-11-01（收到：{value}）") from exc


async def export_visits(settings: Settings, station_name: str | None, date_from: str | None, date_to: str | None,
                        fmt: str, output: Path | None) -> int:
    """One row per visit, dates inclusive in local time; csv to standard output when no file is given."""
    first, last = _day(date_from, "--from"), _day(date_to, "--to")
    if first and last and first > last:
        raise SystemExit("--from 不能晚于 --to")
    if fmt == "xlsx" and output is None:
        raise SystemExit("xlsx 格式需要用 -o 指定输出文件，例如：-o 走访记录.xlsx")
    if output is not None and not output.parent.is_dir():
        raise SystemExit(f"输出目录不存在：{output.parent}")
    tz = ZoneInfo(settings.timezone)
    start = datetime.combine(first, time.min, tz) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, tz) if last else None
    async with _store(settings, needs_key=True) as store:
        station = await _station(store, station_name) if station_name else None
        rows = await store.export_visits(station.id if station else None, start, end)
        await store.audit(_operator(), "visits.export", target=f"station:{station.id}" if station else "all",
                          detail={"rows": len(rows), "from": date_from or "", "to": date_to or "", "format": fmt,
                                  "file": output.name if output else "-"})
    if output is None:
        write_csv(rows, sys.stdout, lineterminator="\n")
    elif fmt == "csv":
        with output.open("w", encoding="utf-8-sig", newline="") as f:  # the BOM makes Excel read UTF-8
            write_csv(rows, f)
    else:
        write_xlsx(rows, output)
    print(f"已导出 {len(rows)} 条走访记录" + (f"到 {output}" if output else ""), file=sys.stderr)
    return 0
