"""The dashboard on the web: a one-time link from chat (`看板`) opens an 8-hour session; pages for a lead's
station and a supervisor's area, the case list and case page, downloads. Scope is checked on every request,
here on the server: a lead sees their own station; a supervisor sees aggregates and masked lists of the
stations in their area, and no case page.

Links and sessions live in the database (shared_values) under a hash of their random token, so a used,
expired or logged-out one cannot be replayed, from this process or another. The cookie is HttpOnly,
SameSite=Lax, signed with a key derived from SHEGONG_SECRET_KEY, and Secure when the public URL is https."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.crypto import UnavailableSecrets
from bot.services import Services
from handlers.casework.store import CaseworkStore
from handlers.common.area import Area
from handlers.common.localtime import zone
from handlers.reminders import compute_due
from handlers.reports.monthly import Month
from handlers.reports.pages import case_list, case_page, message_page, overview, page
from handlers.reports.service import ReportError, build_report, reminder_rules
from handlers.reports.store import (
    LINK_PREFIX,
    SESSION_PREFIX,
    Viewer,
    case_numbers,
    end_session,
    save_token,
    session_worker,
    station_cases,
    stations_in,
    take_link,
    viewer_by_id,
)
from handlers.reports.xlsx import write_report_xlsx

LINK_MINUTES = 10
SESSION_HOURS = 8
COOKIE = "shegong_dash"
STATIC_DIR = Path(__file__).resolve().parent / "static"
AREA_CACHE_SECONDS = 30  # an area's report (many stations) is reused this long; a station's is always fresh
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'",
}
Handler = Callable[[web.Request, Viewer, str], Awaitable[web.StreamResponse]]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def new_link(services: Services, viewer: Viewer) -> str:
    """A single-use login link, valid LINK_MINUTES; raises ValueError (Chinese) when links cannot be made."""
    base = services.settings.public_url.strip().rstrip("/")
    if not base:
        raise ValueError("管理员还没有设置看板地址（SHEGONG_PUBLIC_URL），暂时不能打开看板。")
    if isinstance(services.store.secrets, UnavailableSecrets):
        raise ValueError("系统还没有配置加密密钥，暂时不能打开看板，请联系管理员。")
    token = secrets.token_urlsafe(24)
    await save_token(
        services.store,
        LINK_PREFIX,
        _hash(token),
        viewer.worker_id,
        services.clock.now() + timedelta(minutes=LINK_MINUTES),
    )
    return f"{base}/dashboard/login?t={token}"


class Dashboard:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._area_cache: dict[tuple[str, str], tuple[float, dict[str, object]]] = {}

    # -- sessions ------------------------------------------------------------------------------
    def _sign(self, sid: str) -> str:
        return self.services.store.secrets.lookup_hash("dashboard-cookie:" + sid)[:32]

    def _csrf(self, sid: str) -> str:
        return self.services.store.secrets.lookup_hash("dashboard-csrf:" + sid)[:32]

    def _sid(self, request: web.Request) -> str | None:
        sid, _, signature = request.cookies.get(COOKIE, "").partition(".")
        if not sid or not hmac.compare_digest(signature.encode(), self._sign(sid).encode()):
            return None
        return sid

    async def login(self, request: web.Request) -> web.StreamResponse:
        worker_id = await take_link(self.services.store, _hash(request.query.get("t", "")))
        viewer = await viewer_by_id(self.services.store, worker_id) if worker_id is not None else None
        if viewer is None:
            return _html(
                message_page(
                    "链接已失效",
                    "这个看板链接已用过或已过期（10 分钟内有效，只能打开一次）。请在聊天里重新发送“看板”获取新链接。",
                ),
                status=403,
            )
        sid = secrets.token_urlsafe(32)
        await save_token(
            self.services.store,
            SESSION_PREFIX,
            _hash(sid),
            viewer.worker_id,
            self.services.clock.now() + timedelta(hours=SESSION_HOURS),
        )
        await self.services.store.audit(
            f"worker:{viewer.worker_id}", "dashboard.login", target=viewer.area.scope, worker_id=viewer.worker_id
        )
        response = web.HTTPSeeOther("/dashboard/")
        response.set_cookie(
            COOKIE,
            f"{sid}.{self._sign(sid)}",
            max_age=SESSION_HOURS * 3600,
            path="/dashboard",
            httponly=True,
            samesite="Lax",
            secure=self.services.settings.public_url.startswith("https://"),
        )
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        sid = self._sid(request)
        form = await request.post()
        if sid is not None and hmac.compare_digest(str(form.get("csrf", "")).encode(), self._csrf(sid).encode()):
            await end_session(self.services.store, _hash(sid))
        response = _html(message_page("已退出", "已退出看板。需要时请在聊天里重新发送“看板”。"))
        response.del_cookie(COOKIE, path="/dashboard")
        return response

    def guarded(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            sid = self._sid(request)
            worker_id = await session_worker(self.services.store, _hash(sid)) if sid else None
            viewer = await viewer_by_id(self.services.store, worker_id) if worker_id is not None else None
            if viewer is None or sid is None:
                return _html(
                    message_page(
                        "请先登录",
                        "请在聊天里发送“看板”，点开收到的链接登录（链接 10 分钟内有效，登录后 8 小时内可用）。",
                    ),
                    status=401,
                )
            return await handler(request, viewer, self._csrf(sid))

        return run

    # -- data ----------------------------------------------------------------------------------
    def _month(self, request: web.Request) -> Month:
        try:
            return Month.parse(request.query["month"]) if request.query.get("month") else self._this_month()
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc

    def _this_month(self) -> Month:
        return Month.of(self.services.clock.now(), zone(self.services.settings.timezone))

    async def _station_of(self, request: web.Request, viewer: Viewer) -> tuple[int, str] | None:
        """The station asked for (`station` query or path), if the viewer may see it; None = the viewer's area."""
        asked = request.match_info.get("station_id") or request.query.get("station")
        if not asked:
            if viewer.station_id is not None:
                return viewer.station_id, viewer.area.name
            return None
        if not asked.isdigit():
            raise web.HTTPNotFound()
        found = {s.id: s.name for s in await stations_in(self.services.store, viewer.area)}
        if int(asked) not in found:
            raise web.HTTPForbidden(text="无权查看这个社工站。")
        return int(asked), found[int(asked)]

    async def _report(self, viewer: Viewer, station: tuple[int, str] | None, month: Month) -> dict[str, object]:
        area = viewer.area if station is None else Area("station", station[1])
        key = (area.scope, str(month))
        cached = self._area_cache.get(key)
        if area.level != "station" and cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            report = await build_report(self.services.store, area, month, self.services.clock.now())
        except ReportError as exc:
            raise web.HTTPNotFound(text=str(exc)) from exc
        if area.level != "station":
            self._area_cache[key] = (time.monotonic() + AREA_CACHE_SECONDS, report)
        return report

    async def _due(self, station_id: int) -> dict[int, list[tuple[str, str, int]]]:
        today = self.services.clock.now().astimezone(self.services.store.tz).date()
        found: dict[int, list[tuple[str, str, int]]] = {}
        for d in await compute_due(self.services.store, reminder_rules(), today, station_id=station_id):
            found.setdefault(d.case_id, []).append((d.item.name, d.due_date.isoformat(), d.days_overdue))
        return found

    # -- pages ---------------------------------------------------------------------------------
    async def home(self, request: web.Request, viewer: Viewer, csrf: str) -> web.StreamResponse:
        station = await self._station_of(request, viewer)
        month = self._month(request)
        report = await self._report(viewer, station, month)
        if station is not None and viewer.is_supervisor:
            base, title = f"/dashboard/station/{station[0]}", f"{station[1]} 看板"
        else:
            base, title = "/dashboard/", f"{viewer.area.label} 看板"
        body = overview(report, viewer, csrf, base, station[0] if station and viewer.is_supervisor else None)
        if station is not None and viewer.is_supervisor:
            body += (
                f'<section class="wide"><a class="button" href="/dashboard/cases?station={station[0]}">'
                '对象名单（脱敏）</a> <a class="button" href="/dashboard/">返回本地区</a></section>'
            )
        await self.services.store.audit(
            f"worker:{viewer.worker_id}",
            "report.read",
            worker_id=viewer.worker_id,
            target=f"station:{station[1]}" if station else viewer.area.scope,
            detail={"month": str(month), "via": "dashboard"},
        )
        return _html(page(title, viewer, body, csrf, month.label))

    async def cases(self, request: web.Request, viewer: Viewer, csrf: str) -> web.StreamResponse:
        station = await self._station_of(request, viewer)
        if station is None:
            raise web.HTTPBadRequest(text="请从社工站页面进入对象名单。")
        lines = await station_cases(self.services.store, station[0])
        due = await self._due(station[0])
        filters = {k: request.query.get(k, "") for k in ("worker", "category", "overdue", "station")}
        workers = sorted({(c.worker_id, c.worker_name) for c in lines if c.worker_id is not None}, key=lambda w: w[1])
        categories = sorted({cat for c in lines for cat in c.categories})
        shown = [
            c
            for c in lines
            if (not filters["worker"] or str(c.worker_id) == filters["worker"])
            and (not filters["category"] or filters["category"] in c.categories)
            and (not filters["overdue"] or any(d[2] > 0 for d in due.get(c.id, [])))
        ]
        await self.services.store.audit(
            f"worker:{viewer.worker_id}",
            "case.read",
            worker_id=viewer.worker_id,
            target=f"cases:station:{station[0]}",
            detail={"count": len(shown), "via": "dashboard"},
        )
        body = case_list(
            shown,
            due,
            self.services.store.tz,
            filters,
            [(i or 0, n) for i, n in workers],
            categories,
            masked=viewer.is_supervisor,
        )
        return _html(page(f"{station[1]} 服务对象", viewer, body, csrf))

    async def _case(self, request: web.Request, viewer: Viewer) -> Any:
        if viewer.is_supervisor or viewer.station_id is None:
            raise web.HTTPForbidden(text="督导可以查看汇总和脱敏名单，不能查看个案详情。")
        case_id = request.match_info["case_id"]
        case = (
            await CaseworkStore.of(self.services.store).case_by_id(int(case_id), viewer.station_id)
            if case_id.isdigit()
            else None
        )
        if case is None:
            raise web.HTTPForbidden(text="无权查看这个服务对象（不属于本站）。")
        return case

    async def case(
        self, request: web.Request, viewer: Viewer, csrf: str, revealed: tuple[str, str] | None = None, error: str = ""
    ) -> web.StreamResponse:
        case = await self._case(request, viewer)
        store = self.services.store
        visits = await CaseworkStore.of(store).visits_of_case(case.id, limit=100)
        due = sorted((await self._due(viewer.station_id or 0)).get(case.id, []), key=lambda d: d[1])
        await store.audit(
            f"worker:{viewer.worker_id}",
            "case.read",
            target=f"case:{case.id}",
            worker_id=viewer.worker_id,
            detail={"via": "dashboard"},
        )
        return _html(page(case.name, viewer, case_page(case, visits, due, store.tz, csrf, revealed, error), csrf))

    async def reveal(self, request: web.Request, viewer: Viewer, csrf: str) -> web.StreamResponse:
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")).encode(), csrf.encode()):
            raise web.HTTPForbidden(text="页面已过期，请刷新后重试。")
        case = await self._case(request, viewer)
        reason = " ".join(str(form.get("reason", "")).split())[:100]
        if len(reason) < 2:
            return await self.case(request, viewer, csrf, error="请写明查看完整号码的原因。")
        numbers = await case_numbers(self.services.store, case.id, viewer.station_id or 0)
        await self.services.store.audit(
            f"worker:{viewer.worker_id}",
            "case.reveal",
            target=f"case:{case.id}",
            worker_id=viewer.worker_id,
            detail={"reason": reason, "via": "dashboard"},
        )
        return await self.case(request, viewer, csrf, revealed=numbers)

    async def download(self, request: web.Request, viewer: Viewer, csrf: str) -> web.StreamResponse:
        station = await self._station_of(request, viewer)
        month = self._month(request)
        report = await self._report(viewer, station, month)
        kind = request.match_info["kind"]
        name = f"{report['area']['name']}-{month}"  # type: ignore[index]
        await self.services.store.audit(
            f"worker:{viewer.worker_id}",
            "report.export",
            worker_id=viewer.worker_id,
            target=f"station:{station[1]}" if station else viewer.area.scope,
            detail={"month": str(month), "format": kind, "via": "dashboard"},
        )
        if kind == "xlsx":
            buffer = io.BytesIO()
            cases = None
            if station is not None and not viewer.is_supervisor:
                cases = {
                    w["worker_id"]: await CaseworkStore.of(self.services.store).cases_of_worker(w["worker_id"])
                    for w in report["workers"]  # type: ignore[attr-defined]
                    if w["worker_id"] is not None
                }
            write_report_xlsx(report, buffer, cases)
            return _download(
                buffer.getvalue(), f"{name}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
        return _download(report_csv(report).encode("utf-8-sig"), f"{name}.csv", "text/csv; charset=utf-8")


def report_csv(report: dict[str, Any]) -> str:
    """One row per worker (a station) or per station (an area), with the month's coverage."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if report["area"]["level"] == "station":
        writer.writerow(["月份", "社工站", "社工", "负责对象", "已服务", "覆盖率", "入户", "走访次数", "逾期事项"])
        for w in report["workers"]:
            writer.writerow(
                [
                    report["month"],
                    w["station"],
                    w["name"],
                    w["cases"],
                    w["served"],
                    w["served_rate"],
                    w["home_visited"],
                    w["visits"],
                    w["overdue"],
                ]
            )
    else:
        writer.writerow(
            [
                "月份",
                "社工站",
                "市",
                "县区",
                "镇街",
                "在册",
                "已服务",
                "覆盖率",
                "入户",
                "入户率",
                "走访次数",
                "逾期事项",
                "危险事件",
                "未跟进",
            ]
        )
        for s in report["stations"]:
            writer.writerow(
                [
                    report["month"],
                    s["name"],
                    s["city"],
                    s["district"],
                    s["town"],
                    s["active_cases"],
                    s["served"],
                    s["served_rate"],
                    s["home_visited"],
                    s["home_rate"],
                    s["visits"],
                    s["overdue"],
                    s["danger_events"],
                    s["danger_open"],
                ]
            )
    return out.getvalue()


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


def _download(body: bytes, filename: str, content_type: str) -> web.Response:
    return web.Response(
        body=body,
        headers={
            **PAGE_HEADERS,
            "Content-Type": content_type,
            "Content-Disposition": f"attachment; filename=\"report\"; filename*=UTF-8''{quote(filename)}",
        },
    )


def routes(services: Services) -> list[web.AbstractRouteDef]:
    d = Dashboard(services)
    return [
        web.get("/dashboard/login", d.login),
        web.post("/dashboard/logout", d.logout),
        web.get("/dashboard/", d.guarded(d.home)),
        web.get("/dashboard", d.guarded(d.home)),
        web.get("/dashboard/station/{station_id}", d.guarded(d.home)),
        web.get("/dashboard/cases", d.guarded(d.cases)),
        web.get("/dashboard/case/{case_id}", d.guarded(d.case)),
        web.post("/dashboard/case/{case_id}/reveal", d.guarded(d.reveal)),
        web.get("/dashboard/download/report.{kind:xlsx|csv}", d.guarded(d.download)),
        web.static("/dashboard/static", STATIC_DIR),
    ]
