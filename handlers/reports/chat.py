"""Short chat texts made from the monthly report dict (the same numbers as the file and the dashboard)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.reports.monthly import Month

MAX_NAMES = 8


def pct(value: object) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]


def _day(iso: str) -> str:
    _, month, day = iso.split("-")
    return f"{int(month)}月{int(day)}日"


def stats_text(report: Mapping[str, Any]) -> str:
    month = Month.parse(report["month"])
    t, area = report["totals"], report["area"]
    lines = [
        f"📊 {area['name']} {month.label}统计",
        (
            f"在册 {t['active_cases']} 人，已服务 {t['served']} 人，覆盖率 {pct(t['served_rate'])}；"
            f"入户 {t['home_visited']} 人（{pct(t['home_rate'])}）；走访 {t['visits']} 次"
        ),
    ]
    if area["level"] == "station":
        people = [
            f"{w['name']} {w['served']}/{w['cases']} {pct(w['served_rate'])} 走访{w['visits']} 逾期{w['overdue']}"
            for w in report["workers"]
            if w["cases"] or w["visits"] or w["overdue"]
        ]
        lines.append("各社工：" + ("；".join(people[:MAX_NAMES]) or "无"))
    else:
        ranked = [f"{s['name']} {pct(s['served_rate'])}" for s in report["stations"]]
        lines.append(
            f"各站覆盖率（{len(ranked)} 个站，由高到低）："
            + "；".join(ranked[:MAX_NAMES])
            + ("…" if len(ranked) > MAX_NAMES else "")
        )
    danger, handoff = report["danger"], report["handoff"]
    lines.append(
        f"逾期 {report['overdue']['items']} 项（截至{_day(report['overdue']['as_of'])}）；"
        f"危险事件 {danger['events']} 起，未跟进 {danger['open']} 起"
    )
    if handoff["tickets"]:
        median = handoff["median_first_response_minutes"]
        lines.append(
            f"转人工 {handoff['tickets']} 次" + (f"，首次回复中位 {median:g} 分钟" if median is not None else "")
        )
    previous = report["trend"][-2]
    lines.append(f"上月覆盖率 {pct(previous['served_rate'])} → 本月 {pct(t['served_rate'])}")
    lines.append("发送“看板”打开详细看板。")
    return "\n".join(lines)


def coverage_text(report: Mapping[str, Any]) -> str:
    month = Month.parse(report["month"])
    t = report["totals"]
    lines = [
        (
            f"📈 {report['area']['name']} {month.label}覆盖率 {pct(t['served_rate'])}"
            f"（{t['served']}/{t['active_cases']}），入户 {pct(t['home_rate'])}"
        )
    ]
    cats = [
        f"{c['category']} {pct(c['served_rate'])}（{c['served']}/{c['active_cases']}）" for c in report["categories"]
    ]
    lines.append("按类别：" + ("；".join(cats) or "无"))
    if report["area"]["level"] == "station":
        behind = sorted((w for w in report["workers"] if w["cases"]), key=lambda w: (w["served_rate"] or 0, w["name"]))
        lines.append(
            "按社工（低的在前）："
            + (
                "；".join(
                    f"{w['name']} {pct(w['served_rate'])}（{w['served']}/{w['cases']}）" for w in behind[:MAX_NAMES]
                )
                or "无"
            )
        )
    else:
        low = sorted(report["stations"], key=lambda s: (s["served_rate"] or 0, s["name"]))
        lines.append("覆盖率最低的站：" + ("；".join(f"{s['name']} {pct(s['served_rate'])}" for s in low[:5]) or "无"))
    return "\n".join(lines)


def danger_text(report: Mapping[str, Any]) -> str:
    month = Month.parse(report["month"])
    danger = report["danger"]
    if not danger["events"]:
        return f"✅ {report['area']['name']} {month.label}没有危险事件。"
    lines = [
        (
            f"⚠️ {report['area']['name']} {month.label}危险事件 {danger['events']} 起，"
            f"已跟进 {danger['followed_up']} 起，未跟进 {danger['open']} 起"
        )
    ]
    open_events = [e for e in danger["list"] if not e["followed_up"]]
    for e in open_events[:MAX_NAMES]:
        what = e["danger"] or f"风险{e['risk_after']}"
        station = f"（{e['station']}）" if report["area"]["level"] != "station" else ""
        lines.append(f"· {_day(e['date'])} {e['case_name']}{station}：{what}，走访后还没有再次走访")
    if len(open_events) > MAX_NAMES:
        lines.append(f"……另有 {len(open_events) - MAX_NAMES} 起，请在看板查看。")
    if open_events:
        lines.append("请尽快安排跟进走访；再次走访后即算已跟进。")
    return "\n".join(lines)
