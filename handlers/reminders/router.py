"""Reminders for bound workers: `待办` (my list), `完成 2` / `推迟 2 3天` (replies to a digest or list, or its
Telegram buttons), and for station leads `逾期` (the station's overdue items, and whom reminders missed)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot.messages import Reply
from bot.routing import Command, Context, Regex, Router
from bot.store import WorkerRecord
from handlers.casework.store import CaseworkStore
from handlers.casework.visits import report_for_case
from handlers.common.roles import IsWorker, actor, private_only
from handlers.reminders import render
from handlers.reminders.due import DueItem, compute_due
from handlers.reminders.rules import RuleBook, current_rulebook
from handlers.reminders.settings import ReminderSettings
from handlers.reminders.store import ListEntry, ReminderStore

router = Router("reminders", IsWorker(), guard=private_only)

MAX_SNOOZE_DAYS = 30
_NUMBERS = re.compile(r"\d+")
DONE = r"^(?:完成|已完成|做完了?|办完了?)\s*第?\s*(\d+(?:\s*[,，、和\s]\s*\d+)*)\s*项?$"
SNOOZE = r"^(?:推迟|延后|延期|晚点提醒)\s*第?\s*(\d+)\s*项?\s*(?:(\d+)\s*(?:天|日))?$"
BUTTON = r"^rmd:(done|snooze):(\d+):([a-z][a-z0-9_]{0,23}):(\d{8})(?::(\d{1,2}))?$"


def _rules() -> RuleBook:
    return current_rulebook(ReminderSettings().rules_dir)


def _today(ctx: Context) -> date:
    return ctx.services.clock.now().astimezone(ctx.services.store.tz).date()


def _sorted(items: list[DueItem]) -> list[DueItem]:
    return sorted(items, key=DueItem.sort_key)


DUE_LIST = Command("todo", keywords={"待办", "我的待办", "待办事项", "今日待办", "提醒事项"})
OVERDUE = Command("overdue", keywords={"逾期", "逾期事项", "本站逾期", "逾期清单"})
# Non-workers who type these are told they are for workers.
WORKER_ONLY = (DUE_LIST, OVERDUE, Regex(DONE), Regex(SNOOZE), Regex(BUTTON))


@router.message(DUE_LIST)
async def todo(ctx: Context, worker: WorkerRecord) -> Reply:
    store, today = ctx.services.store, _today(ctx)
    items = _sorted(await compute_due(store, _rules(), today, worker_id=worker.id))
    shown = items[:render.LIST_LIMIT]
    await ReminderStore.of(store).save_reminder_list(worker.id, render.entries(shown))
    await store.audit(actor(worker), "case.read", target=f"reminders:todo:{len(items)}", worker_id=worker.id)
    return render.todo(today, items)


@router.message(OVERDUE)
async def overdue(ctx: Context, worker: WorkerRecord) -> Reply:
    if not worker.is_lead:
        return Reply("“逾期”是站长查看全站逾期事项的功能。您自己的到期和逾期事项，请发送“待办”。")
    store, today = ctx.services.store, _today(ctx)
    items = _sorted(await compute_due(store, _rules(), today, station_id=worker.station_id))
    contacts = await ReminderStore.of(store).reminder_contacts(worker.station_id)
    problems = await ReminderStore.of(store).delivery_problems(sorted(contacts))
    await store.audit(actor(worker), "case.read", target=f"reminders:overdue:{worker.station_id}",
                      worker_id=worker.id)
    return render.overdue_view(worker.station_name, today, items, {w: c.name for w, c in contacts.items()},
                               problems)


async def _picked(ctx: Context, worker: WorkerRecord, numbers: list[int]) -> list[ListEntry] | Reply:
    """The entries of the worker's last list by number, or a reply saying what is wrong."""
    entries = await ReminderStore.of(ctx.services.store).reminder_list(worker.id)
    if not entries:
        return Reply("还没有给您发过待办清单。请先发送“待办”查看，再回复“完成 编号”。")
    wrong = [n for n in numbers if not 1 <= n <= len(entries)]
    if wrong:
        return Reply(f"清单里没有第 {'、'.join(map(str, wrong))} 项（共 {len(entries)} 项）。发送“待办”查看最新清单。")
    return [entries[n - 1] for n in dict.fromkeys(numbers)]


