"""`shegong station|invite|workers|cases|visits`: casework administration on the bot's own database.

Each function returns the exit code; problems the operator must fix end with SystemExit and a Chinese
message (on standard error). Nothing here prints or logs an ID or phone number, except the export itself.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tqdm import tqdm

from bot.config import Settings, make_private_file
from bot.crypto import SecretKeyError, UnavailableSecrets, new_invite_code
from bot.store import CaseRecord, StationRecord, Store
from bot.store.casework_records import CLOSE_REASONS
from bot.store.connect import open_store
from handlers.casework.files import (
    SUPPORTED,
    ImportFileError,
    ParsedFile,
    count_lines,
    parse_case_file,
    write_csv,
    write_errors_xlsx,
    write_xlsx,
)
from handlers.casework.store import CaseworkStore
from handlers.casework.tables import HISTORY_FIELDS, TableError, current_categories
from handlers.common.area import LEVEL_NAMES, AreaError, parse_scope
from handlers.directory.store import DirectoryStore
from handlers.workers.store import WorkersStore

INVITE_DAYS = 7
ROLE_NAMES = {"worker": "社工", "lead": "站长", "admin": "管理员", "supervisor": "督导"}
STATUS_NAMES = {"active": "在职", "disabled": "已停用"}


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
    station = await WorkersStore.of(store).station_by_name(name)
    if station is None:
        raise SystemExit(f"找不到社工站：{name}（用 shegong station add 添加，shegong station list 查看）")
    return station


def _operator() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # containers often run as a uid without a passwd entry
        return f"cli:uid{os.getuid()}"


async def invite_supervisor(settings: Settings, scope: str, name: str) -> int:
    try:
        area = parse_scope(scope)
    except AreaError as exc:
        raise SystemExit(str(exc)) from exc
    if area.level == "station":
        raise SystemExit("督导的范围是县（区）、市或全省；社工站的站长请用 --station NAME --role lead")
    store = await open_store(settings)
    try:
        if isinstance(store.secrets, UnavailableSecrets):
            raise SystemExit(store.secrets.reason)
        stations = [s for s in await WorkersStore.of(store).list_stations() if area.contains(s)]
        code = new_invite_code()
        expires = store.clock.now() + timedelta(days=INVITE_DAYS)
        try:
            worker = await WorkersStore.of(store).add_supervisor_with_invite(
                area, name, store.secrets.invite_hash(code), expires
            )
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
    finally:
        await store.close()
    local = expires.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
    print(f"已登记：{worker.name}（督导，{LEVEL_NAMES[area.level]}：{area.label}，目前 {len(stations)} 个社工站）")
    if not stations:
        print("提示：这个范围里还没有社工站；用 shegong station add NAME --city … --district … --town … 添加。")
    print(f"绑定码：{code}（{INVITE_DAYS} 天内有效，至 {local}；只能使用一次，之前发的码作废）")
    print(f"请在任意渠道发送：绑定 {code}")
    return 0


# -- stations ---------------------------------------------------------------------------------
async def add_station(
    settings: Settings,
    name: str,
    county: str = "",
    city: str = "",
    district: str = "",
    town: str = "",
    **details: str | float | None,
) -> int:
    """`details`: address, phone, hours, latitude, longitude (the directory residents see). `county` is the
    old name of `district`."""
    _check_location(details)
    if county:
        print("提示：--county 已改名为 --district（县/区），旧写法仍可使用。", file=sys.stderr)
    async with _store(settings) as store:
        try:
            station = await WorkersStore.of(store).add_station(name, city=city, district=district or county, town=town)
            if any(v is not None for v in details.values()):
                await DirectoryStore.of(store).set_station_details(station.id, **details)
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
            info = await DirectoryStore.of(store).set_station_details(station.id, **details)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
    assert info is not None
    where = f"{info.latitude},{info.longitude}" if info.latitude is not None else "未登记"
    print(
        f"已更新社工站：{info.name}\n地址：{info.address or '未登记'}\n电话：{info.phone or '未登记'}\n"
        f"开放时间：{info.hours or '未登记'}\n位置：{where}"
    )
    return 0


async def list_stations(settings: Settings) -> int:
    async with _store(settings) as store:
        stations = await WorkersStore.of(store).list_stations()
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
            worker = await WorkersStore.of(store).add_worker_with_invite(
                station.id, name, role or "", store.secrets.invite_hash(code), expires
            )
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
    local = expires.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
    print(f"已登记：{worker.name}（{ROLE_NAMES.get(worker.role, worker.role)}，{worker.station_name}）")
    print(f"绑定码：{code}（{INVITE_DAYS} 天内有效，至 {local}；只能使用一次，之前发的码作废）")
    print(f"请在任意渠道发送：绑定 {code}")
    print(f"（Telegram 也可以发送 /bind {code}）")
    return 0


async def list_workers(settings: Settings, station_name: str | None = None, as_json: bool = False) -> int:
    """Every worker with role, status (在职/已停用) and bound channels; `as_json`: one JSON document."""
    async with _store(settings) as store:
        station = await _station(store, station_name) if station_name else None
        workers = await WorkersStore.of(store).list_workers(station.id if station else None)
        statuses = await WorkersStore.of(store).worker_statuses(station.id if station else None)
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": w.name,
                        "role": w.role,
                        "station": w.station_name,
                        "status": statuses.get(w.id, "active"),
                        "channels": channels,
                    }
                    for w, channels in workers
                ],
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0
    for worker, channels in workers:
        status = STATUS_NAMES.get(statuses.get(worker.id, "active"), "")
        print(
            f"{worker.name}  {ROLE_NAMES.get(worker.role, worker.role)}  {status}  {worker.station_name}  "
            f"{'、'.join(channels) if channels else '未绑定'}"
        )
    bound = sum(1 for _, channels in workers if channels)
    disabled = sum(1 for w, _ in workers if statuses.get(w.id) == "disabled")
    print(f"共 {len(workers)} 人，已绑定 {bound} 人" + (f"，已停用 {disabled} 人" if disabled else ""))
    return 0


async def disable_worker(settings: Settings, station_name: str, name: str, transfer_to: str | None) -> int:
    """A worker who left: every chat identity unbound at once, their open cases handed over, records kept."""
    async with _store(settings) as store:
        station = await _station(store, station_name)
        try:
            done = await WorkersStore.of(store).disable_worker(station.id, name, transfer_to)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
        await store.audit(
            _operator(),
            "worker.disable",
            target=f"station:{station.id}",
            detail={"worker": name, "identities": done["identities"], "cases": done["cases"], "to": done["to"]},
        )
    print(
        f"已停用：{name}（{station.name}）。解除绑定的聊天账号 {done['identities']} 个，立即失去查看服务对象的权限；"
        "走访记录保留。"
    )
    if done["to"]:
        print(f"在册服务对象 {done['cases']} 位已转交给 {done['to']}。")
    elif done["cases"]:
        print(
            f"在册服务对象 {done['cases']} 位现在没有负责社工（逾期会通知站长），请用 "
            f"shegong cases reassign 姓名 --station {station.name} --to 社工 分配。"
        )
    return 0


async def enable_worker(settings: Settings, station_name: str, name: str) -> int:
    async with _store(settings) as store:
        station = await _station(store, station_name)
        try:
            await WorkersStore.of(store).enable_worker(station.id, name)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
        await store.audit(_operator(), "worker.enable", target=f"station:{station.id}", detail={"worker": name})
    print(
        f"已恢复：{name}（{station.name}）。请用 shegong invite --station {station.name} --name {name} "
        "生成新的绑定码，之前的聊天账号需要重新绑定。"
    )
    return 0


# -- cases ------------------------------------------------------------------------------------
async def import_cases(
    settings: Settings,
    path: Path,
    station_name: str,
    sheet: str | None = None,
    dry_run: bool = False,
    errors_out: Path | None = None,
    sync: bool = False,
    close_missing: bool = False,
    reason: str = "其他",
    reopen: bool = False,
) -> int:
    """Validate the whole file; import only if every row is good (all or nothing). Says which sheet, header
    row and columns were read and which were left out. `dry_run`: report what would change, write nothing.
    `errors_out`: an .xlsx of the rejected rows with a reason column. `sync`: the file is the whole roster:
    list the open cases it no longer has, and close them (with `reason`) only when `close_missing`. Closed
    cases the file lists are always named (a closed case must not come back unnoticed, nor stay closed
    silently); `reopen` opens them again."""
    if close_missing and not sync:
        raise SystemExit("--close-missing 要和 --sync 一起用：先用 --sync 看看哪些人不在新名单里")
    if not path.is_file():
        raise SystemExit(f"找不到文件：{path}")
    if path.suffix.lower() not in SUPPORTED:
        raise SystemExit(
            f"不支持的文件类型：{path.suffix or path.name}（请用 .csv 或 .xlsx；.xls 请在 Excel 中另存为 .xlsx）"
        )
    if errors_out is not None:
        if errors_out.suffix.lower() != ".xlsx":
            raise SystemExit(f"--errors-out 应为 .xlsx 文件，例如 --errors-out 有错误的行.xlsx（收到：{errors_out}）")
        if not errors_out.parent.is_dir():
            raise SystemExit(f"输出目录不存在：{errors_out.parent}")
        if errors_out.resolve() == path.resolve():
            raise SystemExit("--errors-out 不能是要导入的文件本身")
    async with _store(settings, needs_key=True) as store:
        station = await _station(store, station_name)
        names = [w.name for w, _ in await WorkersStore.of(store).list_workers(station.id)]
        today = datetime.now(ZoneInfo(settings.timezone)).date()
        with tqdm(total=count_lines(path), desc="校验", unit="行", file=sys.stderr) as bar:
            try:
                parsed = parse_case_file(path, names, today, progress=bar.update, sheet=sheet)
            except (ImportFileError, TableError) as exc:
                raise SystemExit(str(exc)) from exc
        for line in describe_parsed(path, parsed):
            print(line)
        if dry_run:
            counts = await CaseworkStore.of(store).import_cases(station.id, parsed.rows, dry_run=True)
            print(
                f"试运行（没有写入数据库）：{len(parsed.rows)} 行可以导入，将新增 {counts['added']} 人，"
                f"更新 {counts['updated']} 人，未变 {counts['unchanged']} 人。"
            )
        if parsed.errors:
            _report_errors(parsed, errors_out)
            if not dry_run:
                await store.audit(
                    _operator(),
                    "cases.import.rejected",
                    target=f"station:{station.id}",
                    detail={"file": path.name, "rows": len(parsed.rows), "errors": len(parsed.errors)},
                )
            return 1
        if errors_out is not None:
            print(f"没有错误行，未生成 {errors_out}")
        missing = await _missing(store, station, parsed, sync)
        back = await _closed_listed(store, station, parsed)
        if dry_run:
            if missing and close_missing:
                print(f"试运行：将结案以上 {len(missing)} 人（原因：{reason}）。")
            if back:
                print(f"试运行：将恢复在册以上 {len(back)} 人。" if reopen else REOPEN_HINT)
            return 0
        with tqdm(total=len(parsed.rows), desc="导入", unit="行", file=sys.stderr) as bar:
            counts = await CaseworkStore.of(store).import_cases(station.id, parsed.rows, progress=bar.update)
        await store.audit(
            _operator(),
            "cases.import",
            target=f"station:{station.id}",
            detail={"file": path.name, "sheet": parsed.sheet, **counts},
        )
        print(
            f"导入完成（{station.name}）：新增 {counts['added']} 人，更新 {counts['updated']} 人，"
            f"未变 {counts['unchanged']} 人。"
        )
        if missing and close_missing:
            closed = await CaseworkStore.of(store).close_cases(station.id, [c.id for c in missing], reason)
            await store.audit(
                _operator(),
                "cases.close",
                target=f"station:{station.id}",
                detail={"file": path.name, "reason": reason, "cases": closed},
            )
            print(f"已结案 {len(closed)} 人（原因：{reason}），走访记录保留。")
        elif missing:
            print(
                "这些人没有结案。确认都已不在服务范围后，加 --close-missing 重新运行（可用 --reason 写明原因），"
                "或用 shegong cases close 逐个结案。"
            )
        if back and reopen:
            reopened = await CaseworkStore.of(store).reopen_cases(station.id, [c.id for c in back])
            await store.audit(
                _operator(),
                "cases.reopen",
                target=f"station:{station.id}",
                detail={"file": path.name, "cases": reopened},
            )
            print(f"已恢复在册 {len(reopened)} 人，提醒照常计算。")
        elif back:
            print(REOPEN_HINT)
    return 0


REOPEN_HINT = (
    "这些人保持结案状态（资料按新名单更新，状态不变）。确认需要恢复服务的，加 --reopen 再运行一次，"
    "把他们恢复在册。"
)


async def _closed_listed(store: Store, station: StationRecord, parsed: ParsedFile) -> list[CaseRecord]:
    """Closed cases the file lists again, printed (masked) for the operator."""
    ids = set(await CaseworkStore.of(store).closed_cases_listed(station.id, [r.id_number for r in parsed.rows]))
    if not ids:
        return []
    cases = [c for c in await CaseworkStore.of(store).station_cases(station.id, "closed") if c.id in ids]
    print(f"已结案但出现在新名单：{len(cases)} 人")
    for c in cases:
        when = f"{c.closed_at.astimezone(store.tz):%Y-%m-%d} " if c.closed_at else ""
        closed = f"{when}结案（{c.closed_reason or '其他'}）"
        print(f"  #{c.id} {c.name}｜{c.village or '未填村居'}｜{c.id_masked}｜{closed}")
    return cases


async def _missing(store: Store, station: StationRecord, parsed: ParsedFile, sync: bool) -> list[CaseRecord]:
    """With --sync: the station's open cases the file does not list, printed (masked) for the operator."""
    if not sync:
        return []
    ids = await CaseworkStore.of(store).open_cases_missing(station.id, [r.id_number for r in parsed.rows])
    cases = [c for c in await CaseworkStore.of(store).station_cases(station.id) if c.id in set(ids)]
    if not cases:
        print("名单同步：本站在册的服务对象都在新名单里。")
        return []
    print(f"名单同步：本站有 {len(cases)} 位在册的服务对象不在新名单里：")
    for c in cases:
        print(f"  #{c.id} {c.name}｜{c.village or '未填村居'}｜{c.id_masked}｜负责社工：{c.worker_name or '未分配'}")
    return cases


