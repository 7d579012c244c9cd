"""Case lists in (.csv / .xlsx, validated row by row) and visit records out (.csv / .xlsx).

Files come from Excel on Chinese Windows: CSV may be UTF-8 with or without BOM or GBK, ID numbers may have
been turned into numbers, digits may be full-width, and there may be a title row above the header. Every
problem is reported with the row's line number in the file (header = line 1 when it is the first line).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from bot.store import CATEGORIES, EXPORT_COLUMNS, RISK_LEVELS, CaseRow

COLUMNS = ("姓名", "类别", "村居", "住址", "电话", "身份证号", "风险等级", "负责社工")
REQUIRED = ("姓名", "类别", "身份证号")
# Other spellings seen in stations' own spreadsheets.
ALIASES = {"身份证": "身份证号", "身份证号码": "身份证号", "公民身份号码": "身份证号", "联系电话": "电话",
           "手机": "电话", "手机号": "电话", "手机号码": "电话", "村(居)": "村居", "村居委": "村居", "村/居": "村居",
           "地址": "住址", "家庭住址": "住址", "风险": "风险等级", "社工": "负责社工", "负责人": "负责社工",
           "对象类别": "类别", "人员类别": "类别"}
SUPPORTED = (".csv", ".xlsx")
_HEADER_SEARCH = 10  # rows above the header allowed for a title
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[1-9]\d{16}[\dX]")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"\(?(0\d{2,3})\)?[- ]?(\d{7,8})")
_SCIENTIFIC = re.compile(r"\d(\.\d+)?[Ee]\+\d+")  # how Excel saves a long number it turned into a float
_CATEGORY_SPLIT = re.compile(r"[、，,;；\s]+")
_MAX_LEN = {"姓名": 32, "村居": 64, "住址": 200}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (type, encoding, header)."""


