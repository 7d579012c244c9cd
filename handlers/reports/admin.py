"""`shegong invite --role supervisor --scope …` and `shegong report monthly …`.

Each function returns the exit code; problems the operator must fix end with SystemExit and a Chinese message.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from bot.clock import Clock
from bot.config import Settings
from bot.crypto import UnavailableSecrets
from bot.store.connect import open_store
from handlers.casework.store import CaseworkStore
from handlers.common.area import Area, parse_scope
from handlers.reports.categories import CategoriesError, default_categories
from handlers.reports.monthly import Month
from handlers.reports.service import ReportError, build_report
from handlers.reports.xlsx import write_report_xlsx
from handlers.workers.store import WorkersStore

INVITE_DAYS = 7


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
        if scope.level == "station" and await WorkersStore.of(store).station_by_name(scope.name) is None:
            raise SystemExit(f"找不到社工站：{scope.name}（用 shegong station list 查看）")
        try:
            report = await build_report(store, scope, month, Clock().now(), categories=categories)
        except ReportError as exc:
            raise SystemExit(str(exc)) from exc
        cases = None
        if fmt == "xlsx" and scope.level == "station":
            if isinstance(store.secrets, UnavailableSecrets):
                raise SystemExit(store.secrets.reason)
            cases = {w["worker_id"]: await CaseworkStore.of(store).cases_of_worker(w["worker_id"])
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


# -- shegong report monthly ----------------------------------------------------------------------
async def _report_monthly(args: argparse.Namespace) -> int:
    if args.station:
        area = Area("station", args.station)
    elif args.district:
        area = parse_scope(f"district:{args.district}")
    elif args.city:
        area = Area("city", args.city)
    else:
        area = Area("province")
    return await report_monthly(Settings(), area, args.month, args.format, Path(args.output) if args.output else None)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """`shegong report monthly`."""
    report = sub.add_parser("report", help="统计报表").add_subparsers(dest="report_command", required=True,
                                                                  metavar="ACTION")
    p = report.add_parser("monthly", help="月报：覆盖率、各社工、逾期、危险事件、转人工、需求与服务、近七个月趋势")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--station", metavar="NAME", help="一个社工站")
    where.add_argument("--district", metavar="县区", help="一个县（区）的全部社工站；同名县区写成 佛山市/南海区")
    where.add_argument("--city", metavar="市", help="一个地级市的全部社工站")
    where.add_argument("--province", action="store_true", help="全省")
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="月份，如 2026-11")
    p.add_argument("--format", choices=("json", "xlsx"), default="json")
    p.add_argument("-o", "--output", metavar="FILE", help="输出文件；json 不填时输出到标准输出")
    p.set_defaults(run=_report_monthly)
