"""A lead changes the roster from chat: `结案 张桂英 迁出` closes a case, `转交 张桂英 给 王芳` hands it to another
worker. Both show what will change and wait for `确认`; `撤销结案` / `撤销转交` undo within 30 minutes. Every
change is audited (the audit row is also what the undo reads)."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.messages import Button, Reply
from bot.routing import Command, Context, Regex, Router, State, StatesGroup
from bot.store import CaseRecord, WorkerRecord
from bot.store.casework_records import CLOSE_REASONS
from handlers.casework.store import CaseworkStore
from handlers.casework.visit_form import CONFIRM_WORDS
from handlers.common.roles import IsWorker, actor, private_only
from handlers.workers.store import WorkersStore
from knowledge.engine.normalize import to_simplified

router = Router("casework_roster", IsWorker(), guard=private_only)

UNDO_WINDOW = timedelta(minutes=30)
CONFIRM_WINDOW = timedelta(minutes=10)  # a 确认 long after the question is not an answer to it
_REF = r"(#\d{1,10}|[\u4e00-\u9fff·]{2,8}?)"
CLOSE = Regex(rf"^结案\s*{_REF}?\s*({'|'.join(CLOSE_REASONS)})?$")
REASSIGN = Regex(rf"^(?:转交|转给|移交)\s*{_REF}(?:\s*(?:给|到)\s*|\s+)([\u4e00-\u9fff·]{{2,8}})$")
UNDO_CLOSE = Command("reopen", keywords={"撤销结案", "取消结案", "恢复结案"})
UNDO_REASSIGN = Command(keywords={"撤销转交", "取消转交"})
WORKER_ONLY = (CLOSE, REASSIGN, UNDO_CLOSE, UNDO_REASSIGN)
CLOSE_USAGE = "结案请写明对象和原因，例如：结案 张桂英 迁出（原因：" + "、".join(CLOSE_REASONS) + "）"
REASSIGN_USAGE = "转交请写明对象和接手的社工，例如：转交 张桂英 给 王芳"
LEADS_ONLY = "“{what}”只对站长开放。对象迁出、去世、不再符合条件或需要换社工，请告诉站长。"


class RosterForm(StatesGroup):
    """Waiting for 确认 of a close or a reassignment."""

    prefix = "roster"
    close = State()
    reassign = State()


def _confirm(ctx: Context) -> bool:
    return ctx.text.rstrip("!！。.~ ") in CONFIRM_WORDS


def _cancel(ctx: Context) -> bool:
    return ctx.text.rstrip("!！。.~ ") in {"取消", "算了", "不要了", "放弃", "/cancel"}


def _describe(case: CaseRecord) -> str:
    parts = [
        case.village or "未填村居",
        "、".join(case.categories) or "未分类",
        f"负责社工：{case.worker_name or '未分配'}",
    ]
    return f"{case.name}（#{case.id}，{'，'.join(parts)}）"


async def _case(ctx: Context, worker: WorkerRecord, ref: str, usage: str, command: str) -> CaseRecord | Reply:
    """The one open case of the lead's station that `ref` (a name or #id) names, or a reply to choose."""
    store = CaseworkStore.of(ctx.services.store)
    if ref.startswith("#"):
        found = (
            [c] if (c := await store.case_by_id(int(ref[1:]), worker.station_id)) is not None else []
        )
    else:
        name = to_simplified(ref)
        found = [c for c in await store.find_cases(worker.station_id, name) if c.name == name]
    if not found:
        return Reply(f"本站没有在册的服务对象“{ref}”（已结案的不能再{command}）。{usage}")
    if len(found) > 1:
        lines = [f"{i}. {_describe(c)}" for i, c in enumerate(found[:8], 1)]
        return Reply(
            f"本站有 {len(found)} 位“{ref}”，请用编号指明，例如“{command} #{found[0].id} …”：\n" + "\n".join(lines)
        )
    return found[0]


def _fresh(ctx: Context) -> bool:
    asked = ctx.state_data.get("asked", "")
    return bool(asked) and ctx.services.clock.now().timestamp() - float(asked) <= CONFIRM_WINDOW.total_seconds()


