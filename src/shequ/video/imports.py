"""Import of cameras from Excel (.xlsx) or CSV, all or nothing, as a job with a per-row report
(docs/video.md "Import"). The file is read by the registry's readers (the same refusals of hostile
files: bombs, old .xls, wrong content); each row is checked by the same code as a camera registered
by hand, then every row is written in one transaction, or none and a report of every problem.

Columns (a header row among the first ten rows; "*" = required column):
    编号*  名称*  经度*  纬度*  地址  朝向  厂商  协议  主码流地址  子码流地址  抓图地址
    用户名  密码  接入分析  来源  来源编号
A row whose 编号 is registered updates that camera (only the columns present); the import is
idempotent by 编号. 厂商 and 协议 take a code (hikvision, rtsp) or its Chinese name (海康威视);
接入分析 is 是/否. 密码 is stored encrypted and never written into the report.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation

from shequ.core.audit import audit
from shequ.core.errors import DomainError
from shequ.core.jobs import Progress, job_runner
from shequ.core.models import Job
from shequ.grids import index as grid_index
from shequ.grids.selectors import visible_grid_ids
from shequ.registry.imports import reading
from shequ.registry.imports.columns import normalise_header
from shequ.video.models import Camera, Protocol, Vendor
from shequ.video.services.cameras import URL_FIELDS, Refused, check_fields, register_camera, update_camera

log = logging.getLogger(__name__)
JOB_KIND = "video.import_cameras"
MAX_PROBLEMS = 1000
USERINFO = re.compile(r"//[^/@\s]*@")
MAX_ROWS = 20_000  # a city's cameras fit in one sheet; more is a mistake or an attack


@dataclasses.dataclass(frozen=True)
class Column:
    field: str
    header: str
    required: bool = False
    aliases: tuple[str, ...] = ()


COLUMNS = (
    Column("code", "编号", True, ("摄像头编号", "设备编号", "点位编号", "国标编码")),
    Column("name", "名称", True, ("摄像头名称", "点位名称", "设备名称")),
    Column("lon", "经度", True, ("longitude", "lng")),
    Column("lat", "纬度", True, ("latitude",)),
    Column("address", "地址", aliases=("安装地址", "位置")),
    Column("heading", "朝向", aliases=("方向", "朝向(度)")),
    Column("vendor", "厂商", aliases=("品牌",)),
    Column("protocol", "协议", aliases=("接入协议",)),
    Column("main_stream", "主码流地址", aliases=("主码流", "rtsp地址", "视频地址")),
    Column("sub_stream", "子码流地址", aliases=("子码流",)),
    Column("snapshot_url", "抓图地址", aliases=("抓图url", "快照地址")),
    Column("username", "用户名", aliases=("账号",)),
    Column("password", "密码"),
    Column("watched", "接入分析", aliases=("分析", "是否接入分析")),
    Column("source", "来源", aliases=("数据来源",)),
    Column("source_id", "来源编号", aliases=("外部编号",)),
)
HEADERS = {c.field: c.header for c in COLUMNS}
YES = {"是", "y", "yes", "true", "1", "接入"}
NO = {"否", "n", "no", "false", "0", "不接入", ""}


def _lookup() -> dict[str, Column]:
    out = {}
    for column in COLUMNS:
        for name in (column.header, column.field, *column.aliases):
            out[normalise_header(name)] = column
    return out


def _words(choices: Any) -> dict[str, str]:
    """Each choice by its code and its label in either language, lower-cased."""
    words = {str(c.value).lower(): str(c.value) for c in choices}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            words |= {str(c.label).lower(): str(c.value) for c in choices}
    return words


VENDOR_ALIASES = {"海康": "hikvision", "大华股份": "dahua", "宇视科技": "uniview"}


@dataclasses.dataclass
class Report:
    filename: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    error_count: int = 0
    message: str = ""
    job_id: int | None = None

    def error(self, row: int | None, field: str, value: Any, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_PROBLEMS:
            shown = "" if field == "password" or value is None else str(value).strip()[:100]
            if field in URL_FIELDS:
                shown = USERINFO.sub("//***@", shown)  # a password written into an address stays out
            self.errors.append(
                {"row": row, "column": HEADERS.get(field, field), "value": shown, "message": message}
            )


def read_rows(data: bytes, filename: str) -> tuple[dict[str, str], list[tuple[int, dict[str, Any]]]]:
    """(field -> header as written, [(Excel row number, field -> cell)]); reading.Rejected for a
    file that cannot be imported as a whole."""
    fmt = reading.sniff_format(data, filename)
    # The registry's low-level readers (their guards against hostile workbooks are the point of
    # reusing them); its header matching is tied to its own sheets, so ours is below.
    raw_rows = reading._xlsx_rows(data) if fmt == "xlsx" else reading._csv_rows(data)
    lookup = _lookup()
    candidates = [(n, r) for n, r in enumerate(raw_rows, start=1) if any(not _blank(v) for v in r)]
    if not candidates:
        raise reading.Rejected("表格是空的")
    best_number, best_row, best_hits = 0, [], 0
    for number, row in candidates[: reading.HEADER_SEARCH_ROWS]:
        hits = sum(1 for v in row if normalise_header(v) in lookup)
        if hits > best_hits:
            best_number, best_row, best_hits = number, row, hits
    if not best_hits:
        raise reading.Rejected(
            f"找不到表头: 前 {reading.HEADER_SEARCH_ROWS} 行中没有可识别的列名 (例如 编号、名称、经度、纬度)"
        )
    mapping: dict[int, Column] = {}
    headers: dict[str, str] = {}
    unknown = []
    for i, cell in enumerate(best_row):
        if _blank(cell):
            continue
        column = lookup.get(normalise_header(cell))
        if column is None:
            unknown.append(f"{reading.column_letter(i)}列 “{str(cell).strip()[:40]}”")
        elif column.field in headers:
            raise reading.Rejected(f"列 “{column.header}” 出现了两次")
        else:
            mapping[i], headers[column.field] = column, str(cell).strip()
    if unknown:
        known = "、".join(c.header for c in COLUMNS)
        raise reading.Rejected(
            f"第 {best_number} 行表头中有无法识别的列: {'、'.join(unknown[:10])}。可用的列: {known}"
        )
    missing = [c.header for c in COLUMNS if c.required and c.field not in headers]
    if missing:
        raise reading.Rejected(f"缺少必填列: {'、'.join(missing)}")
    rows = []
    for number, row in candidates:
        if number <= best_number:
            continue
        values = {mapping[i].field: cell for i, cell in enumerate(row) if i in mapping}
        if any(not _blank(v) for v in values.values()):
            rows.append((number, values))
    if not rows:
        raise reading.Rejected("表格只有表头, 没有数据行")
    if len(rows) > MAX_ROWS:
        raise reading.Rejected(f"行数过多 ({len(rows)}): 一次最多导入 {MAX_ROWS} 个摄像头")
    return headers, rows


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cells(raw: dict[str, Any], vendors: dict[str, str], protocols: dict[str, str]) -> dict[str, Any]:
    """Cells as the register's checks take them: text, numbers, choices by code or name. A cell
    that cannot be read raises reading.CellError naming what to do."""
    out: dict[str, Any] = {}
    for field, cell in raw.items():
        if field == "code":
            out[field] = reading.long_number(
                cell, "编号"
            )  # a 20-digit GB/T 28181 id as a number loses digits
        elif field in ("lon", "lat", "heading"):
            number = isinstance(cell, int | float) and not isinstance(cell, bool)
            out[field] = cell if number else reading.text(cell)
        elif field == "vendor":
            word = reading.text(cell)
            out[field] = vendors.get(word.lower(), VENDOR_ALIASES.get(word, word)) if word else Vendor.OTHER
        elif field == "protocol":
            word = reading.text(cell)
            out[field] = protocols.get(word.lower(), word) if word else Protocol.RTSP
        elif field == "watched":
            word = reading.text(cell).lower()
            out[field] = True if word in YES else False if word in NO else word
        else:
            out[field] = reading.text(cell)
    if out.get("heading") == "":
        out["heading"] = None
    return out


def _scope(actor: Any) -> frozenset[int] | None:
    return visible_grid_ids(actor) if getattr(actor, "is_authenticated", False) else None


def import_file(
    data: bytes, filename: str, *, actor: Any, progress: Any = None, job_id: int | None = None
) -> Report:
    """Check every row, then create or update every camera in one transaction; with any error,
    nothing is written and the report lists every problem by row and column."""
    report = Report(filename=filename[:200], job_id=job_id)
    progress = progress or (lambda *a, **k: None)
    try:
        headers, rows = read_rows(data, filename)
    except reading.Rejected as exc:
        report.error(None, "", "", exc.message)
        return _rejected(report, actor, exc.message)
    report.rows = len(rows)
    progress(0, len(rows), "校验中", force=True)
    vendors, protocols = _words(Vendor), _words(Protocol)
    checked: list[tuple[int, dict[str, Any]]] = []
    for number, raw in rows:
        try:
            values = _cells(raw, vendors, protocols)
            checked.append((number, check_fields(values, partial=False)))
        except reading.CellError as exc:
            report.error(number, "code", raw.get("code"), str(exc))
        except Refused as exc:
            for e in exc.errors:
                report.error(number, e["field"], raw.get(e["field"]), e["message"])
        except DomainError as exc:
            report.error(number, exc.field or "", "", exc.message)
    existing = {c.code: c for c in Camera.objects.filter(code__in=[v["code"] for _n, v in checked])}
    scope = _scope(actor)
    seen: dict[str, int] = {}
    plan: list[tuple[int, Camera | None, dict[str, Any]]] = []
    for number, clean in checked:
        code = clean["code"]
        if code in seen:
            report.error(number, "code", code, f"与第 {seen[code]} 行编号重复")
            continue
        seen[code] = number
        camera = existing.get(code)
        grid_id = grid_index.locate(clean["lon"], clean["lat"])
        if scope is not None and (
            grid_id not in scope or (camera is not None and camera.grid_id not in scope)
        ):
            report.error(number, "lon", clean["lon"], "位置不在您管辖的网格内")
            continue
        plan.append((number, camera, clean))
    if report.error_count:
        return _rejected(report, actor, f"{report.error_count} 处错误, 未导入任何摄像头; 请改正后重新导入")
    try:
        with transaction.atomic():
            for i, (_number, camera, clean) in enumerate(plan):
                if camera is None:
                    register_camera(actor=actor, **clean)
                    report.created += 1
                    continue
                changes = {k: v for k, v in clean.items() if k in headers and getattr(camera, k) != v}
                if changes:
                    update_camera(camera, actor=actor, **changes)
                    report.updated += 1
                else:
                    report.unchanged += 1
                if i % 100 == 0:
                    progress(i, len(plan), "写入中")
            report.message = (
                f"摄像头导入完成: 新增 {report.created}, 更新 {report.updated}, 未变 {report.unchanged}"
            )
            audit(
                "video.cameras_import",
                actor=actor,
                filename=report.filename,
                rows=report.rows,
                created=report.created,
                updated=report.updated,
                unchanged=report.unchanged,
                job_id=job_id,
            )
    except (DomainError, IntegrityError) as exc:
        # A camera registered by someone else while the file was checked (or scope changed).
        log.warning("camera import %s collided with a concurrent write: %s", filename, exc)
        report.created = report.updated = report.unchanged = 0
        message = (
            f"导入期间摄像头登记被他人修改, 未导入任何摄像头; 请重新导入 ({getattr(exc, 'message', '')})"
        )
        report.error(None, "", "", message)
        return _rejected(report, actor, message)
    progress(report.rows, report.rows, report.message, force=True)
    return report


def _rejected(report: Report, actor: Any, message: str) -> Report:
    report.message = message
    audit(
        "video.cameras_import_rejected",
        actor=actor,
        filename=report.filename,
        rows=report.rows,
        errors=report.error_count,
        job_id=report.job_id,
    )
    return report


@job_runner(JOB_KIND)
def run_import(job: Job, progress: Progress) -> dict[str, Any]:
    """The job: read the uploaded file, import it, delete it (it may hold camera passwords)."""
    try:
        with job.input_file.open("rb") as f:
            data = f.read(settings.IMPORT_MAX_BYTES + 1)
        report = import_file(
            data,
            str(job.params.get("filename") or job.input_file.name),
            actor=job.created_by or "system",
            progress=progress,
            job_id=job.pk,
        )
    finally:
        job.input_file.delete(save=False)
    return dataclasses.asdict(report)
