"""Case lists in (.csv / .xlsx, validated row by row) and visit records out (.csv / .xlsx).

Rosters come from stations' own spreadsheets, made in Excel on Chinese Windows: CSV may be UTF-8 with or
without BOM or GBK; a workbook may start with an instructions sheet (填表说明); the header may sit under a
title and use the station's own column names (所属村居, 联系方式 — handlers/casework/data/roster_headers.tsv); cells may
be merged (one 村居 for ten rows); names may carry full-width spaces; ID numbers may have been turned into
numbers or be old 15-digit ones; the last rows may be 合计 / 填表人 footers. What was read, what was left out
and what was changed on the way is reported (ParsedFile), and every rejected row names its line number.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet.worksheet import Worksheet

from bot.messages import clean_text
from bot.store import EXPORT_COLUMNS, RISK_LEVELS, CaseRow
from bot.store.casework_models import UNASSESSED
from bot.store.casework_records import HISTORY_KINDS
from handlers.casework.tables import (
    FIELDS,
    HISTORY_FIELDS,
    REQUIRED,
    CategoryTable,
    HeaderTable,
    current_categories,
    current_headers,
    header_key,
)

COLUMNS = FIELDS
SUPPORTED = (".csv", ".xlsx")
HEADER_SEARCH = 10  # rows a header may sit below the top of the sheet (titles, dates, blank rows)
REASON_COLUMN = "错误原因"
LINE_COLUMN = "原行号"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[1-9]\d{16}[\dX]")
_OLD_ID = re.compile(r"[1-9]\d{14}")
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
_LANDLINE = re.compile(r"(?:\+?86)?\(?(0(?:[12]\d|[3-9]\d{2}))\)?(\d{7,8})")  # 010, 020…029: 3 digits; others 4
_LOCAL = re.compile(r"[2-9]\d{6,7}")  # a landline written without its area code
_PHONE_SPLIT = re.compile(r"[/、,，;；]|\s{2,}")
_SCIENTIFIC = re.compile(r"\d(\.\d+)?[Ee]\+\d+")  # how Excel saves a long number it turned into a float
CATEGORY_SEPARATORS = "、，,;；/／"
_CATEGORY_SPLIT = re.compile(r"[、，,;；/／\s]+")
_BRACKETED_TAIL = re.compile(r"\(.*\)$")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
_RISKS = {
    "高": "高",
    "较高": "高",
    "中": "中",
    "中等": "中",
    "一般": "中",
    "低": "低",
    "较低": "低",
    "未评估": UNASSESSED,
    "待评估": UNASSESSED,
}
_MAX_LEN = {"姓名": 32, "村居": 64, "住址": 200}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (type, encoding, sheet, header)."""