@dataclass
class ParsedFile:
    rows: list[CaseRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


# -- reading ----------------------------------------------------------------------------------
def count_lines(path: Path) -> int | None:
    """Rough row count for the progress bar (None when unknown)."""
    if path.suffix.lower() == ".csv":
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return None


def read_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    """(line number, cell values) for every row of the file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".xlsx":
        return _read_xlsx(path)
    raise ImportFileError(f"不支持的文件类型：{suffix or path.name}（请用 .csv 或 .xlsx；.xls 请在 Excel 中另存为 .xlsx）")


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
        yield line, cells
        line = reader.line_num + 1  # a quoted cell may span lines: the next row starts after it


def _read_xlsx(path: Path) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile, XML and openpyxl errors all mean "not a workbook"
        raise ImportFileError(f"无法读取 Excel 文件：{exc.__class__.__name__}") from exc
    try:
        for line, cells in enumerate(book.worksheets[0].iter_rows(values_only=True), 1):
            yield line, list(cells)
    finally:
        book.close()


# -- validation -------------------------------------------------------------------------------
def parse_case_file(path: Path, worker_names: Iterable[str], today: date,
                    progress: Callable[[int], object] | None = None) -> ParsedFile:
    """Validate every row; the caller imports only when `errors` is empty."""
    workers = set(worker_names)
    tick = progress or (lambda _n: None)
    rows = read_rows(path)
    columns, header_line = _find_header(rows, tick)
    result = ParsedFile()
    seen_ids: dict[str, int] = {}
    for line, cells in rows:
        tick(1)
        values = {name: cells[i] if i < len(cells) else None for name, i in columns.items()}
        if all(_text(v) == "" for v in cells):
            continue  # Excel leaves blank rows; they are not data
        row, reasons = _parse_row(values, workers, today)
        if row is not None and not reasons:
            if (first := seen_ids.setdefault(row.id_number, line)) != line:
                reasons.append(f"身份证号与第 {first} 行重复")
        if reasons:
            result.errors.append((line, "；".join(reasons)))
        elif row is not None:
            result.rows.append(row)
    if not result.rows and not result.errors:
        raise ImportFileError(f"第 {header_line} 行是表头，其后没有数据行")
    return result


def _find_header(rows: Iterator[tuple[int, list[Any]]], tick: Callable[[int], object]) -> tuple[dict[str, int], int]:
    for line, cells in rows:
        tick(1)
        names = [ALIASES.get(n, n) for n in (re.sub(r"\s+", "", unicodedata.normalize("NFKC", _text(c)))
                                             for c in cells)]
        if "姓名" in names and "身份证号" in names:
            missing = [c for c in REQUIRED if c not in names]
            if missing:
                raise ImportFileError(f"第 {line} 行（表头）缺少列：{'、'.join(missing)}")
            return {c: names.index(c) for c in COLUMNS if c in names}, line
        if line >= _HEADER_SEARCH:
            break
    raise ImportFileError("找不到表头：第一行应为列名 " + "、".join(COLUMNS))


def _parse_row(values: dict[str, Any], workers: set[str], today: date) -> tuple[CaseRow | None, list[str]]:
    reasons: list[str] = []
    text = {k: _text(v) for k, v in values.items()}
    name = text.get("姓名", "")
    if not name:
        reasons.append("姓名不能为空")
    for column, limit in _MAX_LEN.items():
        if len(text.get(column, "")) > limit:
            reasons.append(f"{column}过长（最多 {limit} 个字）")
    categories, category_errors = parse_categories(text.get("类别", ""))
    reasons += category_errors
    raw_id = values.get("身份证号")
    if isinstance(raw_id, (int, float)) or _SCIENTIFIC.fullmatch(text.get("身份证号", "")):
        id_number = ""
        reasons.append("身份证号被 Excel 存成了数字，末几位已丢失：请把该列设为“文本”后重新录入")
    else:
        id_number = unicodedata.normalize("NFKC", text.get("身份证号", "")).replace(" ", "").upper()
        if why := check_id_number(id_number, today):
            reasons.append(why)
    phone, why = normalize_phone(text.get("电话", ""))
    if why:
        reasons.append(why)
    risk = unicodedata.normalize("NFKC", text.get("风险等级", "")).removesuffix("风险") or "低"
    if risk not in RISK_LEVELS:
        reasons.append(f"风险等级应为 高、中 或 低（现为“{risk}”）")
    worker = text.get("负责社工", "")
    if worker and worker not in workers:
        reasons.append(f"负责社工“{worker}”不是本站的社工（请先用 shegong invite 登记）")
    if reasons:
        return None, reasons
    return CaseRow(name, categories, text.get("村居", ""), text.get("住址", ""), phone, id_number, risk, worker), []


def parse_categories(value: str) -> tuple[tuple[str, ...], list[str]]:
    parts = [p for p in _CATEGORY_SPLIT.split(value) if p]
    if not parts:
        return (), ["类别不能为空"]
    unknown = [p for p in parts if p not in CATEGORIES]
    if unknown:
        return (), [f"未知类别：{'、'.join(unknown)}（可选：{'、'.join(CATEGORIES)}）"]
    return tuple(dict.fromkeys(parts)), []


def check_id_number(value: str, today: date) -> str:
    """"" when valid (GB 11643: 18 characters, plausible birth date, check character), else the reason."""
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
    if _ID_CHECK[sum(int(d) * w for d, w in zip(value, _ID_WEIGHTS)) % 11] != value[17]:
        return "身份证号校验位不对，请核对号码"
    return ""


def normalize_phone(value: str) -> tuple[str, str]:
    """(normalised phone, "") or ("", reason). Empty is allowed."""
    compact = unicodedata.normalize("NFKC", value).strip()
    if not compact:
        return "", ""
    mobile = re.sub(r"[\s-]", "", compact).removeprefix("+86")
    if _MOBILE.fullmatch(mobile):
        return mobile, ""
    if m := _LANDLINE.fullmatch(compact):
        return f"{m.group(1)}-{m.group(2)}", ""
    return "", "电话格式不对：应为 11 位手机号或带区号的固定电话（如 020-12345678）"


def _text(value: Any) -> str:
    # Cells typed as numbers (phones) come back from openpyxl as int or float.
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


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
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("走访记录")
    for column, width in zip("ABCDEFGHIJKLMNO", (16, 8, 20, 14, 16, 10, 17, 6, 30, 20, 20, 8, 20, 10, 8)):
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
