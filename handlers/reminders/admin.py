"""`shegong reminders due | run-once | rules`: the dry run, one dispatch pass (cron), and checking rule files.

Each function returns the exit code; problems the operator must fix end with SystemExit and a Chinese message.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.channels.registry import configured_channels
from bot.clock import Clock, FrozenClock
from bot.config import Settings
from bot.knowledge_service import KnowledgeService
from bot.services import Services
from bot.store.connect import open_store
from handlers.common.calendar import LOOKAHEAD_DAYS, HolidaysError, WorkCalendar, current_holidays
from handlers.reminders.dispatch import PUSHABLE, choose_route
from handlers.reminders.due import DueItem, compute_due
from handlers.reminders.loop import run_once as run_pass
from handlers.reminders.rules import RulesError, load_rulebook
from handlers.reminders.settings import ReminderSettings
from handlers.reminders.store import ReminderStore
from handlers.workers.store import WorkersStore

STATUS = {"overdue": "逾期", "today": "今天到期", "upcoming": "即将到期"}


def _rulebook(settings: ReminderSettings, directory: str = ""):
    try:
        return load_rulebook(Path(directory or settings.rules_dir) if (directory or settings.rules_dir) else None)
    except RulesError as exc:
        raise SystemExit(str(exc)) from exc


def configured_pushable(settings: Settings) -> list[str]:
    """Channels whose settings are present (what `serve` would push through), without building them."""
    present = {
        "telegram": bool(settings.telegram_token),
        "wechat": bool(settings.wechat_token),
        "wecom": bool(settings.wecom_corpid and settings.wecom_secret),
    }
    return [name for name in PUSHABLE if present[name]]


def parse_now(text: str | None, tz_name: str) -> datetime | None:
    """--now: an ISO-8601 time; without an offset it is local time (SHEGONG_TIMEZONE)."""
    if not text:
        return None
    from zoneinfo import ZoneInfo

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--now 应为 ISO-8601 时间，例如 2026-03-02T09:00:00+08:00（现在是 {text}）") from None
    return (value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz_name))).astimezone(UTC)


async def due(settings: Settings, day: str | None, station: str | None, as_json: bool) -> int:
    rsettings = ReminderSettings()
    rules = _rulebook(rsettings)
    calendar = _calendar()
    store = await open_store(settings)
    try:
        today = date.fromisoformat(day) if day else Clock().now().astimezone(store.tz).date()
        station_id = None
        if station:
            found = await WorkersStore.of(store).station_by_name(station)
            if found is None:
                raise SystemExit(f"没有这个社工站：{station}（用 shegong station list 查看）")
            station_id = found.id
        items = sorted(
            await compute_due(store, rules, today, station_id=station_id),
            key=lambda d: (d.station_id, d.worker_id or 0, *d.sort_key()),
        )
        contacts = await ReminderStore.of(store).reminder_contacts(station_id)
        names = await ReminderStore.of(store).station_names()
        await store.audit(
            f"cli:{getpass.getuser()}",
            "reminders.due",
            target=station or "all",
            detail={"date": today.isoformat(), "items": len(items)},
        )
    except ValueError as exc:
        raise SystemExit(f"--date 应为 YYYY-MM-DD（{exc}）") from None
    finally:
        await store.close()
    # Who would get it, were the digest sent at 09:00 that day.
    at = datetime.combine(today, time(9), store.tz).astimezone(UTC)
    channels = configured_pushable(settings)

    def recipient(d: DueItem) -> str:
        if d.worker_id is None:
            return "未分配社工"
        contact = contacts.get(d.worker_id)
        route = choose_route(contact, at, channels, rsettings.wechat_window)
        who = contact.name if contact else f"社工#{d.worker_id}"
        return f"{who}（{route.channel}）" if route else f"{who}（需另行联系）"

    missing = calendar.missing_years(today)
    if missing:
        until = today + timedelta(days=LOOKAHEAD_DAYS)
        print(
            f"注意：未来 {LOOKAHEAD_DAYS} 天（到 {until}）里，{'、'.join(map(str, missing))} 年还没有节假日和调休数据，"
            f"这些日子暂按周一至周五上班计算。国务院办公厅公布当年的节假日安排后，请升级 chinese-calendar，"
            f"或照通知写进 {calendar.holidays.path}。",
            file=sys.stderr,
        )
    if as_json:
        print(
            json.dumps(
                {
                    "date": today.isoformat(),
                    "workday": calendar.is_workday(today),
                    "holiday_data_missing": missing,
                    "items": [_as_json(d, names, recipient(d)) for d in items],
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(
        f"{today.isoformat()}（{calendar.describe(today)}{'' if calendar.is_workday(today) else '，不发送提醒'}）"
        f"到期/逾期清单：共 {len(items)} 项，逾期 {sum(d.status == 'overdue' for d in items)} 项"
    )
    last: tuple[int, int | None] | None = None
    for d in items:
        if (d.station_id, d.worker_id) != last:
            last = (d.station_id, d.worker_id)
            print(f"\n[{names.get(d.station_id, d.station_id)}] {recipient(d)}")
        extra = f"  逾期 {d.days_overdue} 天" if d.days_overdue > 0 else ""
        flags = ("  ⚠ 上报站长" if d.escalates else "") + (f"  已推迟到 {d.snoozed_until}" if d.snoozed_until else "")
        print(f"  {d.case_name}（#{d.case_id}）  {d.item.name}  {STATUS[d.status]}  应于 {d.due_date}{extra}{flags}")
    return 0


def _as_json(d: DueItem, names: dict[int, str], recipient: str) -> dict[str, Any]:
    return {
        "station": names.get(d.station_id, ""),
        "recipient": recipient,
        "worker_id": d.worker_id,
        "case_id": d.case_id,
        "case": d.case_name,
        "village": d.village,
        "item_key": d.item.key,
        "item": d.item.name,
        "due_date": d.due_date.isoformat(),
        "days_overdue": d.days_overdue,
        "status": d.status,
        "escalates": d.escalates,
        "snoozed_until": d.snoozed_until.isoformat() if d.snoozed_until else None,
    }


async def run_once(settings: Settings, now_text: str | None, as_json: bool) -> int:
    """One pass at --now (or now), then deliver the outbox through the configured channels."""
    rsettings = ReminderSettings()
    _rulebook(rsettings)  # a broken rules file: say so before touching anything
    now = parse_now(now_text, settings.timezone)
    clock = FrozenClock(now) if now else Clock()
    store = await open_store(settings, clock)
    services = Services(settings, store, KnowledgeService(store, builtin=False), clock)  # pushing reads no documents
    channels = configured_channels(services)
    try:
        report, handled = await run_pass(services, channels, clock.now(), rsettings)
    finally:
        for channel in channels.values():
            await channel.close()
        await store.close()
    if as_json:
        print(json.dumps({**report.as_json(), "outbox_handled": handled}, ensure_ascii=False))
    else:
        print(report.summary())
        print(f"本进程投递消息 {handled} 条（含重试和其他待发消息）。")
    return 0


def _calendar() -> WorkCalendar:
    try:
        return WorkCalendar(current_holidays())
    except HolidaysError as exc:
        raise SystemExit(str(exc)) from exc


def check_rules(directory: str | None) -> int:
    rules = _rulebook(ReminderSettings(), directory or "")
    calendar = _calendar()
    for source in rules.sources:
        print(f"已读取：{source}")
    years = "、".join(f"{y}（{source}）" for y, source in sorted(calendar.holidays.sources.items()))
    print(f"已读取：{calendar.holidays.path}（{'补充的年份：' + years if years else '没有补充的年份'}）")
    for name, rule_set in [("默认", rules.default), *rules.stations.items()]:
        print(f"\n【{name}】")
        for item in rule_set.common:
            print(f"  所有对象：{_describe(item)}")
        for category, items in rule_set.categories.items():
            print(f"  {category}：" + "；".join(_describe(i) for i in items))
    print("\n规则检查通过。", file=sys.stderr)
    return 0


def _describe(item: Any) -> str:
    when = item.every.describe() if item.every else f"登记后 {item.first_within_days} 天内一次"
    if item.every and item.first_within_days:
        when = f"登记后 {item.first_within_days} 天内，之后{when}"
    escalate = f"逾期 {item.escalate_after_days} 天上报" if item.escalate_after_days is not None else "不上报"
    return f"{item.name}（{when}，提前 {item.lead_days} 天提醒，{escalate}）"


# -- shegong reminders ... ---------------------------------------------------------------------
async def _reminders_due(args: argparse.Namespace) -> int:
    return await due(Settings(), args.date, args.station, args.json)


async def _reminders_run_once(args: argparse.Namespace) -> int:
    return await run_once(Settings(), args.now, args.json)


async def _reminders_rules(args: argparse.Namespace) -> int:
    return check_rules(args.dir)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """`shegong reminders due | run-once | rules`."""
    rem = sub.add_parser("reminders", help="探访、评估提醒").add_subparsers(
        dest="reminders_command", required=True, metavar="ACTION"
    )
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