async def _one_case(store: Store, station: StationRecord, ref: str) -> CaseRecord:
    """The open case a NAME or ID (#12 or 12) names at the station; SystemExit listing them when several."""
    text = ref.strip().lstrip("#")
    if text.isdigit():
        found = await CaseworkStore.of(store).case_by_id(int(text), station.id)
        if found is None:
            raise SystemExit(f"{station.name} 没有编号为 {text} 的在册服务对象（shegong cases list 查看）")
        return found
    same = [c for c in await CaseworkStore.of(store).find_cases(station.id, text) if c.name == text]
    if not same:
        raise SystemExit(f"{station.name} 没有在册的服务对象：{text}（已结案的不在其中；shegong cases list 查看）")
    if len(same) > 1:
        lines = "\n".join(f"  #{c.id} {c.name}｜{c.village or '未填村居'}｜{c.id_masked}" for c in same)
        raise SystemExit(f"{station.name} 有 {len(same)} 位 {text}，请用编号指定：\n{lines}")
    return same[0]


async def close_case(settings: Settings, station_name: str, ref: str, reason: str, as_json: bool = False) -> int:
    async with _store(settings, needs_key=True) as store:
        station = await _station(store, station_name)
        case = await _one_case(store, station, ref)
        closed = await CaseworkStore.of(store).close_cases(station.id, [case.id], reason)
        await store.audit(
            _operator(), "case.close", target=f"case:{case.id}", detail={"case_id": case.id, "reason": reason}
        )
    if as_json:
        print(
            json.dumps(
                {"id": case.id, "name": case.name, "status": "closed" if closed else case.status, "reason": reason},
                ensure_ascii=False,
            )
        )
    else:
        print(
            f"已结案：{case.name}（#{case.id}，{case.village or '未填村居'}），原因：{reason}。不再提醒，走访记录保留。"
        )
    return 0


