"""Reading an uploaded sheet: .xlsx through calamine (fast enough for 100,000 rows), .csv through the
csv module (UTF-8 with or without BOM, else GB18030 as Chinese Excel saves it), and turning Excel's
cells into values the checks understand. Every refusal is a `Rejected` with one clear message."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import python_calamine
from django.conf import settings

from shequ.registry.imports.columns import COLUMNS, KIND_NAMES, Column, header_lookup, normalise_header

HEADER_SEARCH_ROWS = 10  # a title row or two above the header is common in Chinese templates
ZIP_INFLATION_LIMIT = 20  # uncompressed workbook may be at most this many times IMPORT_MAX_BYTES
# The reader holds a sheet as a dense grid from A1 to its last cell, some 40 bytes a cell: one stray
# cell at XFD1048576 in a 2 KB file would ask for half a terabyte and abort the process.
MAX_SHEET_CELLS = 20_000_000
# A cell with content. An empty one, `<c r="Z9" s="1"/>` or (as lxml writes it) `<c r="Z9" s="1"></c>`,
# is formatting only, skipped by the reader too, and does not count towards the sheet's extent.
CELL_REF = re.compile(
    rb"<(?:\w+:)?c\s[^>]*?\br=[\"']([A-Z]{1,3})([0-9]{1,7})[\"'][^>]*(?<!/)>(?!</(?:\w+:)?c>)"
)


class Rejected(Exception):
    """The file as a whole cannot be imported."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CellError(ValueError):
    """One cell's value cannot be used; the message says what to do."""


