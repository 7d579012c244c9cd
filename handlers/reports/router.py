"""Leads, admins and supervisors in chat: `本站统计 [上月|2026-11]`, `覆盖率`, `危险事件` (the same numbers as
`shegong report monthly`), and `看板` (a one-time link to the dashboard, handlers/reports/web.py). `逾期` stays with
the reminders feature, whose computation the report's overdue count is."""

from __future__ import annotations

import re
from typing import Any

from bot.messages import Reply
from bot.routing import Context, Regex, Router
from bot.store import WorkerRecord
from handlers.common.localtime import local_tz
from handlers.common.roles import IsWorker, private_only
from handlers.reports.chat import coverage_text, danger_text, stats_text
from handlers.reports.monthly import Month
from handlers.reports.service import ReportError, build_report
from handlers.reports.store import Viewer, viewer_for_user
from handlers.reports.web import LINK_MINUTES, SESSION_HOURS, new_link

router = Router("reports", guard=private_only)

_MONTH = r"(?:\s*(?P<month>上月|上个月|上個月|本月|这个月|這個月|\d{4}\s*[-年/.]\s*\d{1,2}\s*月?))?"
STATS = Regex(rf"^(?:本站统计|本站統計|站点统计|全站统计|月度统计|(?P<last>上月统计|上月統計)){_MONTH}$")
COVERAGE = Regex(rf"^(?:本站)?(?:覆盖率|覆蓋率|服务覆盖率){_MONTH}$")
DANGER = Regex(rf"^(?:危险事件|危險事件|未跟进危险事件){_MONTH}$")
LEAD_ONLY = "“{}”只对站长和督导开放。您可以发送“本月走访”查看自己的记录，“待办”查看到期事项。"


class IsViewer:
    """A bound lead, admin or supervisor; the handler receives them as `viewer`."""

    async def __call__(self, ctx: Context) -> dict[str, Any] | None:
        if ctx.user is None or (ctx.status is not None and not ctx.status.is_worker):
            return None
        if not ctx.incoming.sender_verified:  # bot/trust.py: a sender the channel could not authenticate
            return None
        viewer = await viewer_for_user(ctx.services.store, ctx.user.id)
        return {"viewer": viewer} if viewer is not None else None


def month_asked(ctx: Context, match: re.Match[str]) -> Month:
    now = ctx.services.clock.now()
    current = Month.of(now, local_tz(ctx))
    said = match.groupdict().get("month") or ""
    if match.groupdict().get("last") or said.startswith("上"):
        return current.shift(-1)
    if said and said[0].isdigit():
        return Month.parse(re.sub(r"\s+", "", said))
    return current


async def _report(ctx: Context, viewer: Viewer, match: re.Match[str], what: str) -> dict[str, object] | Reply:
    try:
        month = month_asked(ctx, match)
        report = await build_report(ctx.services.store, viewer.area, month, ctx.services.clock.now())
    except (ReportError, ValueError) as exc:
        return Reply(str(exc))
    await ctx.services.store.audit(
        f"worker:{viewer.worker_id}",
        "report.read",
        target=f"{viewer.area.scope}",
        worker_id=viewer.worker_id,
        detail={"month": str(month), "view": what},
    )
    return report


@router.message(STATS, IsViewer())
async def stats(ctx: Context, viewer: Viewer, match: re.Match[str]) -> Reply:
    report = await _report(ctx, viewer, match, "stats")
    return report if isinstance(report, Reply) else Reply(stats_text(report))


@router.message(COVERAGE, IsViewer())
async def coverage(ctx: Context, viewer: Viewer, match: re.Match[str]) -> Reply:
    report = await _report(ctx, viewer, match, "coverage")
    return report if isinstance(report, Reply) else Reply(coverage_text(report))


@router.message(DANGER, IsViewer())
async def danger(ctx: Context, viewer: Viewer, match: re.Match[str]) -> Reply:
    report = await _report(ctx, viewer, match, "danger")
    return report if isinstance(report, Reply) else Reply(danger_text(report))


DASHBOARD = Regex(r"^(?:看板|睇板|数据看板|數據看板|/dashboard)$")


@router.message(DASHBOARD, IsViewer())
async def dashboard(ctx: Context, viewer: Viewer) -> Reply:
    try:
        link = await new_link(ctx.services, viewer)
    except ValueError as exc:
        return Reply(str(exc))
    return Reply(
        f"📊 {viewer.area.label} 看板：\n{link}\n链接 {LINK_MINUTES} 分钟内有效，只能打开一次；"
        f"打开后 {SESSION_HOURS} 小时内可用。请不要转发给他人。"
    )


for _command, _name in ((STATS, "本站统计"), (COVERAGE, "覆盖率"), (DANGER, "危险事件"), (DASHBOARD, "看板")):

    def _refuse(name: str) -> Any:
        async def refuse(ctx: Context, worker: WorkerRecord) -> Reply:
            return Reply(LEAD_ONLY.format(name))

        return refuse

    router.message(_command, IsWorker())(_refuse(_name))