@dataclass
class ParsedFile:
    """What a roster file holds and how it was read."""

    rows: list[CaseRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    sheet: str = ""  # the worksheet read ("" for CSV)
    other_sheets: list[str] = field(default_factory=list)  # worksheets not read
    header_line: int = 0
    header: list[str] = field(default_factory=list)  # the header row as written
    columns: dict[str, list[str]] = field(default_factory=dict)  # field → the file's column names for it
    ignored: list[str] = field(default_factory=list)  # columns not imported
    footers: list[tuple[int, str]] = field(default_factory=list)  # (line, the footer word it starts with)
    merged: int = 0  # merged cell areas filled in
    changes: Counter[str] = field(default_factory=Counter)  # what was normalised on the way → rows
    history_rows: int = 0  # rows with a 上次走访/入户/评估日期
    unknown_categories: bool = False
    rejected: dict[int, list[Any]] = field(default_factory=dict)  # line → the rejected row's cells


@dataclass
class _Sheet:
    name: str
    rows: list[tuple[int, list[Any]]]
    merged: int = 0


# -- reading ----------------------------------------------------------------------------------
def count_lines(path: Path) -> int | None:
    """Rough row count for the progress bar (None when unknown)."""
    if path.suffix.lower() == ".csv":
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return None


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")  # a superset of GBK, what Excel on Chinese Windows writes
    except UnicodeDecodeError as exc:
        raise ImportFileError("无法识别文件编码：请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后重试") from exc


def _read_csv(path: Path) -> Iterator[tuple[int, list[Any]]]:
    reader = csv.reader(io.StringIO(_decode(path.read_bytes()), newline=""))
    line = 1
    for cells in reader:
        yield line, list(cells)
        line = reader.line_num + 1  # a quoted cell may span lines: the next row starts after it


def _sheet_rows(sheet: Worksheet) -> _Sheet:
    """Every row's values, with each merged area's value copied into all of its cells (Excel keeps it
    only in the top-left one)."""
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    areas = list(sheet.merged_cells.ranges)
    for area in areas:
        value = rows[area.min_row - 1][area.min_col - 1] if area.min_row <= len(rows) else None
        for r in range(area.min_row, min(area.max_row, len(rows)) + 1):
            cells = rows[r - 1]
            cells.extend([None] * (area.max_col - len(cells)))
            for c in range(area.min_col, area.max_col + 1):
                cells[c - 1] = value
    return _Sheet(sheet.title, list(enumerate(rows, 1)), len(areas))


def _workbook_sheets(path: Path) -> list[Worksheet]:
    try:
        # Not read-only: merged cells are known only to a fully loaded sheet. Rosters are thousands of rows.
        book = load_workbook(path, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors all mean "not a workbook"
        raise ImportFileError(f"无法读取 Excel 文件：{exc.__class__.__name__}") from exc
    return list(book.worksheets)


# -- header -----------------------------------------------------------------------------------
def _field(headers: HeaderTable, text: str) -> str | None:
    """The field a header cell names: as written, or without a trailing note in brackets (身份证号（18位）)."""
    found = headers.field_of(text)
    if found is None and (bare := _BRACKETED_TAIL.sub("", header_key(text))):
        found = headers.field_of(bare)
    return found


def _header_fields(headers: HeaderTable, cells: list[Any]) -> list[str | None]:
    return [_field(headers, _text(c)) if _text(c) else None for c in cells]


def _find_header(headers: HeaderTable, rows: Iterable[tuple[int, list[Any]]]) -> tuple[int, list[Any]] | None:
    for line, cells in rows:
        if line > HEADER_SEARCH:
            break
        found = _header_fields(headers, cells)
        if "姓名" in found and "身份证号" in found:
            return line, cells
    return None


def _no_header(headers: HeaderTable, where: str) -> ImportFileError:
    names = "；".join(f"{f}（或 {'、'.join(headers.synonyms(f)[:4])}）" for f in ("姓名", "身份证号"))
    return ImportFileError(
        f"找不到表头：{where}前 {HEADER_SEARCH} 行里没有同时含这两列的行：{names}。"
        f"列名的其他写法可以加在 {headers.path}"
    )


def _choose_sheet(
    path: Path,
    headers: HeaderTable,
    sheet_name: str | None,
) -> tuple[_Sheet, list[str], tuple[int, list[Any]]]:
    """The sheet to read, the names of the others, and its header (line, cells)."""
    if path.suffix.lower() == ".csv":
        if sheet_name:
            raise ImportFileError("--sheet 只用于 .xlsx 文件")
        csv_sheet = _Sheet("", list(_read_csv(path)))
        found = _find_header(headers, csv_sheet.rows)
        if found is None:
            raise _no_header(headers, "")
        return csv_sheet, [], found
    sheets = _workbook_sheets(path)
    titles = [s.title for s in sheets]
    if sheet_name:
        chosen = [s for s in sheets if s.title == sheet_name or s.title.strip() == sheet_name.strip()]
        if not chosen:
            raise ImportFileError(f"找不到工作表“{sheet_name}”（这个文件里有：{'、'.join(titles)}）")
        read = _sheet_rows(chosen[0])
        found = _find_header(headers, read.rows)
        if found is None:
            raise _no_header(headers, f"工作表“{read.name}”的")
        return read, [t for t in titles if t != read.name], found
    for sheet in sheets:
        read = _sheet_rows(sheet)
        if (found := _find_header(headers, read.rows)) is not None:
            return read, [t for t in titles if t != read.name], found
    raise _no_header(headers, f"每个工作表（{'、'.join(titles)}）的")


# -- validation -------------------------------------------------------------------------------
def parse_case_file(
    path: Path,
    worker_names: Iterable[str],
    today: date,
    progress: Callable[[int], object] | None = None,
    sheet: str | None = None,
    headers: HeaderTable | None = None,
    categories: CategoryTable | None = None,
) -> ParsedFile:
    """Validate every row; the caller imports only when `errors` is empty. `sheet`: the worksheet to read
    (default: the first with a recognisable header)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise ImportFileError(
            f"不支持的文件类型：{suffix or path.name}（请用 .csv 或 .xlsx；.xls 请在 Excel 中另存为 .xlsx）"
        )
    headers = headers or current_headers()
    categories = categories or current_categories()
    workers = set(worker_names)
    tick = progress or (lambda _n: None)
    chosen, others, (header_line, header_cells) = _choose_sheet(path, headers, sheet)
    result = ParsedFile(
        sheet=chosen.name,
        other_sheets=others,
        header_line=header_line,
        header=[_text(c) for c in header_cells],
        merged=chosen.merged,
    )
    indices: dict[str, list[int]] = {}
    for i, found in enumerate(_header_fields(headers, header_cells)):
        if found is not None:
            indices.setdefault(found, []).append(i)
            result.columns.setdefault(found, []).append(result.header[i])
        elif result.header[i]:
            result.ignored.append(result.header[i])
    missing = [c for c in REQUIRED if c not in indices]
    if missing:
        where = f"工作表“{chosen.name}”" if chosen.name else ""
        raise ImportFileError(f"{where}第 {header_line} 行（表头）缺少列：{'、'.join(missing)}")
    seen_ids: dict[str, int] = {}
    for line, cells in chosen.rows:
        tick(1)
        if line <= header_line:
            continue
        texts = [_text(c) for c in cells]
        if not any(texts):
            continue  # Excel leaves blank rows; they are not data
        first = next(t for t in texts if t)
        if word := headers.is_footer(first):
            result.footers.append((line, word))
            continue
        if texts[: len(result.header)] == result.header:
            result.changes["重复的表头行已跳过"] += 1  # a sheet printed page by page repeats its header
            continue
        values = {
            name: next((cells[i] for i in idx if i < len(cells) and _text(cells[i])), None)
            for name, idx in indices.items()
        }
        row, reasons = _parse_row(values, workers, today, categories, result)
        if row is not None and (earlier := seen_ids.setdefault(row.id_number, line)) != line:
            reasons.append(f"身份证号与第 {earlier} 行重复")
        if reasons:
            result.errors.append((line, "；".join(reasons)))
            result.rejected[line] = list(cells)
        elif row is not None:
            result.rows.append(row)
    if not result.rows and not result.errors:
        raise ImportFileError(f"第 {header_line} 行是表头，其后没有数据行")
    return result


def _parse_row(
    values: dict[str, Any], workers: set[str], today: date, categories: CategoryTable, result: ParsedFile
) -> tuple[CaseRow | None, list[str]]:
    reasons: list[str] = []
    text = {k: _text(v) for k, v in values.items()}
    name = re.sub(r"\s+", "", text.get("姓名", ""))  # 何　亚妹 → 何亚妹 (\s covers the full-width space)
    if name != text.get("姓名", ""):
        result.changes["姓名中的空格已去掉"] += 1
    if not name:
        reasons.append("姓名不能为空")
    text["姓名"] = name
    for column, limit in _MAX_LEN.items():
        if len(text.get(column, "")) > limit:
            reasons.append(f"{column}过长（最多 {limit} 个字）")
    found, category_errors = parse_categories(text.get("类别", ""), categories)
    if category_errors and found is None:
        result.unknown_categories = True
    reasons += category_errors
    id_number, why = _id_number(values.get("身份证号"), text.get("身份证号", ""), today, result)
    if why:
        reasons.append(why)
    phone, why = normalize_phone(text.get("电话", ""))
    if why:
        reasons.append(why)
    elif _PHONE_SPLIT.search(unicodedata.normalize("NFKC", text.get("电话", "")).strip()):
        result.changes["电话栏有多个号码，只保存了第一个"] += 1
    risk, why = parse_risk_level(text.get("风险等级", ""))
    if why:
        reasons.append(why)
    elif risk == UNASSESSED and not text.get("风险等级"):
        result.changes[f"风险等级为空，记为{UNASSESSED}"] += 1
    worker = re.sub(r"\s+", "", text.get("负责社工", ""))
    if worker and worker not in workers:
        reasons.append(f"负责社工“{worker}”不是本站的社工（请先用 shegong invite 登记）")
    history: list[tuple[str, date]] = []
    for column in HISTORY_FIELDS:
        if column in values:
            day, why = parse_history_date(values[column], today)
            if why:
                reasons.append(f"{column}{why}")
            elif day is not None:
                history.append((HISTORY_KINDS[column], day))
    if reasons:
        return None, reasons
    result.history_rows += bool(history)
    return CaseRow(
        name, found or (), text.get("村居", ""), text.get("住址", ""), phone, id_number, risk, worker, tuple(history)
    ), []


def parse_categories(value: str, table: CategoryTable | None = None) -> tuple[tuple[str, ...] | None, list[str]]:
    """The categories (in the table's spelling) of a cell that may list several, separated by 、，,;；/ or
    spaces; (None, [reason]) when one is unknown."""
    table = table or current_categories()
    parts = [p for p in _CATEGORY_SPLIT.split(value.strip()) if p]
    if not parts:
        return (), ["类别不能为空"]
    found = [table.canonical(p) for p in parts]
    unknown = [p for p, name in zip(parts, found, strict=False) if name is None]
    if unknown:
        return None, [f"未知类别：{'、'.join(unknown)}"]
    return tuple(dict.fromkeys(n for n in found if n)), []


def _id_number(raw: Any, text: str, today: date, result: ParsedFile) -> tuple[str, str]:
    """(ID number, "") or ("", reason). An old 15-digit number becomes its 18-digit form."""
    if isinstance(raw, float) or isinstance(raw, int) and len(str(raw)) > 15 or _SCIENTIFIC.fullmatch(text):
        # A float holds 15-16 significant digits: the last digits of an 18-digit number are gone.
        return "", "身份证号被 Excel 存成了数字，末几位已丢失：请把该列设为“文本”后重新录入"
    value = unicodedata.normalize("NFKC", text).replace(" ", "").lstrip("'").upper()
    if _OLD_ID.fullmatch(value):
        try:
            date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
        except ValueError:
            return "", "15 位身份证号中的出生日期不存在"
        value = upgrade_id_number(value)
        result.changes["15 位身份证号已转为 18 位"] += 1
    elif value.endswith("X") and "x" in text:
        result.changes["身份证号末位 x 已改为 X"] += 1
    return value, check_id_number(value, today)


def upgrade_id_number(old: str) -> str:
    """GB 11643: a 15-digit number gets the century 19 in its birth date and a check character."""
    body = old[:6] + "19" + old[6:]
    return body + _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=False)) % 11]


def check_id_number(value: str, today: date) -> str:
    """ "" when valid (GB 11643: 18 characters, plausible birth date, check character), else the reason."""
    if not value:
        return "身份证号不能为空"
    if len(value) != 18:
        return f"身份证号应为 18 位（现为 {len(value)} 位）"
    if not _ID_SHAPE.fullmatch(value):
        return "身份证号格式不对：前 17 位应为数字，最后一位为数字或 X"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "身份证号中的出生日期不存在"
    if not date(1900, 1, 1) <= born <= today:
        return "身份证号中的出生日期不合理"
    if _ID_CHECK[sum(int(d) * w for d, w in zip(value, _ID_WEIGHTS, strict=False)) % 11] != value[17]:
        return "身份证号校验位不对，请核对号码"
    return ""


def normalize_phone(value: str) -> tuple[str, str]:
    """(normalised phone, "") or ("", reason). Empty is allowed. Mobiles (with or without +86, spaces or
    dashes), landlines with an area code (020-12345678, (0757)8123 4567) or without one (8123456). A cell
    listing several numbers keeps the first."""
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return "", ""
    first = next((p for p in _PHONE_SPLIT.split(text) if p.strip()), "")
    compact = re.sub(r"[\s\-—–]", "", first)
    compact = re.sub(r"[(（]?(?:本人|家属|儿子|女儿|子女|配偶|邻居|亲属|村委)[)）]?", "", compact)
    if m := _MOBILE.fullmatch(compact):
        return m.group(1), ""
    if m := _LANDLINE.fullmatch(compact):
        return f"{m.group(1)}-{m.group(2)}", ""
    if _LOCAL.fullmatch(compact):
        return compact, ""
    return "", "电话格式不对：应为 11 位手机号或固定电话（如 020-12345678）"


def parse_risk_level(value: str) -> tuple[str, str]:
    """(高 | 中 | 低 | 未评估, "") or ("", reason). Blank means not assessed, never 低."""
    text = unicodedata.normalize("NFKC", value).replace(" ", "")
    if not text:
        return UNASSESSED, ""
    level = _RISKS.get(re.sub(r"(等级|级)$", "", text).removesuffix("风险") or text)
    if level is None:
        return "", f"风险等级应为 {'、'.join(RISK_LEVELS)} 或留空（{UNASSESSED}）（现为“{value}”）"
    return level, ""


def parse_history_date(value: Any, today: date) -> tuple[date | None, str]:
    """A 上次走访日期-style cell: (day or None when blank, "") or (None, reason)."""
    if value is None or value == "":
        return None, ""
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        text = unicodedata.normalize("NFKC", _text(value))
        m = _DATE.fullmatch(text)
        if m is None:
            return None, f"看不懂：“{text}”（应写成 2026-10-05）"
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None, f"不存在：“{text}”"
    if day > today:
        return None, f"不能晚于今天（{day.isoformat()}）"
    if day.year < 2000:
        return None, f"早于 2000 年，请核对（{day.isoformat()}）"
    return day, ""


def _text(value: Any) -> str:
    # Cells typed as numbers (phones) come back from openpyxl as int or float.
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    # Control characters and lone surrogates, as chat messages lose them at intake: PostgreSQL cannot store
    # a NUL, and an Excel file of the rejected rows cannot hold any of them.
    return clean_text(str(value)).strip()


def write_errors_xlsx(parsed: ParsedFile, path: Path) -> None:
    """The rejected rows as they were in the file, each with its line number and reason, every cell as text
    (so ID numbers keep their digits): fix them in Excel and import this file again."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("有错误的行")
    width = max([len(parsed.header), *(len(c) for c in parsed.rejected.values())])
    header = [*parsed.header, *([""] * (width - len(parsed.header))), REASON_COLUMN, LINE_COLUMN]
    sheet.append(header)
    for line, reason in parsed.errors:
        cells = parsed.rejected.get(line, [])
        values = [*(_text(c) for c in cells), *([""] * (width - len(cells))), reason, str(line)]
        row = []
        for value in values:
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            row.append(cell)
        sheet.append(row)
    book.save(path)


# -- export -----------------------------------------------------------------------------------
def _safe(value: str) -> str:
    # Excel runs a cell starting with = + - @ as a formula; report text is typed by anyone on a phone.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def write_csv(rows: list[dict[str, str]], out: IO[str], lineterminator: str = "\r\n") -> None:
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([_safe(row[c]) for c in EXPORT_COLUMNS])


def write_xlsx(rows: list[dict[str, str]], path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("走访记录")
    for column, width in zip(
        "ABCDEFGHIJKLMNOP", (16, 8, 20, 14, 16, 10, 17, 6, 30, 20, 20, 8, 20, 10, 8, 14), strict=False
    ):
        sheet.column_dimensions[column].width = width
    sheet.append(list(EXPORT_COLUMNS))
    for row in rows:
        cells = []
        for column in EXPORT_COLUMNS:
            cell = WriteOnlyCell(sheet, row[column])
            cell.data_type = "s"  # text, never a formula; keeps ID numbers' 18 digits
            cells.append(cell)
        sheet.append(cells)
    book.save(path)
