"""Reminder texts: the morning digest, the 待办 and 逾期 lists, the escalation to leads (Simplified Chinese)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot.messages import Button, Reply
from handlers.common.localtime import WEEKDAYS
from handlers.reminders.due import DueItem
from handlers.reminders.store import ListEntry

DIGEST_LIMIT = 10  # new or changed items in one digest; the rest are counted and shown by 待办
LIST_LIMIT = 60
BUTTON_ITEMS = 3  # Telegram buttons for the first items (two each): more would bury the message
SNOOZE_BUTTON_DAYS = 3


def day_label(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _line(n: int, d: DueItem) -> str:
    where = f"（{d.village}）" if d.village else ""
    if d.days_overdue > 0:
        when = f"应于{day_label(d.due_date)}，已逾期 {d.days_overdue} 天"
    elif d.days_overdue == 0:
        when = "今天到期"
    else:
        when = f"{day_label(d.due_date)}到期（还有 {-d.days_overdue} 天）"
    snoozed = f"，已推迟到{day_label(d.snoozed_until)}" if d.snoozed_until else ""
    return f"{n}. {d.case_name}{where} {d.item.name}：{when}{snoozed}"


def counts_line(items: Sequence[DueItem]) -> str:
    today = sum(1 for d in items if d.status == "today")
    overdue = sum(1 for d in items if d.status == "overdue")
    upcoming = sum(1 for d in items if d.status == "upcoming")
    parts = [f"今天到期 {today} 项", f"逾期 {overdue} 项"]
    if upcoming:
        parts.append(f"即将到期 {upcoming} 项")
    return "，".join(parts)


def entries(items: Sequence[DueItem]) -> tuple[ListEntry, ...]:
    """The numbering behind the text: "完成 2" means entries[1]."""
    return tuple(ListEntry(d.case_id, d.item.key, d.due_date, d.case_name, d.item.name) for d in items)


def buttons(items: Sequence[DueItem]) -> list[Button]:
    """Telegram shows these as inline buttons; the payload names the item itself, not its number, so an
    old message's button still means the same item after the list was renumbered."""
    found: list[Button] = []
    for n, d in enumerate(items[:BUTTON_ITEMS], start=1):
        ref = f"{d.case_id}:{d.item.key}:{d.due_date:%Y%m%d}"
        found.append(Button(f"完成 {n}", f"rmd:done:{ref}"))
        found.append(Button(f"推迟 {n} {SNOOZE_BUTTON_DAYS}天", f"rmd:snooze:{ref}:{SNOOZE_BUTTON_DAYS}"))
    return found


def digest(today: date, shown: Sequence[DueItem], everything: Sequence[DueItem], new: int | None = None) -> Reply:
    """The morning digest: `shown`, the new or changed items (numbered for 完成/推迟), out of `new` of them,
    then one line counting the rest of the worker's list (`everything`)."""
    new = len(shown) if new is None else new
    lines = [
        f"📋 待办提醒（{day_label(today)} 周{WEEKDAYS[today.weekday()]}）",
        f"您的待办：{counts_line(everything)}。",
        "",
        f"新增或有变化的 {new} 项" + (f"（先列 {len(shown)} 项，其余明天列出）" if new > len(shown) else "") + "：",
    ]
    lines += [_line(n, d) for n, d in enumerate(shown, start=1)]
    listed = {(d.case_id, d.item.key) for d in shown}
    rest = [d for d in everything if (d.case_id, d.item.key) not in listed]
    if rest:
        overdue = sum(1 for d in rest if d.status == "overdue")
        lines.append(
            f"另有 {len(rest)} 项待办" + (f"（其中逾期 {overdue} 项）" if overdue else "") + "，发送“待办”查看全部。"
        )
    lines += ["", "回复“完成 2”表示第 2 项已做，“推迟 2 3天”3 天后再提醒。"]
    return Reply("\n".join(lines), buttons=buttons(shown))


def todo(today: date, items: Sequence[DueItem]) -> Reply:
    if not items:
        return Reply("👍 目前没有到期或逾期的事项。")
    shown = list(items[:LIST_LIMIT])
    lines = [f"📋 我的待办（截至{day_label(today)}）", counts_line(items) + "：", ""]
    lines += [_line(n, d) for n, d in enumerate(shown, start=1)]
    if len(items) > len(shown):
        lines.append(f"……另有 {len(items) - len(shown)} 项未列出，请先处理以上事项。")
    lines += ["", "回复“完成 编号”标记已做（可写多个，如“完成 1 3”），“推迟 编号 3天”推迟提醒。"]
    return Reply("\n".join(lines), buttons=buttons(shown))


def escalation(station: str, items: Sequence[DueItem], worker_names: dict[int, str]) -> Reply:
    lines = [f"⚠️ 逾期上报（{station}）", f"以下 {len(items)} 项已逾期超过规定天数，请督促跟进：", ""]
    for n, d in enumerate(items[:LIST_LIMIT], start=1):
        who = worker_names.get(d.worker_id or 0, "未分配社工")
        lines.append(
            f"{n}. {d.case_name} {d.item.name}：应于{day_label(d.due_date)}，逾期 {d.days_overdue} 天（{who}）"
        )
    if len(items) > LIST_LIMIT:
        lines.append(f"……另有 {len(items) - LIST_LIMIT} 项。")
    lines += ["", "发送“逾期”查看本站全部逾期事项。"]
    return Reply("\n".join(lines))


def overdue_view(
    station: str, today: date, items: Sequence[DueItem], worker_names: dict[int, str], problems: dict[int, str]
) -> Reply:
    """The lead's 逾期 list: overdue items per worker, and whose reminders did not reach them."""
    overdue = [d for d in items if d.status == "overdue"]
    lines = [f"⏰ {station} 逾期事项（截至{day_label(today)}）：共 {len(overdue)} 项"]
    grouped: dict[int | None, list[DueItem]] = {}
    for d in overdue:
        grouped.setdefault(d.worker_id, []).append(d)
    shown = 0
    for worker_id, mine in sorted(grouped.items(), key=lambda kv: -len(kv[1])):
        name = worker_names.get(worker_id or 0, "未分配社工")
        note = f"——{problems[worker_id]}" if worker_id in problems else ""
        lines.append(f"\n【{name}】{len(mine)} 项{note}")
        for d in mine:
            if shown >= LIST_LIMIT:
                break
            shown += 1
            lines.append(f"· {d.case_name} {d.item.name}：应于{day_label(d.due_date)}，逾期 {d.days_overdue} 天")
    if shown < len(overdue):
        lines.append(f"\n……另有 {len(overdue) - shown} 项，完整清单请运行 shegong reminders due --station {station}")
    unlisted = {w: p for w, p in problems.items() if w not in grouped}
    for worker_id, problem in unlisted.items():
        lines.append(f"\n【{worker_names.get(worker_id, '社工')}】提醒{problem}")
    if not overdue and not unlisted:
        return Reply(f"👍 {station} 目前没有逾期事项。")
    return Reply("\n".join(lines))
