"""The dashboard's HTML (Simplified Chinese, phone first). Everything is escaped here; charts are svg.py's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from html import escape
from typing import Any
from urllib.parse import urlencode

from bot.store import CaseRecord, VisitRecord
from handlers.reports.chat import pct
from handlers.reports.monthly import Month
from handlers.reports.store import CaseLine, Viewer
from handlers.reports.svg import coverage_bars, trend_chart

MAX_ROWS = 200


def mask_name(name: str) -> str:
    """张桂英 → 张*英, 李四 → 李*: supervisors see lists without full names."""
    if len(name) <= 1:
        return name
    return name[0] + "*" * (len(name) - 2) + name[-1] if len(name) > 2 else name[0] + "*"


def page(title: str, viewer: Viewer | None, body: str, csrf: str = "", subtitle: str = "") -> str:
    nav = ""
    if viewer is not None:
        nav = (
            '<nav><a href="/dashboard/">总览</a>'
            + (
                ""
                if viewer.is_supervisor
                else '<a href="/dashboard/cases">对象名单</a><a href="/dashboard/cases?overdue=1">逾期</a>'
            )
            + f'<form method="post" action="/dashboard/logout"><input type="hidden" name="csrf" value="{csrf}">'
            '<button type="submit">退出</button></form></nav>'
        )
    who = f"{escape(viewer.name)}（{escape(viewer.area.label)}）" if viewer else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} - 社工助手看板</title>"
        '<link rel="stylesheet" href="/dashboard/static/dashboard.css"></head><body>'
        f'<header><h1>{escape(title)}</h1><div class="sub">{escape(subtitle)} {who}</div></header>'
        f"{nav}<main>{body}</main></body></html>"
    )


def message_page(title: str, text: str) -> str:
    return page(title, None, f'<section class="wide"><p>{escape(text)}</p></section>')


def _figures(totals: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    items = [
        ("覆盖率", pct(totals["served_rate"]), "served-rate"),
        ("已服务", f"{totals['served']}/{totals['active_cases']}", "served"),
        ("入户率", pct(totals["home_rate"]), "home-rate"),
        ("走访次数", str(totals["visits"]), "visits"),
        ("逾期事项", str(report["overdue"]["items"]), "overdue"),
        ("未跟进危险", str(report["danger"]["open"]), "danger-open"),
    ]
    return (
        '<div class="figures">'
        + "".join(
            f'<div class="figure"><b data-key="{key}">{escape(value)}</b><span>{escape(label)}</span></div>'
            for label, value, key in items
        )
        + "</div>"
    )


def _month_links(month: Month, base: str) -> str:
    prev, nxt = month.shift(-1), month.shift(1)
    return (
        f'<p class="muted"><a href="{base}?month={prev}">← {prev.label}</a> · {month.label} · '
        f'<a href="{base}?month={nxt}">{nxt.label} →</a></p>'
    )


def overview(
    report: Mapping[str, Any], viewer: Viewer, csrf: str, base: str = "/dashboard/", station_id: int | None = None
) -> str:
    month = Month.parse(report["month"])
    area = report["area"]
    totals = report["totals"]
    masked = viewer.is_supervisor
    query = {"month": str(month), **({"station": str(station_id)} if station_id is not None else {})}
    downloads = (
        f'<a class="button" href="/dashboard/download/report.xlsx?{escape(urlencode(query))}">下载 XLSX</a> '
        f'<a class="button" href="/dashboard/download/report.csv?{escape(urlencode(query))}">下载 CSV</a>'
    )
    body = [
        (
            f'<section class="wide">{_month_links(month, base)}{_figures(totals, report)}'
            f'<p class="muted">在册 {totals["active_cases"]} 人；统计期间 {report["period"]["from"]} 至 '
            f"{report['period']['to']}；逾期截至 {report['overdue']['as_of']}</p><p>{downloads}</p></section>"
        )
    ]
    cats = [(c["category"], c["served_rate"], f"{c['served']}/{c['active_cases']}") for c in report["categories"]]
    body.append(f"<section><h2>各类别覆盖率（目标 100%）</h2>{coverage_bars(cats, '各类别覆盖率')}</section>")
    if area["level"] == "station":
        people = [(w["name"], w["served_rate"], f"{w['served']}/{w['cases']}") for w in report["workers"] if w["cases"]]
        body.append(
            f"<section><h2>各社工覆盖率</h2>{coverage_bars(people, '各社工覆盖率')}"
            + _worker_table(report["workers"], None if masked else station_id)
            + "</section>"
        )
    else:
        body.append(
            "<section><h2>各社工站覆盖率（由高到低）</h2>" + _station_table(report["stations"], month) + "</section>"
        )
    points = [(t["month"][5:].lstrip("0") + "月", t["served_rate"], t["home_rate"]) for t in report["trend"]]
    body.append(f"<section><h2>近七个月趋势</h2>{trend_chart(points, '近七个月覆盖率')}</section>")
    overdue = report["overdue"]["list"]
    rows = "".join(
        f"<tr><td>{escape(mask_name(o['case_name']) if masked else o['case_name'])}</td>"
        f"<td>{escape(o['item'])}</td><td>{escape(o['worker'])}</td>"
        f'<td class="num warn">{o["days_overdue"]} 天</td></tr>'
        for o in overdue[:50]
    )
    more = f'<p class="muted">共 {len(overdue)} 项，只列出前 50 项。</p>' if len(overdue) > 50 else ""
    body.append(
        f"<section><h2>逾期事项（{len(overdue)}）</h2><table><tr><th>对象</th><th>事项</th><th>社工</th>"
        f'<th class="num">逾期</th></tr>{rows}</table>{more}</section>'
    )
    open_events = [e for e in report["danger"]["list"] if not e["followed_up"]]
    rows = "".join(
        f"<tr><td>{escape(e['date'][5:])}</td><td>{escape(mask_name(e['case_name']) if masked else e['case_name'])}"
        f"{'（' + escape(e['station']) + '）' if area['level'] != 'station' else ''}</td>"
        f'<td class="warn">{escape(e["danger"] or "风险" + e["risk_after"])}</td></tr>'
        for e in open_events
    )
    body.append(
        f"<section><h2>未跟进的危险事件（{len(open_events)}）</h2>"
        + (
            f"<table><tr><th>日期</th><th>对象</th><th>情况</th></tr>{rows}</table>"
            if rows
            else '<p class="ok">没有</p>'
        )
        + f'<p class="muted">本月危险事件 {report["danger"]["events"]} 起，已跟进 {report["danger"]["followed_up"]} 起'
        "（之后有再次走访即算跟进）。</p></section>"
    )
    handoff = report["handoff"]
    median = handoff["median_first_response_minutes"]
    body.append(
        f"<section><h2>转人工与需求</h2><p>转人工 {handoff['tickets']} 次，已回复 {handoff['answered']} 次"
        + (f"，首次回复中位 {median:g} 分钟" if median is not None else "")
        + "</p>"
        + '<table><tr><th>类别</th><th class="num">需求</th><th class="num">服务</th></tr>'
        + "".join(
            f'<tr><td>{escape(k)}</td><td class="num">{v}</td><td class="num">{report["services"].get(k, 0)}</td></tr>'
            for k, v in report["needs"].items()
            if v or report["services"].get(k, 0)
        )
        + "</table></section>"
    )
    return "".join(body)


def _worker_table(workers: Sequence[Mapping[str, Any]], link_station: int | None) -> str:
    rows = []
    for w in workers:
        name = escape(w["name"])
        if w["worker_id"] is not None:
            name = f'<a href="/dashboard/cases?{escape(urlencode({"worker": w["worker_id"]}))}">{name}</a>'
        rows.append(
            f'<tr><td>{name}</td><td class="num">{w["served"]}/{w["cases"]}</td>'
            f'<td class="num">{pct(w["served_rate"])}</td><td class="num">{w["visits"]}</td>'
            f'<td class="num{" warn" if w["overdue"] else ""}">{w["overdue"]}</td></tr>'
        )
    return (
        '<table><tr><th>社工</th><th class="num">已服务</th><th class="num">覆盖率</th><th class="num">走访</th>'
        f'<th class="num">逾期</th></tr>{"".join(rows)}</table>'
    )


def _station_table(stations: Sequence[Mapping[str, Any]], month: Month) -> str:
    rows = "".join(
        f'<tr><td>{n}. <a href="/dashboard/station/{s["station_id"]}?month={month}">{escape(s["name"])}</a>'
        f'<div class="muted">{escape(" ".join(p for p in (s["district"], s["town"]) if p))}</div></td>'
        f'<td class="num" data-station="{s["station_id"]}">{pct(s["served_rate"])}</td>'
        f'<td class="num">{s["served"]}/{s["active_cases"]}</td><td class="num">{s["overdue"]}</td>'
        f'<td class="num{" warn" if s["danger_open"] else ""}">{s["danger_open"]}</td></tr>'
        for n, s in enumerate(stations, 1)
    )
    return (
        '<table><tr><th>社工站</th><th class="num">覆盖率</th><th class="num">已服务</th><th class="num">逾期</th>'
        f'<th class="num">未跟进危险</th></tr>{rows}</table>'
    )


def case_list(
    cases: Sequence[CaseLine],
    due: Mapping[int, list[tuple[str, str, int]]],
    tz: tzinfo,
    filters: Mapping[str, str],
    workers: Sequence[tuple[int, str]],
    categories: Sequence[str],
    masked: bool,
) -> str:
    def option(value: str, label: str, chosen: str) -> str:
        return f'<option value="{escape(value)}"{" selected" if value == chosen else ""}>{escape(label)}</option>'

    form = (
        '<form class="filters" method="get" action="/dashboard/cases">'
        + (
            f'<input type="hidden" name="station" value="{escape(filters["station"])}">'
            if filters.get("station")
            else ""
        )
        + '<select name="worker">'
        + option("", "全部社工", filters.get("worker", ""))
        + "".join(option(str(i), n, filters.get("worker", "")) for i, n in workers)
        + "</select>"
        + '<select name="category">'
        + option("", "全部类别", filters.get("category", ""))
        + "".join(option(c, c, filters.get("category", "")) for c in categories)
        + "</select>"
        + '<label><input type="checkbox" name="overdue" value="1"'
        + (" checked" if filters.get("overdue") else "")
        + "> 只看逾期</label>"
        + '<button type="submit">筛选</button></form>'
    )
    rows = []
    for c in cases[:MAX_ROWS]:
        items = due.get(c.id, [])
        overdue = [i for i in items if i[2] > 0]
        next_due = min(items, key=lambda i: i[1])[1][5:] if items else "—"
        name = escape(mask_name(c.name) if masked else c.name)
        if not masked:
            name = f'<a href="/dashboard/case/{c.id}">{name}</a>'
        last = c.last_visit_at.astimezone(tz).strftime("%m-%d") if c.last_visit_at else "未走访"
        rows.append(
            f'<tr><td>{name}<div class="muted">{escape(c.village)} {escape("、".join(c.categories))}</div></td>'
            f"<td>{escape(c.worker_name or '未分配')}</td><td>{last}</td>"
            f'<td class="{"warn" if overdue else ""}">{escape(next_due)}'
            + (f'<div class="warn">逾期 {len(overdue)} 项</div>' if overdue else "")
            + "</td></tr>"
        )
    more = f'<p class="muted">共 {len(cases)} 人，只列出前 {MAX_ROWS} 人。</p>' if len(cases) > MAX_ROWS else ""
    return (
        f'<section class="wide">{form}<p class="muted">共 {len(cases)} 人</p>'
        "<table><tr><th>对象</th><th>社工</th><th>上次走访</th><th>到期</th></tr>"
        f"{''.join(rows)}</table>{more}</section>"
    )


def case_page(
    case: CaseRecord,
    visits: Sequence[VisitRecord],
    due: Sequence[tuple[str, str, int]],
    tz: tzinfo,
    csrf: str,
    revealed: tuple[str, str] | None = None,
    error: str = "",
) -> str:
    id_text, phone_text = revealed if revealed else (case.id_masked or "未登记", case.phone_masked or "未登记")
    head = (
        f'<section class="wide"><p>{escape(case.village or "未填村居")}｜'
        f'{escape("、".join(case.categories) or "未分类")}'
        f"｜风险 {escape(case.risk_level)}｜负责社工 {escape(case.worker_name or '未分配')}</p>"
        f'<p>身份证：<span data-key="id">{escape(id_text)}</span>　'
        f'电话：<span data-key="phone">{escape(phone_text)}</span></p>'
    )
    if case.address:
        head += f"<p>住址：{escape(case.address)}</p>"
    if revealed is None:
        head += (
            f'<form class="reveal" method="post" action="/dashboard/case/{case.id}/reveal">'
            f'<input type="hidden" name="csrf" value="{csrf}">'
            '<input type="text" name="reason" placeholder="显示完整号码的原因（会记入审计日志）" size="28" required>'
            '<button type="submit">显示完整</button></form>' + (f'<p class="warn">{escape(error)}</p>' if error else "")
        )
    else:
        head += '<p class="muted">已显示完整号码，本次查看已记入审计日志。</p>'
    head += "</section>"
    warn = ' class="warn"'
    items = "".join(
        f"<li{warn if d > 0 else ''}>{escape(name)}：{escape(day)}" + (f"（逾期 {d} 天）" if d > 0 else "") + "</li>"
        for name, day, d in due
    )
    body = [head, f"<section><h2>到期事项</h2><ul>{items or '<li>没有</li>'}</ul></section>"]
    rows = "".join(
        f"<tr><td>{v.visited_at.astimezone(tz).strftime('%Y-%m-%d')}</td><td>{escape(v.mode)}</td>"
        f"<td>{escape('；'.join(p for p in (v.findings, v.needs, v.services) if p))}"
        + (f'<div class="warn">⚠ {escape(v.danger)}</div>' if v.danger else "")
        + (f'<div class="muted">附件 {v.attachments} 个</div>' if v.attachments else "")
        + f"</td><td>{escape(v.worker_name)}</td></tr>"
        for v in visits
    )
    body.append(
        f"<section><h2>走访记录（{len(visits)}）</h2><table><tr><th>日期</th><th>方式</th><th>情况</th><th>社工</th></tr>"
        f"{rows}</table></section>"
    )
    return "".join(body)