async def reassign_case(settings: Settings, station_name: str, ref: str, to: str, as_json: bool = False) -> int:
    async with _store(settings, needs_key=True) as store:
        station = await _station(store, station_name)
        case = await _one_case(store, station, ref)
        workers = {w.name: w for w, _ in await WorkersStore.of(store).list_workers(station.id)}
        statuses = await WorkersStore.of(store).worker_statuses(station.id)
        target = workers.get(to.strip())
        if target is None or statuses.get(target.id) != "active":
            active = "、".join(n for n, w in workers.items() if statuses.get(w.id) == "active")
            raise SystemExit(f"{station.name} 没有在职的社工：{to}（在职：{active or '无'}）")
        try:
            before = await CaseworkStore.of(store).reassign_case(station.id, case.id, target.id)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
        await store.audit(
            _operator(),
            "case.reassign",
            target=f"case:{case.id}",
            detail={"case_id": case.id, "from": before, "to": target.id},
        )
    if as_json:
        print(
            json.dumps(
                {"id": case.id, "name": case.name, "from": case.worker_name, "to": target.name}, ensure_ascii=False
            )
        )
    else:
        print(f"已转交：{case.name}（#{case.id}）由 {case.worker_name or '未分配'} 改为 {target.name} 负责。")
    return 0


