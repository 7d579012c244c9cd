"""`shegong invite --role supervisor --scope …` and `shegong report monthly …`.

Each function returns the exit code; problems the operator must fix end with SystemExit and a Chinese message.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Settings
from bot.crypto import UnavailableSecrets, new_invite_code
from bot.store.connect import open_store
from handlers.reports.area import LEVEL_NAMES, Area, AreaError, parse_scope
from handlers.reports.categories import CategoriesError, default_categories
from handlers.reports.monthly import Month
from handlers.reports.service import ReportError, build_report
from handlers.reports.store import add_supervisor_with_invite
from handlers.reports.xlsx import write_report_xlsx

INVITE_DAYS = 7


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
        stations = [s for s in await store.list_stations() if area.contains(s)]
        code = new_invite_code()
        expires = store.clock.now() + timedelta(days=INVITE_DAYS)
        try:
            worker = await add_supervisor_with_invite(store, area, name, store.secrets.invite_hash(code), expires)
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


async def report_monthly(settings: Settings, scope: Area, month_text: str, fmt: str, output: Path | None) -> int:
    """`shegong report monthly`: JSON to standard output (or -o FILE), XLSX to -o FILE."""
    try:
        month = Month.parse(month_text)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    if fmt == "xlsx" and output is None:
        raise SystemExit("xlsx 格式需要用 -o 指定输出文件，例如：-o 月报.xlsx")
    if output is not None and not output.parent.is_dir():
        raise SystemExit(f"输出目录不存在：{output.parent}")
    try:
        categories = default_categories()
    except CategoriesError as exc:
        raise SystemExit(str(exc)) from exc
    store = await open_store(settings)
    try:
        if scope.level == "station" and await store.station_by_name(scope.name) is None:
            raise SystemExit(f"找不到社工站：{scope.name}（用 shegong station list 查看）")
        try:
            report = await build_report(store, scope, month, Clock().now(), categories=categories)
        except ReportError as exc:
            raise SystemExit(str(exc)) from exc
        cases = None
        if fmt == "xlsx" and scope.level == "station":
            if isinstance(store.secrets, UnavailableSecrets):
                raise SystemExit(store.secrets.reason)
            cases = {w["worker_id"]: await store.cases_of_worker(w["worker_id"])
                     for w in report["workers"] if w["worker_id"] is not None}  # type: ignore[attr-defined]
        await store.audit(operator(), "report.monthly", target=f"{scope.level}:{scope.label}",
                          detail={"month": str(month), "format": fmt, "file": output.name if output else "-"})
    finally:
        await store.close()
    if fmt == "xlsx":
        assert output is not None
        write_report_xlsx(report, output, cases)
        print(f"已生成 {scope.label} {month.label}月报：{output}", file=sys.stderr)
    elif output is not None:
        output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"已生成 {scope.label} {month.label}月报：{output}", file=sys.stderr)
    else:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def operator() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # containers often run as a uid without a passwd entry
        return f"cli:uid{os.getuid()}"
