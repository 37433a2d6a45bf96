"""The measures sheet opens in Excel with Chinese headers, rates as percentages, times in hours."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

from openpyxl import load_workbook

from tests.analytics.conftest import at


def test_export_measures(
    world: dict[str, Any], make_case: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    from shequ.accounts.models import Role
    from shequ.analytics.exports import export_measures
    from shequ.analytics.measures import measures
    from shequ.analytics.rollups import rebuild_rollups

    # Two cases of grid 11 in March: one closed on time in 3 h (filed 09:00, closed 12:00), one open.
    make_case(
        grid=world["grid11"], state="closed", source="camera", created_at=at(3, 3, 8), filed_at=at(3, 3, 9),
        handle_due_at=at(3, 5, 9), closed_at=at(3, 3, 12), closed_on_time=True,
    )  # fmt: skip
    make_case(grid=world["grid11"], state="filed", created_at=at(3, 20, 8), filed_at=at(3, 20, 9))
    rebuild_rollups()
    rows = measures(
        make_user(Role.ADMINISTRATOR),
        start=dt.date(2025, 3, 1),
        end=dt.date(2025, 3, 31),
        group_by="grid",
        period="month",
    )
    data = export_measures(rows, group_by="grid", period="month")
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None and sheet.title == "统计指标"
    header = [c.value for c in sheet[1]]
    assert header[:6] == ["月份", "网格", "上报数", "主动发现数", "主动发现率", "立案数"]
    assert "结案率" in header and "退单率" in header and "处置时长P90(小时)" in header
    values = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert (values["月份"], values["网格"], values["上报数"], values["主动发现数"]) == (
        "2025-03",
        "社区1第1网格",
        2,
        1,
    )
    assert (values["应结案数"], values["结案率"], values["平均处置时长(小时)"]) == (1, 1.0, 3.0)
    assert values["返工率"] is None  # nothing fed back: no rate, not 0 %
    cells = dict(zip(header, sheet[2], strict=True))
    assert cells["主动发现率"].number_format == "0.0%"
    assert cells["平均处置时长(小时)"].number_format == "0.0"
    assert sheet.max_row == 2
