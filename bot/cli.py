"""`shegong` command line. Thin: parse arguments, call the same services the bot uses."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from bot.app import FEATURES
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
async def _load_kb(args: argparse.Namespace):
    from knowledge import KnowledgeBase

    if args.kb:
        root = Path(args.kb)
        if not root.is_dir():
            raise SystemExit(f"找不到知识库目录：{root}")
        return KnowledgeBase.from_path(root)
    from bot.knowledge_service import KnowledgeService
    from bot.store.connect import open_store

    settings = _settings()
    store = await open_store(settings)
    try:
        return await KnowledgeService(store, builtin=settings.kb_builtin).load()
    finally:
        await store.close()


def _print_answer(kb, question: str, as_json: bool) -> None:
    question = question.strip()
    if not question:
        if as_json:
            print(
                json.dumps(
                    {"answer": "", "confident": False, "sources": [], "error": "empty question"}, ensure_ascii=False
                )
            )
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
        print('问题是空的，请输入想问的内容，例如：shegong ask "低保怎么申请"', file=sys.stderr)
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
        report = evaluate(kb, *[Path(q) for q in args.questions], half=args.half)
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
    if args.ingested:
        if args.dir:
            print("--ingested 检查数据库中已导入的文档，不能同时指定目录", file=sys.stderr)
            return 2
        from bot.kb_admin import check_ingested

        return await check_ingested(_settings(), today, args.json)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shegong", description="社工助手：镇（街）社工站的政策问答与个案助手")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("chat", help="在终端里和机器人对话（也可从管道读入，每行一条消息）")
    p.add_argument(
        "--json",
        action="store_true",
        help='每行输入输出一行 JSON：{"in", "replies": [{"text", "confident", "sources"}]}',
    )
    p.set_defaults(run=_chat)

    p = sub.add_parser("serve", help="启动 HTTP 服务（健康检查、网页聊天接口）")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--telegram-polling",
        action="store_true",
        help="用长轮询（getUpdates）接收 Telegram 消息，适合开发调试，无需公网地址",
    )
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
    p.add_argument("--half", choices=("tune", "held"), help="只评测按问题哈希分出的一半（调参用 tune，检验用 held）")
    p.set_defaults(run=_kb_eval)
    p = kb.add_parser(
        "check", help="检查文档的来源、核对日期、数字出处、已被取代的法规、链接和别名；有问题时退出码为 1"
    )
    p.add_argument("dir", nargs="?", metavar="DIR", help="文档目录（默认内置知识库）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出全部问题")
    p.add_argument("--today", metavar="YYYY-MM-DD", help="按这一天判断核对日期是否过期（默认今天）")
    p.add_argument("--ingested", action="store_true", help="检查用 shegong kb ingest 导入数据库的文档")
    p.set_defaults(run=_kb_check)

    db = sub.add_parser("db", help="数据库").add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = db.add_parser("upgrade", help="把数据库结构升级到最新版本")
    p.set_defaults(run=_db_upgrade)

    tg = sub.add_parser("telegram", help="Telegram 设置").add_subparsers(
        dest="tg_command", required=True, metavar="ACTION"
    )
    p = tg.add_parser("set-webhook", help="让 Telegram 把消息推送到这个地址（需 HTTPS，带密钥）")
    p.add_argument("url", metavar="URL", help="例如 https://example.org/telegram/webhook")
    p.set_defaults(run=_telegram_set_webhook)

    for feature in FEATURES:
        if feature.commands is not None:
            feature.commands(sub)
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
