"""The monthly report as an XLSX workbook ready to send to the 民政 office: a summary sheet with a native Excel
chart of the trend, one sheet per worker (a station's report) or per station (an area's), A4 print setup, a
title with the area and month. ID and phone numbers appear only masked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from bot.store import CaseRecord

TITLE = Font(bold=True, size=14)
BOLD = Font(bold=True)
INVALID_SHEET_CHARS = str.maketrans({c: "_" for c in "[]:*?/\\"})


def percent(value: object) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]


def _a4(ws: Worksheet, title: str, landscape: bool = False) -> None:
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.oddHeader.center.text = title
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.print_title_rows = "1:3"


def _table(ws: Worksheet, row: int, header: Sequence[str], rows: Sequence[Sequence[object]]) -> int:
    for col, name in enumerate(header, 1):
        ws.cell(row, col, name).font = BOLD
    for r, values in enumerate(rows, row + 1):
        for col, value in enumerate(values, 1):
            ws.cell(r, col, value)
    return row + len(rows) + 2


def _sheet_name(name: str, used: set[str]) -> str:
    base = name.translate(INVALID_SHEET_CHARS)[:28] or "表"
    candidate, n = base, 2
    while candidate in used:
        candidate, n = f"{base[:26]}{n}", n + 1
    used.add(candidate)
    return candidate


def write_report_xlsx(report: Mapping[str, Any], path: Path | IO[bytes],
                      cases_by_worker: Mapping[int, Sequence[CaseRecord]] | None = None) -> None:
    """`cases_by_worker` (a station's report): each worker's cases, numbers already masked."""
    area, month = report["area"], report["month"]
    year, mon = month.split("-")
    title = f"{area['name']} {year}年{int(mon)}月 社会工作服务月报"
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    ws["A1"] = title
    ws["A1"].font = TITLE
    ws["A2"] = (f"统计期间：{report['period']['from']} 至 {report['period']['to']}（北京时间）；"
                f"生成时间：{report['generated_at']}；社工站 {area['stations']} 个")
    totals = report["totals"]
    row = _table(ws, 4, ["指标", "数值"], [
        ["在册服务对象", totals["active_cases"]], ["本月已服务（至少走访一次）", totals["served"]],
        ["服务覆盖率", percent(totals["served_rate"])], ["本月入户走访对象", totals["home_visited"]],
        ["入户覆盖率", percent(totals["home_rate"])], ["走访次数", totals["visits"]],
        [f"逾期事项（截至 {report['overdue']['as_of']}）", report["overdue"]["items"]],
        ["危险事件", report["danger"]["events"]], ["危险事件已跟进", report["danger"]["followed_up"]],
        ["转人工咨询", report["handoff"]["tickets"]],
        ["首次回复中位时间（分钟）", report["handoff"]["median_first_response_minutes"] or "—"]])
    row = _table(ws, row, ["类别", "在册", "已服务", "覆盖率", "入户", "入户率"], [
        [c["category"], c["active_cases"], c["served"], percent(c["served_rate"]), c["home_visited"],
         percent(c["home_rate"])] for c in report["categories"]])
    trend_row = row
    trend = report["trend"]
    row = _table(ws, row, ["月份", "在册", "已服务", "覆盖率(%)", "入户率(%)", "走访次数"], [
        [t["month"], t["active_cases"], t["served"], round((t["served_rate"] or 0) * 100, 1),
         round((t["home_rate"] or 0) * 100, 1), t["visits"]] for t in trend])
    line = LineChart()
    line.title = "近七个月服务覆盖率（%）"
    line.y_axis.title = "%"
    line.height, line.width = 7, 16
    line.add_data(Reference(ws, min_col=4, max_col=5, min_row=trend_row, max_row=trend_row + len(trend)),
                  titles_from_data=True)
    line.set_categories(Reference(ws, min_col=1, min_row=trend_row + 1, max_row=trend_row + len(trend)))
    ws.add_chart(line, f"H{4}")
    bar = BarChart()
    bar.title = "近七个月走访次数"
    bar.height, bar.width = 7, 16
    bar.add_data(Reference(ws, min_col=6, min_row=trend_row, max_row=trend_row + len(trend)), titles_from_data=True)
    bar.set_categories(Reference(ws, min_col=1, min_row=trend_row + 1, max_row=trend_row + len(trend)))
    ws.add_chart(bar, "H20")
    row = _table(ws, row, ["需求/服务类别", "需求（次）", "提供服务（次）"],
                 [[name, report["needs"][name], report["services"].get(name, 0)] for name in report["needs"]])
    _table(ws, row, ["社工", "社工站", "负责对象", "已服务", "覆盖率", "走访次数", "逾期事项"], [
        [w["name"], w["station"], w["cases"], w["served"], percent(w["served_rate"]), w["visits"], w["overdue"]]
        for w in report["workers"]])
    ws.column_dimensions["A"].width = 30
    for col in "BCDEFG":
        ws.column_dimensions[col].width = 12
    _a4(ws, title, landscape=True)

    used = {"汇总"}
    if cases_by_worker is not None:
        for w in report["workers"]:
            if w["worker_id"] is None:
                continue
            sheet = wb.create_sheet(_sheet_name(w["name"], used))
            sheet["A1"] = f"{title} — {w['name']}"
            sheet["A1"].font = TITLE
            sheet["A2"] = (f"负责对象 {w['cases']} 人，已服务 {w['served']} 人（{percent(w['served_rate'])}），"
                           f"走访 {w['visits']} 次，逾期事项 {w['overdue']} 项")
            _table(sheet, 3, ["服务对象", "类别", "村居", "电话", "身份证号", "风险", "上次走访"], [
                [c.name, "、".join(c.categories), c.village, c.phone_masked, c.id_masked, c.risk_level,
                 c.last_visit_at.date().isoformat() if c.last_visit_at else "未走访"]
                for c in cases_by_worker.get(w["worker_id"], ())])
            for col, width in zip("ABCDEFG", (12, 24, 12, 16, 22, 6, 12), strict=True):
                sheet.column_dimensions[col].width = width
            _a4(sheet, f"{title} — {w['name']}")
    else:
        for st in report["stations"]:
            sheet = wb.create_sheet(_sheet_name(st["name"], used))
            sheet["A1"] = f"{title} — {st['name']}"
            sheet["A1"].font = TITLE
            sheet["A2"] = "，".join(p for p in (st["city"], st["district"], st["town"]) if p)
            row = _table(sheet, 3, ["指标", "数值"], [
                ["在册服务对象", st["active_cases"]], ["已服务", st["served"]], ["覆盖率", percent(st["served_rate"])],
                ["入户", st["home_visited"]], ["入户率", percent(st["home_rate"])], ["走访次数", st["visits"]],
                ["逾期事项", st["overdue"]], ["危险事件", st["danger_events"]], ["未跟进", st["danger_open"]]])
            _table(sheet, row, ["社工", "负责对象", "已服务", "覆盖率", "走访次数", "逾期事项"], [
                [w["name"], w["cases"], w["served"], percent(w["served_rate"]), w["visits"], w["overdue"]]
                for w in report["workers"] if w["station"] == st["name"]])
            sheet.column_dimensions["A"].width = 16
            _a4(sheet, f"{title} — {st['name']}")
    for sheet in wb.worksheets:
        sheet["A1"].alignment = Alignment(horizontal="left")
    wb.save(path)
