"""`shegong` command line. Thin: parse arguments, call the same services the bot uses."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from bot.config import Settings


def _settings() -> Settings:
    return Settings()


def _setup_logging(level: str, json_lines: bool = False) -> None:
    from bot.logging_setup import setup_logging

    setup_logging(level, json_lines)


# -- shegong chat ---------------------------------------------------------------------------
async def _chat(args: argparse.Namespace) -> int:
    from bot.app import build_services
    from bot.channels.console import run_console

    services = await build_services(_settings())
    try:
        await run_console(services, json_lines=args.json)
    finally:
        await services.close()
    return 0


# -- shegong serve -------------------------------------------------------------------------
async def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import build_services
    from bot.channels.registry import configured_channels
    from bot.channels.telegram import TelegramChannel
    from bot.server import app_runner, create_app

    services = await build_services(_settings())
    channels = configured_channels(services)
    if args.telegram_polling:
        telegram = channels.get("telegram")
        if not isinstance(telegram, TelegramChannel):
            await services.close()
            raise SystemExit("未配置 SHEGONG_TELEGRAM_TOKEN（机器人令牌），无法使用 --telegram-polling。")
        telegram.start_polling()  # before create_app, so that no webhook route is mounted
    runner = app_runner(create_app(services, channels), shutdown_timeout=10)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    logging.getLogger("shegong").info("serving on http://%s:%d", args.host, args.port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()  # finishes in-flight requests before closing
        await services.close()
    return 0


# -- shegong telegram set-webhook -----------------------------------------------------------
async def _telegram_set_webhook(args: argparse.Namespace) -> int:
    from bot.channels.telegram import set_webhook

    await set_webhook(_settings(), args.url)
    print(f"已设置 Telegram Webhook：{args.url}（带密钥校验）")
    return 0


# -- shegong ask ----------------------------------------------------------------------------
async def _load_kb(args: argparse.Namespace):  # noqa: ANN202
    from knowledge import KnowledgeBase

    if args.kb:
        root = Path(args.kb)
        if not root.is_dir():
            raise SystemExit(f"找不到知识库目录：{root}")
        return KnowledgeBase.from_path(root)
    from bot.store.connect import open_store
    from bot.knowledge_service import KnowledgeService

    settings = _settings()
    store = await open_store(settings)
    try:
        return await KnowledgeService(store, builtin=settings.kb_builtin).load()
    finally:
        await store.close()


def _print_answer(kb, question: str, as_json: bool) -> None:  # noqa: ANN001
    question = question.strip()
    if not question:
        if as_json:
            print(json.dumps({"answer": "", "confident": False, "sources": [], "error": "empty question"},
                             ensure_ascii=False))
        else:
            print("问题是空的，请输入想问的内容。", file=sys.stderr)
        return
    answer = kb.answer(question)
    if as_json:
        print(json.dumps(answer.as_json(), ensure_ascii=False), flush=True)
    else:
        print(answer.text)
        if answer.suggestions and not answer.confident:
            print("相关主题：" + "；".join(answer.suggestions))


async def _ask(args: argparse.Namespace) -> int:
    kb = await _load_kb(args)
    if args.question == "-":
        for line in sys.stdin:
            if line.strip() or args.json:
                _print_answer(kb, line, args.json)
        return 0
    if not args.question.strip():
        print("问题是空的，请输入想问的内容，例如：shegong ask \"低保怎么申请\"", file=sys.stderr)
        return 2
    _print_answer(kb, args.question, args.json)
    return 0


# -- shegong kb ... -------------------------------------------------------------------------
async def _kb_ingest(args: argparse.Namespace) -> int:
    from bot.kb_admin import ingest_paths

    return await ingest_paths(_settings(), [Path(p) for p in args.paths], region=args.region)


async def _kb_list(args: argparse.Namespace) -> int:
    from bot.kb_admin import list_documents

    return await list_documents(_settings(), as_json=args.json)


async def _kb_remove(args: argparse.Namespace) -> int:
    from bot.kb_admin import remove_documents

    return await remove_documents(_settings(), args.paths)


async def _kb_eval(args: argparse.Namespace) -> int:
    from knowledge.evaluate import evaluate, format_report

    kb = await _load_kb(args)
    try:
        report = evaluate(kb, *[Path(q) for q in args.questions])
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    print(json.dumps(report.as_json(), ensure_ascii=False) if args.json else format_report(report, args.verbose))
    return 0


async def _kb_check(args: argparse.Namespace) -> int:
    from datetime import date

    from knowledge.check import check_command

    try:
        today = date.fromisoformat(args.today) if args.today else date.today()
    except ValueError:
        print(f"--today 应为 YYYY-MM-DD 格式的日期：{args.today}", file=sys.stderr)
        return 2  # 1 means "findings"
    return check_command(Path(args.dir) if args.dir else None, today, args.json)


# -- shegong db upgrade ---------------------------------------------------------------------
async def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.store import DatabaseError, create_engine, upgrade

    settings = _settings()
    if settings.is_embedded:
        settings.ensure_data_dir()
    engine = create_engine(settings.effective_database_url)
    try:
        revision = await upgrade(engine)
    except DatabaseError as exc:
        raise SystemExit(str(exc)) from exc
    finally:
        await engine.dispose()
    print(f"数据库已是最新版本（{revision}）")
    return 0


# -- shegong station | invite | workers | cases | visits --------------------------------------
async def _station_add(args: argparse.Namespace) -> int:
    from bot.casework_admin import add_station

    return await add_station(_settings(), args.name, county=args.county, city=args.city, district=args.district,
                             town=args.town, **_station_details(args))


def _station_details(args: argparse.Namespace) -> dict[str, str | float | None]:
    return {"address": args.address, "phone": args.phone, "hours": args.hours, "latitude": args.lat,
            "longitude": args.lon}


async def _station_set(args: argparse.Namespace) -> int:
    from bot.casework_admin import set_station

    return await set_station(_settings(), args.name, **_station_details(args))


async def _station_list(args: argparse.Namespace) -> int:
    from bot.casework_admin import list_stations

    return await list_stations(_settings())


async def _invite(args: argparse.Namespace) -> int:
    from bot.casework_admin import invite
    from handlers.reports.admin import invite_supervisor

    if args.role == "supervisor" or args.scope:
        if args.station or args.role not in (None, "supervisor"):
            raise SystemExit("--scope 只用于督导（--role supervisor），不能与 --station 一起使用")
        if not args.scope:
            raise SystemExit("督导需要指定范围：--scope district:南海区 | city:东莞市 | province")
        return await invite_supervisor(_settings(), args.scope, args.name)
    if not args.station:
        raise SystemExit("请用 --station 指定社工站（督导用 --scope）")
    return await invite(_settings(), args.station, args.name, args.role)


async def _workers_list(args: argparse.Namespace) -> int:
    from bot.casework_admin import list_workers

    return await list_workers(_settings(), args.station)


async def _cases_import(args: argparse.Namespace) -> int:
    from bot.casework_admin import import_cases

    return await import_cases(_settings(), Path(args.file), args.station)


async def _visits_export(args: argparse.Namespace) -> int:
    from bot.casework_admin import export_visits

    output = Path(args.output) if args.output else None
    return await export_visits(_settings(), args.station, args.date_from, args.date_to, args.format, output)


def _station_detail_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", help="地址，居民问“社工站在哪”时显示")
    p.add_argument("--phone", help="联系电话")
    p.add_argument("--hours", help="开放时间，如 “周一至周五 8:30-12:00 14:00-17:30”")
    p.add_argument("--lat", type=float, metavar="纬度", help="纬度（如 23.0215），与 --lon 一起用于“最近的社工站”")
    p.add_argument("--lon", type=float, metavar="经度", help="经度（如 113.1214）")


# -- shegong privacy purge ------------------------------------------------------------------------
async def _privacy_purge(args: argparse.Namespace) -> int:
    from handlers.privacy.maintenance import purge_command

    return await purge_command(_settings(), args.now)


def _add_privacy_commands(sub: argparse._SubParsersAction) -> None:
    privacy = sub.add_parser("privacy", help="个人信息保护").add_subparsers(dest="privacy_command", required=True,
                                                                      metavar="ACTION")
    p = privacy.add_parser("purge", help="删除超过保存期限（SHEGONG_RETENTION_DAYS，默认 180 天）的对话记录")
    p.add_argument("--now", metavar="ISO", help="以这个时间为“现在”计算期限，如 2026-12-01T00:00:00+08:00")
    p.set_defaults(run=_privacy_purge)


def _add_casework_commands(sub: argparse._SubParsersAction) -> None:
    station = sub.add_parser("station", help="社工站管理").add_subparsers(dest="station_command", required=True,
                                                                      metavar="ACTION")
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
    p.add_argument("--role", choices=("worker", "lead", "supervisor"), default=None,
                   help="worker=社工，lead=站长/副站长，supervisor=区/市/省督导（配合 --scope）；"
                        "不填时新登记为 worker，已登记的保持原角色")
    p.set_defaults(run=_invite)

    workers = sub.add_parser("workers", help="社工").add_subparsers(dest="workers_command", required=True,
                                                                  metavar="ACTION")
    p = workers.add_parser("list", help="列出社工及其已绑定的渠道")
    p.add_argument("--station", metavar="NAME", help="只看这个社工站")
    p.set_defaults(run=_workers_list)

    cases = sub.add_parser("cases", help="服务对象").add_subparsers(dest="cases_command", required=True,
                                                                metavar="ACTION")
    p = cases.add_parser("import", help="从 .csv 或 .xlsx 导入服务对象（有任何错误行则全部不导入）")
    p.add_argument("file", metavar="FILE", help="列：姓名、类别、村居、住址、电话、身份证号、风险等级、负责社工")
    p.add_argument("--station", required=True, metavar="NAME", help="社工站名称")
    p.set_defaults(run=_cases_import)

    visits = sub.add_parser("visits", help="走访记录").add_subparsers(dest="visits_command", required=True,
                                                                  metavar="ACTION")
    p = visits.add_parser("export", help="导出走访记录（每次走访一行，中文列名）")
    p.add_argument("--station", metavar="NAME", help="只导出这个社工站")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="起始日期（含）")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="结束日期（含）")
    p.add_argument("--format", required=True, choices=("csv", "xlsx"))
    p.add_argument("-o", "--output", metavar="FILE", help="输出文件；不填时 csv 输出到标准输出")
    p.set_defaults(run=_visits_export)


# -- shegong report monthly ----------------------------------------------------------------------
async def _report_monthly(args: argparse.Namespace) -> int:
    from handlers.reports.admin import report_monthly
    from handlers.reports.area import Area, parse_scope

    if args.station:
        area = Area("station", args.station)
    elif args.district:
        area = parse_scope(f"district:{args.district}")
    elif args.city:
        area = Area("city", args.city)
    else:
        area = Area("province")
    return await report_monthly(_settings(), area, args.month, args.format, Path(args.output) if args.output else None)


def _add_report_commands(sub: argparse._SubParsersAction) -> None:
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


# -- shegong reminders ... ---------------------------------------------------------------------
async def _reminders_due(args: argparse.Namespace) -> int:
    from handlers.reminders.admin import due

    return await due(_settings(), args.date, args.station, args.json)


async def _reminders_run_once(args: argparse.Namespace) -> int:
    from handlers.reminders.admin import run_once

    return await run_once(_settings(), args.now, args.json)


async def _reminders_rules(args: argparse.Namespace) -> int:
    from handlers.reminders.admin import check_rules

    return check_rules(args.dir)


def _add_reminder_commands(sub: argparse._SubParsersAction) -> None:
    rem = sub.add_parser("reminders", help="探访、评估提醒").add_subparsers(dest="reminders_command", required=True,
                                                                       metavar="ACTION")
    p = rem.add_parser("due", help="列出到期和逾期事项（只看不发：发给谁、哪个对象、什么事项、哪天到期、逾期几天）")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="按这一天计算（默认今天）")
    p.add_argument("--station", metavar="NAME", help="只看这个社工站")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(run=_reminders_due)
    p = rem.add_parser("run-once", help="发送一轮提醒并投递待发消息（供 cron 使用；serve 已自带定时发送）")
    p.add_argument("--now", metavar="ISO-8601", help="把这个时间当作现在，如 2026-03-02T09:00:00+08:00")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(run=_reminders_run_once)
    p = rem.add_parser("rules", help="检查提醒规则文件并列出各类别的事项")
    p.add_argument("dir", nargs="?", metavar="DIR", help="规则目录（默认内置规则或 SHEGONG_REMINDER_RULES_DIR）")
    p.set_defaults(run=_reminders_rules)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shegong", description="社工助手：镇（街）社工站的政策问答与个案助手")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("chat", help="在终端里和机器人对话（也可从管道读入，每行一条消息）")
    p.add_argument("--json", action="store_true",
                   help='每行输入输出一行 JSON：{"in", "replies": [{"text", "confident", "sources"}]}')
    p.set_defaults(run=_chat)

    p = sub.add_parser("serve", help="启动 HTTP 服务（健康检查、网页聊天接口）")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--telegram-polling", action="store_true",
                   help="用长轮询（getUpdates）接收 Telegram 消息，适合开发调试，无需公网地址")
    p.set_defaults(run=_serve)

    p = sub.add_parser("ask", help="问一个政策问题")
    p.add_argument("question", help="问题；“-”表示从标准输入每行读一个问题")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.add_argument("--kb", metavar="DIR", help="只用这个目录下的文档回答")
    p.set_defaults(run=_ask)

    kb = sub.add_parser("kb", help="知识库管理").add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    p = kb.add_parser("ingest", help="导入文档（Markdown、文本、网页 HTML）")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--region", default="", help="未注明地区的文档默认归属地区，如 广州市")
    p.set_defaults(run=_kb_ingest)
    p = kb.add_parser("list", help="列出知识库文档")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_kb_list)
    p = kb.add_parser("remove", help="删除已导入的文档（路径或目录前缀）")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(run=_kb_remove)
    p = kb.add_parser("eval", help="用问题集评测检索效果")
    p.add_argument("questions", nargs="+", metavar="QUESTIONS.jsonl")
    p.add_argument("--kb", metavar="DIR", help="只用这个目录下的文档")
    p.add_argument("--json", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true", help="列出答错的问题")
    p.set_defaults(run=_kb_eval)
    p = kb.add_parser("check", help="检查文档的来源、核对日期、数字出处、已被取代的法规、链接和别名；有问题时退出码为 1")
    p.add_argument("dir", nargs="?", metavar="DIR", help="文档目录（默认内置知识库）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出全部问题")
    p.add_argument("--today", metavar="YYYY-MM-DD", help="按这一天判断核对日期是否过期（默认今天）")
    p.set_defaults(run=_kb_check)

    db = sub.add_parser("db", help="数据库").add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = db.add_parser("upgrade", help="把数据库结构升级到最新版本")
    p.set_defaults(run=_db_upgrade)

    tg = sub.add_parser("telegram", help="Telegram 设置").add_subparsers(dest="tg_command", required=True,
                                                                    metavar="ACTION")
    p = tg.add_parser("set-webhook", help="让 Telegram 把消息推送到这个地址（需 HTTPS，带密钥）")
    p.add_argument("url", metavar="URL", help="例如 https://example.org/telegram/webhook")
    p.set_defaults(run=_telegram_set_webhook)

    _add_casework_commands(sub)
    _add_privacy_commands(sub)
    _add_reminder_commands(sub)
    _add_report_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    serving = args.command == "serve"
    _setup_logging(_settings().log_level if serving else "WARNING", json_lines=serving)
    try:
        return asyncio.run(args.run(args)) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