async def _from_button(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> ListEntry | Reply:
    """A button names its item itself (case, item key, due date): still right after the list was renumbered."""
    case_id, key, due = int(match.group(2)), match.group(3), match.group(4)
    case = await CaseworkStore.of(ctx.services.store).case_by_id(case_id, worker.station_id)
    names = {i.key: i.name for rules in _rules().rule_sets() for i in rules.all_items()}
    if case is None or key not in names:
        return Reply("这条提醒已失效。发送“待办”查看最新清单。")
    return ListEntry(case_id, key, date(int(due[:4]), int(due[4:6]), int(due[6:])), case.name, names[key])


async def _complete(ctx: Context, worker: WorkerRecord, entries: list[ListEntry]) -> Reply:
    """Items done. An item that a visit resets (入户探访, 探访关爱) is done by recording that visit, so the
    reminders and the visit counts agree: the visit report starts, asking its mode; other items are marked
    done now."""
    modes = {i.key: i.reset_by.modes for rules in _rules().rule_sets() for i in rules.all_items()}
    visits = [e for e in entries if modes.get(e.item_key)]
    others = [e for e in entries if not modes.get(e.item_key)]
    lines: list[str] = []
    if others:
        await ReminderStore.of(ctx.services.store).complete_items(worker.id, others)
        lines.append("✅ 已标记完成：\n" + "\n".join(f"· {e.case_name} {e.item_name}" for e in others)
                     + "\n下次提醒会从今天重新计算。")
    if not visits:
        return Reply("\n".join(lines))
    first, later = visits[0], visits[1:]
    case = await CaseworkStore.of(ctx.services.store).case_by_id(first.case_id, worker.station_id)
    if case is None:
        return Reply("\n".join([*lines, "这条提醒已失效。发送“待办”查看最新清单。"]))
    counted = "、".join(modes[first.item_key])
    lines.append(f"“{first.case_name} {first.item_name}”要有一条走访记录（{counted}）才算完成。请补全这条记录，"
                 "情况可用“修改 情况 …”写上：")
    if later:
        lines.append("保存后再回复“完成”记录：" + "、".join(f"{e.case_name} {e.item_name}" for e in later) + "。")
    return await report_for_case(ctx, worker, case, note="\n".join(lines),
                                 mode_hint=f"（{counted}才算完成“{first.item_name}”）")


async def _snooze(ctx: Context, worker: WorkerRecord, entries: list[ListEntry], days: int) -> Reply:
    until = _today(ctx) + timedelta(days=days)
    await ReminderStore.of(ctx.services.store).snooze_items(worker.id, entries, until)
    names = "、".join(f"{e.case_name} {e.item_name}" for e in entries)
    return Reply(f"⏰ 好的，{names} {days} 天后（{render.day_label(until)}）再提醒您。")


@router.message(Regex(DONE))
async def complete_by_number(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    picked = await _picked(ctx, worker, [int(n) for n in _NUMBERS.findall(match.group(1))])
    return picked if isinstance(picked, Reply) else await _complete(ctx, worker, picked)


@router.message(Regex(SNOOZE))
async def snooze_by_number(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    days = int(match.group(2) or 1)
    if not 1 <= days <= MAX_SNOOZE_DAYS:
        return Reply(f"最多推迟 {MAX_SNOOZE_DAYS} 天，例如“推迟 2 3天”。")
    picked = await _picked(ctx, worker, [int(match.group(1))])
    return picked if isinstance(picked, Reply) else await _snooze(ctx, worker, picked, days)


@router.message(Regex(BUTTON))
async def button(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    entry = await _from_button(ctx, worker, match)
    if isinstance(entry, Reply):
        return entry
    if match.group(1) == "done":
        return await _complete(ctx, worker, [entry])
    days = min(int(match.group(5) or 1), MAX_SNOOZE_DAYS) or 1
    return await _snooze(ctx, worker, [entry], days)