async def list_cases(settings: Settings, station_name: str, status: str, as_json: bool = False) -> int:
    """The station's cases (numbers masked); `as_json`: every field of every case."""
    async with _store(settings, needs_key=True) as store:
        station = await _station(store, station_name)
        cases = await CaseworkStore.of(store).station_cases(station.id, None if status == "all" else status)
        await store.audit(
            _operator(),
            "case.read",
            target=f"station:{station.id}:list",
            detail={"count": len(cases), "status": status},
        )
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "name": c.name,
                        "categories": list(c.categories),
                        "village": c.village,
                        "address": c.address,
                        "phone": c.phone_masked,
                        "id_number": c.id_masked,
                        "risk_level": c.risk_level,
                        "worker": c.worker_name,
                        "status": c.status,
                        "closed_reason": c.closed_reason,
                        "closed_at": c.closed_at.isoformat() if c.closed_at else None,
                        "last_visit_at": c.last_visit_at.isoformat() if c.last_visit_at else None,
                    }
                    for c in cases
                ],
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0
    for c in cases:
        print(
            f"#{c.id} {c.name}｜{c.village or '未填村居'}｜{'、'.join(c.categories)}｜风险{c.risk_level}｜"
            f"{c.worker_name or '未分配'}｜{c.status_label}"
        )
    print(f"共 {len(cases)} 位（{station.name}）")
    return 0


