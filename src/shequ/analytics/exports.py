"""The measures table as an Excel sheet: Chinese headers, rates as percentages, times in hours.

The rows come from `measures()` (already in the caller's scope); they are aggregate figures, with
no personal data in them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.styles import Font

PERCENT = "0.0%"
HOURS = "0.0"

# (row key, header, number format) in sheet order.
COLUMNS: tuple[tuple[str, Promise, str | None], ...] = (
    ("reported", _("上报数"), None),
    ("proactive", _("主动发现数"), None),
    ("proactive_rate", _("主动发现率"), PERCENT),
    ("filed", _("立案数"), None),
    ("due", _("应结案数"), None),
    ("due_closed", _("应结已结数"), None),
    ("closed_on_time", _("按期结案数"), None),
    ("closure_rate", _("结案率"), PERCENT),
    ("on_time_rate", _("按期结案率"), PERCENT),
    ("closed", _("结案数"), None),
    ("handling_hours_mean", _("平均处置时长(小时)"), HOURS),
    ("handling_hours_median", _("处置时长中位数(小时)"), HOURS),
    ("handling_hours_p90", _("处置时长P90(小时)"), HOURS),
    ("handled", _("反馈数"), None),
    ("reworked", _("返工数"), None),
    ("rework_rate", _("返工率"), PERCENT),
    ("dispatches", _("派遣次数"), None),
    ("returns", _("退单次数"), None),
    ("return_rate", _("退单率"), PERCENT),
    ("dispatch_accuracy", _("派遣准确率"), PERCENT),
    ("rated", _("回访数"), None),
    ("satisfied", _("满意数"), None),
    ("basically_satisfied", _("基本满意数"), None),
    ("satisfaction_rate", _("满意率"), PERCENT),
    ("overdue", _("超期数"), None),
    ("supervised", _("督办数"), None),
)
GROUP_HEADERS = {
    None: _("范围"),
    "community": _("社区"),
    "grid": _("网格"),
    "department": _("处置部门"),
    "category": _("类别"),
    "major_category": _("大类"),
    "source": _("来源"),
}
PERIOD_HEADERS = {None: _("起始日期"), "day": _("日期"), "week": _("周(起始日)"), "month": _("月份")}


def export_measures(rows: Sequence[dict[str, Any]], *, group_by: str | None, period: str | None) -> bytes:
    """An .xlsx workbook of one measures table, a header row then one row per (period, group)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = str(_("统计指标"))
    headers = [str(PERIOD_HEADERS[period]), str(GROUP_HEADERS[group_by])] + [str(h) for _k, h, _f in COLUMNS]
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        when = row["period"].strftime("%Y-%m") if period == "month" else row["period"]
        sheet.append([when, row["name"], *(row[key] for key, _h, _f in COLUMNS)])
        r = sheet.max_row
        sheet.cell(row=r, column=1).number_format = "yyyy-mm-dd" if period != "month" else "@"
        for i, (_key, _header, fmt) in enumerate(COLUMNS, start=3):
            if fmt:
                sheet.cell(row=r, column=i).number_format = fmt
    sheet.freeze_panes = "C2"
    sheet.column_dimensions["A"].width = 12
    sheet.column_dimensions["B"].width = 20
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
