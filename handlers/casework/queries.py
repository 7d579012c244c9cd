"""Workers' read-only views: 我的对象, 本月走访, 查 姓名. Each read is audited. (`本站统计` for leads is answered
by the reports feature from the monthly report; STATS stays here so that non-workers are told what it is.)"""

from __future__ import annotations

import re
from datetime import tzinfo

from bot.messages import Button, Reply
from bot.routing import Command, Context, Regex, Router
from bot.store import CaseRecord, VisitRecord, WorkerRecord
from handlers.casework.store import CaseworkStore
from handlers.casework.store_visits import AttachmentInfo
from handlers.casework.visit_form import format_day
from handlers.casework.visits import case_labels
from handlers.common.localtime import local_tz, month_bounds
from handlers.common.roles import IsWorker, actor, private_only
from knowledge.engine.normalize import to_simplified

router = Router("casework_queries", IsWorker(), guard=private_only)

MAX_LINES = 30
_QUERY = re.compile(r"^(?:查询|查看|查找|查)\s*[:：]?\s*(?:一下)?\s*(#\d{1,10}|[\u4e00-\u9fff·]{2,6})$")


def _case_line(n: int, c: CaseRecord, tz: tzinfo) -> str:
    last = f"上次走访 {format_day(c.last_visit_at, tz)}" if c.last_visit_at else "未走访"
    parts = [c.name, c.village, "、".join(c.categories), f"风险{c.risk_level}", c.phone_masked, last]
    return f"{n}. " + "｜".join(p for p in parts if p)


def _visit_line(v: VisitRecord, tz: tzinfo, with_case: bool = True) -> str:
    who = f"{v.case_name} " if with_case else ""
    flag = f" ⚠️{v.danger}" if v.danger else ""
    summary = "；".join(p for p in (v.findings, v.needs) if p)
    if len(summary) > 30:
        summary = summary[:30] + "…"
    return f"· {format_day(v.visited_at, tz)} {who}{v.mode}{flag}" + (f"：{summary}" if summary else "")


def _attachment_lines(attachments: list[AttachmentInfo]) -> list[str]:
    photos = [a for a in attachments if a.kind == "image"]
    places = [a for a in attachments if a.kind == "location"]
    lines = []
    if photos:
        captions = "；".join(a.label for a in photos if a.label)
        lines.append(f"  📷 照片 {len(photos)} 张" + (f"：{captions}" if captions else ""))
    lines += [f"  📍 位置：{a.place() or '未注明'}" for a in places]
    return lines


MY_CASES = Command("mycases", keywords={"我的对象", "我的服务对象", "我的个案", "对象名单"})
MY_VISITS = Command("myvisits", keywords={"本月走访", "我的走访", "本月记录", "这个月走访"})
STATS = Command("stats", keywords={"本站统计", "站点统计", "全站统计"})
WORKER_ONLY = (MY_CASES, MY_VISITS, STATS)  # non-workers are told these are for workers


@router.message(MY_CASES)
async def my_cases(ctx: Context, worker: WorkerRecord) -> Reply:
    store, tz = ctx.services.store, local_tz(ctx)
    cases = await CaseworkStore.of(store).cases_of_worker(worker.id)
    await store.audit(
        actor(worker), "case.read", target="cases:mine", worker_id=worker.id, detail={"count": len(cases)}
    )
    if not cases:
        return Reply("您名下还没有服务对象。服务对象由站长导入名单时分配。")
    lines = [_case_line(i, c, tz) for i, c in enumerate(cases[:MAX_LINES], 1)]
    more = f"\n…共 {len(cases)} 位，只列出前 {MAX_LINES} 位。" if len(cases) > MAX_LINES else ""
    return Reply(f"您负责的服务对象（{len(cases)} 位）：\n" + "\n".join(lines) + more)


@router.message(MY_VISITS)
async def my_visits(ctx: Context, worker: WorkerRecord) -> Reply:
    store, tz, now = ctx.services.store, local_tz(ctx), ctx.services.clock.now()
    start, end = month_bounds(now, tz)
    visits = await CaseworkStore.of(store).visits_of_worker(worker.id, start, end)
    await store.audit(
        actor(worker), "case.read", target="visits:mine:month", worker_id=worker.id, detail={"count": len(visits)}
    )
    month = now.astimezone(tz).month
    if not visits:
        return Reply(f"您{month}月还没有走访记录。发送“走访”开始记录。")
    lines = [_visit_line(v, tz) for v in visits[-MAX_LINES:]]
    cases = len({v.case_id for v in visits})
    return Reply(f"您{month}月共走访 {len(visits)} 次，{cases} 位对象：\n" + "\n".join(lines))


@router.message(Regex(_QUERY.pattern))
async def look_up(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    store, tz = ctx.services.store, local_tz(ctx)
    query = to_simplified(match.group(1))
    if query.startswith("#"):
        found = (
            [c]
            if (c := await CaseworkStore.of(store).case_by_id(int(query[1:]), worker.station_id)) is not None
            else []
        )
    else:
        found = await CaseworkStore.of(store).find_cases(worker.station_id, query)
        found = [c for c in found if c.name == query] or found
    if not found:
        return Reply(
            f"本站没有找到“{query}”。发送“我的对象”查看名单。\n如果是想问政策，请直接提问，例如：低保怎么申请？"
        )
    if len(found) > 1:
        await store.audit(actor(worker), "case.read", target=f"cases:search:{len(found)}", worker_id=worker.id)
        shown = found[:8]
        buttons = [Button(label, f"查 #{c.id}") for c, label in zip(shown, case_labels(shown, worker), strict=False)]
        return Reply(
            f"找到 {len(found)} 位，请选择：\n" + "\n".join(f"{i}. {b.label}" for i, b in enumerate(buttons, 1)),
            buttons=buttons,
        )
    case = found[0]
    visits = await CaseworkStore.of(store).visits_of_case(case.id, limit=5)
    await store.audit(actor(worker), "case.read", target=f"case:{case.id}", worker_id=worker.id)
    head = [
        f"{case.name}｜{case.village or '未填村居'}｜{'、'.join(case.categories) or '未分类'}",
        f"风险：{case.risk_level}｜负责社工：{case.worker_name or '未分配'}",
        f"电话：{case.phone_masked or '未登记'}｜身份证：{case.id_masked or '未登记'}",
    ]
    if case.address:
        head.append(f"住址：{case.address}")
    attached = await CaseworkStore.of(store).attachments_of([v.id for v in visits if v.attachments])
    body: list[str] = []
    for v in visits:
        body.append(_visit_line(v, tz, with_case=False) + f"（{v.worker_name}）")
        body += _attachment_lines(attached.get(v.id, []))
    body = body or ["· 还没有走访记录"]
    return Reply("\n".join(head) + "\n最近走访：\n" + "\n".join(body))