def describe_parsed(path: Path, parsed: ParsedFile) -> list[str]:
    """How the file was read: sheet, header row, columns used and left out, rows skipped, values changed."""
    where = f"{path.name} 的工作表“{parsed.sheet}”" if parsed.sheet else path.name
    if parsed.other_sheets:
        where += f"（未读取的工作表：{'、'.join(parsed.other_sheets)}）"
    lines = [f"读取：{where}，表头在第 {parsed.header_line} 行"]
    used = []
    for name, sources in parsed.columns.items():
        if name in HISTORY_FIELDS:
            continue
        text = "、".join(sources) + ("（前一列为空时用后一列）" if len(sources) > 1 else "")
        used.append(name if sources == [name] else f"{name}←{text}")
    lines.append("导入的列：" + "；".join(used))
    if parsed.ignored:
        lines.append("忽略的列：" + "、".join(parsed.ignored))
    if parsed.footers:
        lines.append(f"跳过表尾 {len(parsed.footers)} 行：" + "、".join(f"第 {n} 行（{w}）" for n, w in parsed.footers))
    if parsed.merged:
        lines.append(f"合并单元格已拆开并填上原值：{parsed.merged} 处")
    if parsed.changes:
        lines.append("已整理：" + "；".join(f"{what} {n} 行" for what, n in parsed.changes.items()))
    history = [f for f in HISTORY_FIELDS if f in parsed.columns]
    if history:
        lines.append(
            f"{'、'.join(history)}：{parsed.history_rows} 行有日期，记入走访历史，提醒从这些日期起算"
            "（上次走访日期算作一次走访，上次入户日期算作入户，上次评估日期算作评估）"
        )
    return lines