@dataclass
class Table:
    format: str  # "xlsx" or "csv"
    header_row: int
    headers: dict[str, str]  # field -> the header text as written in the file
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (Excel row number, field -> cell)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def sniff_format(data: bytes, filename: str) -> str:
    """'xlsx' or 'csv' from the content; the extension only sharpens the message of a refusal."""
    if not data:
        raise Rejected("文件是空的")
    if len(data) > settings.IMPORT_MAX_BYTES:
        raise Rejected(f"文件过大: 最多 {settings.IMPORT_MAX_BYTES // (1024 * 1024)} MB")
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise Rejected("这是旧版 .xls 文件或加密的工作簿: 请在 Excel 中另存为 .xlsx (不设密码) 后再导入")
    if data.startswith((b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf")):
        raise Rejected("不是 Excel (.xlsx) 或 CSV 文件")
    if b"\x00" in data[:4096]:
        # UTF-16 text (Excel's "Unicode text") has NULs too; it is not a format we read.
        raise Rejected("不是 Excel (.xlsx) 或 CSV 文件 (如是 Unicode 文本, 请另存为 CSV UTF-8)")
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise Rejected("文件扩展名是 .xlsx, 但内容不是 Excel 工作簿 (文件可能已损坏)")
    return "csv"


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            inflated = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise Rejected("文件不是有效的 Excel 工作簿 (压缩包已损坏)") from None
    if "xl/workbook.xml" not in names:
        raise Rejected("这是一个压缩包, 但不是 Excel 工作簿 (.xlsx)")
    if inflated > ZIP_INFLATION_LIMIT * settings.IMPORT_MAX_BYTES:
        raise Rejected("工作簿解压后过大, 无法导入")
    rows, columns = _sheet_extent(data)
    if rows * columns > MAX_SHEET_CELLS:
        raise Rejected(
            f"工作表的范围过大 ({rows} 行 × {columns} 列): 请删除数据下方和右侧的空行空列(或拆分文件)后再导入"
        )
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        visible = [
            i
            for i, meta in enumerate(workbook.sheets_metadata)
            if meta.visible == python_calamine.SheetVisibleEnum.Visible
            and meta.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
        if not visible:
            raise Rejected("工作簿中没有可见的工作表")
        # iter_rows starts at row 1 even when the top rows are empty, so positions are Excel rows.
        return list(workbook.get_sheet_by_index(visible[0]).iter_rows())
    except python_calamine.CalamineError as exc:
        raise Rejected(f"无法读取 Excel 工作簿: {exc}") from None


def _sheet_extent(data: bytes) -> tuple[int, int]:
    """The largest row and column any cell of any worksheet names (its `r` reference), read in chunks."""
    rows = columns = 1
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            with archive.open(name) as part:
                tail = b""
                while chunk := part.read(1 << 20):
                    window = tail + chunk
                    for letters, digits in CELL_REF.findall(window):
                        rows = max(rows, int(digits))
                        column = 0
                        for letter in letters:
                            column = column * 26 + letter - 64
                        columns = max(columns, column)
                    tail = window[-200:]  # a reference cut by the chunk's end is found whole next time
    return rows, columns


def _csv_rows(data: bytes) -> list[list[Any]]:
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="strict")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")  # what Chinese Excel writes for "CSV (逗号分隔)"
            except UnicodeDecodeError:
                raise Rejected("无法识别 CSV 文件的编码: 请另存为 CSV UTF-8") from None
    first_line = text.split("\n", 1)[0]
    delimiter = max([",", "\t", ";"], key=first_line.count)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise Rejected(f"CSV 文件格式错误: {exc}") from None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_table(kind: str, data: bytes, filename: str) -> Table:
    """The data rows of the first visible sheet, keyed by field, with their Excel row numbers."""
    fmt = sniff_format(data, filename)
    raw_rows = _xlsx_rows(data) if fmt == "xlsx" else _csv_rows(data)
    lookup = header_lookup(kind)

    # The header is the row, among the first non-empty ones, that names the most known columns.
    candidates = [(n, r) for n, r in enumerate(raw_rows, start=1) if any(not _blank(v) for v in r)]
    if not candidates:
        raise Rejected("表格是空的")
    best_number, best_row, best_hits = 0, [], 0
    for number, row in candidates[:HEADER_SEARCH_ROWS]:
        hits = sum(1 for v in row if normalise_header(v) in lookup)
        if hits > best_hits:
            best_number, best_row, best_hits = number, row, hits
    if not best_hits:
        example = "、".join(c.header for c in COLUMNS[kind][:4])
        raise Rejected(f"找不到表头: 前 {HEADER_SEARCH_ROWS} 行中没有可识别的列名 (例如 {example})")

    mapping: dict[int, Column] = {}
    headers: dict[str, str] = {}
    seen: dict[str, int] = {}
    unknown: list[str] = []
    for index, cell in enumerate(best_row):
        if _blank(cell):
            continue
        column = lookup.get(normalise_header(cell))
        if column is None:
            unknown.append(f"{column_letter(index)}列 “{str(cell).strip()}”")
            continue
        if column.field in seen:
            first = column_letter(seen[column.field])
            raise Rejected(f"列 “{column.header}” 出现了两次 ({first}列和{column_letter(index)}列)")
        seen[column.field] = index
        mapping[index] = column
        headers[column.field] = str(cell).strip()
    if unknown:
        known = "、".join(c.header for c in COLUMNS[kind])
        raise Rejected(
            f"第 {best_number} 行表头中有无法识别的列: {'、'.join(unknown)}。"
            f"{KIND_NAMES[kind]}表可用的列: {known}"
        )
    missing = [c.header for c in COLUMNS[kind] if c.required and c.field not in headers]
    if missing:
        raise Rejected(f"缺少必填列: {'、'.join(missing)}")

    table = Table(format=fmt, header_row=best_number, headers=headers)
    for number, row in candidates:
        if number <= best_number:
            continue
        values: dict[str, Any] = {}
        for index, cell in enumerate(row):
            column = mapping.get(index)
            if column is not None:
                values[column.field] = cell
            elif not _blank(cell):
                raise Rejected(f"第 {number} 行 {column_letter(index)} 列有数据, 但该列没有列名")
        if any(not _blank(v) for v in values.values()):
            table.rows.append((number, values))
    if not table.rows:
        raise Rejected("表格只有表头, 没有数据行")
    return table


# --- cell values -----------------------------------------------------------------------------

_FORMULA_GUARD = re.compile(r"^'(?=[=+\-@])")  # the export's guard against formula injection
_SCIENTIFIC = re.compile(r"^[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+$")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]0{1,2}:00(?::00)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 with Lotus' leap-year bug folded in


def text(value: Any) -> str:
    """A cell as text: whole numbers lose their '.0', dates become YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return _FORMULA_GUARD.sub("", str(value).strip())


def long_number(value: Any, what: str) -> str:
    """An 18-character identifier: refuse one Excel turned into a number, its last digits are lost."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        if isinstance(value, float) and not value.is_integer():
            return text(value)
        if isinstance(value, int) or abs(value) < 1e15:  # below 2**53 a float holds every digit
            return str(int(value))
        raise CellError(f"{what}被 Excel 存成了数字, 后几位已丢失: 请把该列设为“文本”格式后重新填写")
    result = text(value)
    if _SCIENTIFIC.match(result):
        raise CellError(f"{what}被 Excel 存成了科学计数法, 后几位已丢失: 请把该列设为“文本”格式后重新填写")
    return result


def date_value(value: Any, what: str) -> dt.date | None:
    """A date from an Excel date cell, an Excel serial number, or common written forms."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, float | int) and not isinstance(value, bool):
        if 1 <= value < 2958466:  # up to 9999-12-31
            return _EXCEL_EPOCH + dt.timedelta(days=int(value))
        raise CellError(f"{what} {value} 不是日期")
    raw = text(value)
    if not raw:
        return None
    for pattern in _DATE_PATTERNS:
        if match := pattern.match(raw):
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                raise CellError(f"{what} {raw} 不是有效日期") from None
    raise CellError(f"{what} {raw!r} 格式无法识别, 应为 YYYY-MM-DD")


def number_value(value: Any, what: str, *, integer: bool = False) -> float | int | None:
    if isinstance(value, bool):
        raise CellError(f"{what}必须是数字")
    if isinstance(value, int | float):
        result: float | int = value
    else:
        raw = text(value)
        if not raw:
            return None
        try:
            result = float(raw)
        except ValueError:
            raise CellError(f"{what}必须是数字, 不是 {raw!r}") from None
    if integer:
        if not float(result).is_integer() or result < 0:
            raise CellError(f"{what}必须是非负整数, 不是 {value!r}")
        return int(result)
    return float(result)