# -- 结案 --------------------------------------------------------------------------------------------
@router.message(CLOSE)
async def close_case(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    if not worker.is_lead:
        return Reply(LEADS_ONLY.format(what="结案"))
    ref, reason = match.group(1), match.group(2)
    if not ref:
        return Reply(CLOSE_USAGE)
    case = await _case(ctx, worker, ref, CLOSE_USAGE, "结案")
    if isinstance(case, Reply):
        return case
    if not reason:
        return Reply(
            f"{case.name} 因什么结案？请回复原因：", buttons=[Button(r, f"结案 #{case.id} {r}") for r in CLOSE_REASONS]
        )
    await ctx.set_state(
        RosterForm.close(), {"case_id": case.id, "reason": reason, "asked": str(ctx.services.clock.now().timestamp())}
    )
    return Reply(
        f"确认结案：{_describe(case)}\n原因：{reason}\n结案后不再提醒，不在名单、查询里出现；走访记录保留，"
        "导出时标明已结案。\n回复“确认”结案，“取消”放弃。",
        buttons=[Button("确认"), Button("取消")],
    )


@router.message(_confirm, state=RosterForm.close)
async def confirm_close(ctx: Context, worker: WorkerRecord) -> Reply:
    data, fresh = dict(ctx.state_data), _fresh(ctx)
    await ctx.clear_state()
    if not fresh:
        return Reply("这个结案请求已超过 10 分钟，没有执行。请重新发送“结案 姓名 原因”。")
    store = ctx.services.store
    closed = await CaseworkStore.of(store).close_cases(worker.station_id, [int(data["case_id"])], data["reason"])
    case = await CaseworkStore.of(store).case_by_id(int(data["case_id"]), worker.station_id, include_closed=True)
    if not closed or case is None:
        return Reply("这位服务对象已经结案了，没有重复操作。")
    await store.audit(
        actor(worker),
        "case.close",
        target=f"case:{case.id}",
        worker_id=worker.id,
        detail={"case_id": case.id, "reason": data["reason"]},
    )
    return Reply(f"已结案 ✅ {case.name}（#{case.id}），原因：{data['reason']}。\n30 分钟内发送“撤销结案”可以恢复。")


@router.message(UNDO_CLOSE)
async def undo_close(ctx: Context, worker: WorkerRecord) -> Reply:
    if not worker.is_lead:
        return Reply(LEADS_ONLY.format(what="撤销结案"))
    store = ctx.services.store
    since = ctx.services.clock.now() - UNDO_WINDOW
    last = await CaseworkStore.of(store).last_roster_change(worker.id, ("case.close", "case.reopen"), since)
    if last is None or last[0] != "case.close":
        return Reply("30 分钟内您没有结案操作可以撤销。已结案较久的对象，请管理员重新导入或联系技术支持。")
    case_id = int(last[1]["case_id"])
    if not await CaseworkStore.of(store).reopen_case(worker.station_id, case_id):
        return Reply("这位服务对象已经恢复在册了。")
    await store.audit(
        actor(worker), "case.reopen", target=f"case:{case_id}", worker_id=worker.id, detail={"case_id": case_id}
    )
    case = await CaseworkStore.of(store).case_by_id(case_id, worker.station_id)
    return Reply(f"已撤销结案 ↩️ {case.name if case else f'#{case_id}'} 恢复在册，提醒照常计算。")


# -- 转交 --------------------------------------------------------------------------------------------
@router.message(REASSIGN)
async def reassign(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    if not worker.is_lead:
        return Reply(LEADS_ONLY.format(what="转交"))
    case = await _case(ctx, worker, match.group(1), REASSIGN_USAGE, "转交")
    if isinstance(case, Reply):
        return case
    target_name = to_simplified(match.group(2))
    workers = [w for w, _ in await WorkersStore.of(ctx.services.store).list_workers(worker.station_id)]
    statuses = await WorkersStore.of(ctx.services.store).worker_statuses(worker.station_id)
    target = next((w for w in workers if w.name == target_name and statuses.get(w.id) == "active"), None)
    if target is None:
        names = "、".join(w.name for w in workers if statuses.get(w.id) == "active")
        return Reply(f"本站没有在职的社工“{target_name}”。可以转交给：{names}")
    if target.id == case.worker_id:
        return Reply(f"{case.name} 已经由 {target.name} 负责。")
    await ctx.set_state(
        RosterForm.reassign(),
        {
            "case_id": case.id,
            "to": target.id,
            "to_name": target.name,
            "asked": str(ctx.services.clock.now().timestamp()),
        },
    )
    return Reply(
        f"确认转交：{_describe(case)}\n改由 {target.name} 负责，之后的提醒发给 {target.name}。\n"
        "回复“确认”转交，“取消”放弃。",
        buttons=[Button("确认"), Button("取消")],
    )


@router.message(_confirm, state=RosterForm.reassign)
async def confirm_reassign(ctx: Context, worker: WorkerRecord) -> Reply:
    data, fresh = dict(ctx.state_data), _fresh(ctx)
    await ctx.clear_state()
    if not fresh:
        return Reply("这个转交请求已超过 10 分钟，没有执行。请重新发送“转交 姓名 给 社工”。")
    store = ctx.services.store
    case_id = int(data["case_id"])
    try:
        before = await CaseworkStore.of(store).reassign_case(worker.station_id, case_id, int(data["to"]))
    except ValueError as exc:
        return Reply(f"没有转交：{exc}。")
    await store.audit(
        actor(worker),
        "case.reassign",
        target=f"case:{case_id}",
        worker_id=worker.id,
        detail={"case_id": case_id, "from": before, "to": int(data["to"])},
    )
    case = await CaseworkStore.of(store).case_by_id(case_id, worker.station_id)
    name = case.name if case else f"#{case_id}"
    return Reply(f"已转交 ✅ {name} 改由 {data['to_name']} 负责。\n30 分钟内发送“撤销转交”可以恢复。")


@router.message(UNDO_REASSIGN)
async def undo_reassign(ctx: Context, worker: WorkerRecord) -> Reply:
    if not worker.is_lead:
        return Reply(LEADS_ONLY.format(what="撤销转交"))
    store = ctx.services.store
    since = ctx.services.clock.now() - UNDO_WINDOW
    last = await CaseworkStore.of(store).last_roster_change(worker.id, ("case.reassign", "case.reassign.undo"), since)
    if last is None or last[0] != "case.reassign":
        return Reply("30 分钟内您没有转交操作可以撤销。")
    case_id, before = int(last[1]["case_id"]), last[1].get("from")
    try:
        await CaseworkStore.of(store).reassign_case(worker.station_id, case_id, before)
    except ValueError as exc:
        return Reply(f"不能撤销：{exc}。")
    await store.audit(
        actor(worker),
        "case.reassign.undo",
        target=f"case:{case_id}",
        worker_id=worker.id,
        detail={"case_id": case_id, "to": before},
    )
    case = await CaseworkStore.of(store).case_by_id(case_id, worker.station_id)
    name, owner = (case.name, case.worker_name or "未分配") if case else (f"#{case_id}", "原社工")
    return Reply(f"已撤销转交 ↩️ {name} 恢复由 {owner} 负责。")


@router.message(_cancel, state=RosterForm)
async def cancel(ctx: Context) -> Reply:
    await ctx.clear_state()
    return Reply("已取消，名单没有改动。")