def _report_errors(parsed: ParsedFile, errors_out: Path | None) -> None:
    for line, reason in parsed.errors:
        print(f"第 {line} 行：{reason}", file=sys.stderr)
    if parsed.unknown_categories:
        table = current_categories()
        print(f"可用类别：{'、'.join(table.names)}（其他写法见 {table.path}）", file=sys.stderr)
    if errors_out is not None:
        make_private_file(errors_out)  # the rejected rows hold names, phones and ID numbers
        write_errors_xlsx(parsed, errors_out)
        print(
            f"有错误的 {len(parsed.errors)} 行已写到 {errors_out}（最后两列是错误原因和原行号），"
            "在 Excel 里改好后可以直接导入这个文件",
            file=sys.stderr,
        )
    print(f"共 {len(parsed.errors)} 行有错误，未导入任何数据。请改正后重新导入。", file=sys.stderr)


# -- visits -----------------------------------------------------------------------------------
def _day(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise SystemExit(f"{option} 日期格式应为 YYYY-MM-DD，例如 2026-11-01（收到：{value}）") from exc


async def export_visits(
    settings: Settings,
    station_name: str | None,
    date_from: str | None,
    date_to: str | None,
    fmt: str,
    output: Path | None,
) -> int:
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
        rows = await CaseworkStore.of(store).export_visits(station.id if station else None, start, end)
        await store.audit(
            _operator(),
            "visits.export",
            target=f"station:{station.id}" if station else "all",
            detail={
                "rows": len(rows),
                "from": date_from or "",
                "to": date_to or "",
                "format": fmt,
                "file": output.name if output else "-",
            },
        )
    if output is not None:
        make_private_file(output)  # case data: readable by its owner only, before a byte is written
    if output is None:
        write_csv(rows, sys.stdout, lineterminator="\n")
    elif fmt == "csv":
        with output.open("w", encoding="utf-8-sig", newline="") as f:  # the BOM makes Excel read UTF-8
            write_csv(rows, f)
    else:
        write_xlsx(rows, output)
    print(f"已导出 {len(rows)} 条走访记录" + (f"到 {output}" if output else ""), file=sys.stderr)
    return 0


# -- shegong station | invite | workers | cases | visits --------------------------------------
async def _station_add(args: argparse.Namespace) -> int:
    return await add_station(
        Settings(),
        args.name,
        county=args.county,
        city=args.city,
        district=args.district,
        town=args.town,
        **_station_details(args),
    )


def _station_details(args: argparse.Namespace) -> dict[str, str | float | None]:
    return {
        "address": args.address,
        "phone": args.phone,
        "hours": args.hours,
        "latitude": args.lat,
        "longitude": args.lon,
    }


async def _station_set(args: argparse.Namespace) -> int:
    return await set_station(Settings(), args.name, **_station_details(args))


async def _station_list(args: argparse.Namespace) -> int:
    return await list_stations(Settings())


async def _invite(args: argparse.Namespace) -> int:
    if args.role == "supervisor" or args.scope:
        if args.station or args.role not in (None, "supervisor"):
            raise SystemExit("--scope 只用于督导（--role supervisor），不能与 --station 一起使用")
        if not args.scope:
            raise SystemExit("督导需要指定范围：--scope district:南海区 | city:东莞市 | province")
        return await invite_supervisor(Settings(), args.scope, args.name)
    if not args.station:
        raise SystemExit("请用 --station 指定社工站（督导用 --scope）")
    return await invite(Settings(), args.station, args.name, args.role)


async def _workers_list(args: argparse.Namespace) -> int:
    return await list_workers(Settings(), args.station, as_json=args.json)


async def _workers_disable(args: argparse.Namespace) -> int:
    return await disable_worker(Settings(), args.station, args.name, args.transfer_to)


async def _workers_enable(args: argparse.Namespace) -> int:
    return await enable_worker(Settings(), args.station, args.name)


async def _cases_import(args: argparse.Namespace) -> int:
    return await import_cases(
        Settings(),
        Path(args.file),
        args.station,
        sheet=args.sheet,
        dry_run=args.dry_run,
        errors_out=Path(args.errors_out) if args.errors_out else None,
        sync=args.sync,
        close_missing=args.close_missing,
        reason=args.reason,
        reopen=args.reopen,
    )


async def _cases_close(args: argparse.Namespace) -> int:
    return await close_case(Settings(), args.station, args.case, args.reason, as_json=args.json)


async def _cases_reassign(args: argparse.Namespace) -> int:
    return await reassign_case(Settings(), args.station, args.case, args.to, as_json=args.json)


async def _cases_list(args: argparse.Namespace) -> int:
    return await list_cases(Settings(), args.station, args.status, as_json=args.json)


async def _visits_export(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else None
    return await export_visits(Settings(), args.station, args.date_from, args.date_to, args.format, output)


def _station_detail_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", help="地址，居民问“社工站在哪”时显示")
    p.add_argument("--phone", help="联系电话")
    p.add_argument("--hours", help="开放时间，如 “周一至周五 8:30-12:00 14:00-17:30”")
    p.add_argument("--lat", type=float, metavar="纬度", help="纬度（如 23.0215），与 --lon 一起用于“最近的社工站”")
    p.add_argument("--lon", type=float, metavar="经度", help="经度（如 113.1214）")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """`shegong station | invite | workers | cases | visits`."""
    station = sub.add_parser("station", help="社工站管理").add_subparsers(
        dest="station_command", required=True, metavar="ACTION"
    )
    p = station.add_parser("add", help="添加镇（街）社工站")
    p.add_argument("name", metavar="NAME", help="社工站名称，如 石牌街社工站")
    p.add_argument("--city", default="", help="所属地级市，如 东莞市")
    p.add_argument("--district", default="", help="所属县（区），如 天河区；东莞、中山等镇街直属于市的不填")
    p.add_argument("--town", default="", help="所在镇（街），如 石龙镇")
    p.add_argument("--county", default="", help="旧写法，同 --district（已改名）")
    _station_detail_options(p)
    p.set_defaults(run=_station_add)
    p = station.add_parser("set", help="修改社工站的地址、电话、开放时间、位置（只改指定的项）")
    p.add_argument("name", metavar="NAME", help="社工站名称")
    _station_detail_options(p)
    p.set_defaults(run=_station_set)
    p = station.add_parser("list", help="列出社工站")
    p.set_defaults(run=_station_list)

    p = sub.add_parser("invite", help="登记社工并生成一次性绑定码（7 天有效）")
    p.add_argument("--station", metavar="NAME", help="社工站名称")
    p.add_argument("--scope", metavar="范围", help="督导的范围：district:南海区、city:东莞市 或 province")
    p.add_argument("--name", required=True, metavar="姓名", help="社工姓名")
    p.add_argument(
        "--role",
        choices=("worker", "lead", "supervisor"),
        default=None,
        help="worker=社工，lead=站长/副站长，supervisor=区/市/省督导（配合 --scope）；"
        "不填时新登记为 worker，已登记的保持原角色",
    )
    p.set_defaults(run=_invite)

    workers = sub.add_parser("workers", help="社工").add_subparsers(
        dest="workers_command", required=True, metavar="ACTION"
    )
    p = workers.add_parser("list", help="列出社工、在职或已停用、已绑定的渠道")
    p.add_argument("--station", metavar="NAME", help="只看这个社工站")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(run=_workers_list)
    p = workers.add_parser("disable", help="停用离职的社工：立即解除所有聊天账号的绑定，转交其服务对象，保留记录")
    p.add_argument("--station", required=True, metavar="NAME", help="社工站名称")
    p.add_argument("--name", required=True, metavar="姓名", help="社工姓名")
    p.add_argument("--transfer-to", metavar="姓名", help="接手其在册服务对象的社工（不填则变为未分配）")
    p.set_defaults(run=_workers_disable)
    p = workers.add_parser("enable", help="恢复停用的社工（之后用 shegong invite 生成新绑定码）")
    p.add_argument("--station", required=True, metavar="NAME", help="社工站名称")
    p.add_argument("--name", required=True, metavar="姓名", help="社工姓名")
    p.set_defaults(run=_workers_enable)

    cases = sub.add_parser("cases", help="服务对象").add_subparsers(
        dest="cases_command", required=True, metavar="ACTION"
    )
    p = cases.add_parser("import", help="从 .csv 或 .xlsx 导入服务对象（有任何错误行则全部不导入）")
    p.add_argument(
        "file",
        metavar="FILE",
        help="列：姓名、类别、村居、住址、电话、身份证号、风险等级、负责社工"
        "（其他列名见 handlers/casework/data/roster_headers.tsv）",
    )
    p.add_argument("--station", required=True, metavar="NAME", help="社工站名称")
    p.add_argument("--sheet", metavar="NAME", help="要读取的工作表（默认：第一个认得出表头的工作表）")
    p.add_argument("--dry-run", action="store_true", help="只校验并显示将新增、更新多少人，不写入数据库")
    p.add_argument("--errors-out", metavar="FILE.xlsx", help="把有错误的行连同错误原因写到这个 Excel 文件")
    p.add_argument("--sync", action="store_true", help="这个文件是完整名单：列出本站在册但不在文件里的人")
    p.add_argument("--close-missing", action="store_true", help="与 --sync 一起用：把不在文件里的人结案")
    p.add_argument("--reason", choices=CLOSE_REASONS, default="其他", help="--close-missing 结案的原因（默认：其他）")
    p.add_argument("--reopen", action="store_true", help="把已结案、但又出现在文件里的人恢复在册")
    p.set_defaults(run=_cases_import)
    p = cases.add_parser("list", help="列出服务对象（号码打码）")
    p.add_argument("--station", required=True, metavar="NAME", help="社工站名称")
    p.add_argument(
        "--status", choices=("open", "closed", "all"), default="open", help="open=在册（默认），closed=已结案，all=全部"
    )
    p.add_argument("--json", action="store_true", help="输出 JSON（每位对象的全部字段）")
    p.set_defaults(run=_cases_list)
    p = cases.add_parser("close", help="结案：迁出、死亡、不再符合或其他；不再提醒，记录保留")
    p.add_argument("case", metavar="NAME|ID", help="服务对象姓名或编号（#12；同名时用编号）")
    p.add_argument("--station", required=True, metavar="NAME", help="社工站名称")
    p.add_argument("--reason", required=True, choices=CLOSE_REASONS, help="结案原因")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(run=_cases_close)
    p = cases.add_parser("reassign", help="把服务对象转交给本站另一位社工")
    p.add_argument("case", metavar="NAME|ID", help="服务对象姓名或编号（#12；同名时用编号）")
    p.add_argument("--station", required=True, metavar="NAME", help="社工站名称")
    p.add_argument("--to", required=True, metavar="姓名", help="接手的社工")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(run=_cases_reassign)

    visits = sub.add_parser("visits", help="走访记录").add_subparsers(
        dest="visits_command", required=True, metavar="ACTION"
    )
    p = visits.add_parser("export", help="导出走访记录（每次走访一行，中文列名）")
    p.add_argument("--station", metavar="NAME", help="只导出这个社工站")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="起始日期（含）")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="结束日期（含）")
    p.add_argument("--format", required=True, choices=("csv", "xlsx"))
    p.add_argument("-o", "--output", metavar="FILE", help="输出文件；不填时 csv 输出到标准输出")
    p.set_defaults(run=_visits_export)
