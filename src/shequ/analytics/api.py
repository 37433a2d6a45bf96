"""REST endpoints of the measures (KPIs), /api/measures/ (docs/api.md, docs/measures.md): the table
`analytics.measures` computes in the caller's data scope, as JSON or as an Excel sheet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from shequ.analytics.exports import export_measures
from shequ.analytics.measures import GROUP_BYS, PERIODS, measures
from shequ.core.api import BadRequest, param_choice, param_text

DEFAULT_DAYS = 30
MAX_DAYS = 3660  # ten years
MAX_DAYS_BY_DAY = 366  # one row per day and group: a year at most
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def param_day(params: Mapping[str, str], name: str) -> dt.date | None:
    value = param_text(params, name, max_length=10)
    if value is None:
        return None
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        raise BadRequest(f"参数 {name} 应为 2000–2100 年间的日期 (YYYY-MM-DD)", field=name)
    return day


def read_query(params: Mapping[str, str]) -> dict[str, Any]:
    """start..end (inclusive, default the last 30 days), group_by and period, bounded."""
    end = param_day(params, "end") or timezone.localdate()
    start = param_day(params, "start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise BadRequest("结束日期不能早于开始日期", field="end")
    period = param_choice(params, "period", PERIODS)
    days = (end - start).days + 1
    limit = MAX_DAYS_BY_DAY if period == "day" else MAX_DAYS
    if days > limit:
        raise BadRequest(f"统计范围最多 {limit} 天", field="start")
    return {
        "start": start,
        "end": end,
        "group_by": param_choice(params, "group_by", GROUP_BYS),
        "period": period,
    }


PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="开始日期 (含), 默认为结束日期前 29 天"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="结束日期 (含), 默认今天"),
    OpenApiParameter("group_by", str, enum=list(GROUP_BYS), description="分组; 不填为合计"),
    OpenApiParameter("period", str, enum=list(PERIODS), description="统计周期; 不填为整个范围"),
]
RATE = serializers.FloatField(allow_null=True)
HOURS = serializers.FloatField(allow_null=True)
MeasureRow = inline_serializer(
    "MeasureRow",
    {
        "period": serializers.DateField(help_text="周期的第一天"),
        "key": serializers.JSONField(
            allow_null=True, help_text="分组键: id、来源编码, 0/空为未归属, 合计为 null"
        ),
        "name": serializers.CharField(),
        "reported": serializers.IntegerField(),
        "proactive": serializers.IntegerField(),
        "proactive_rate": RATE,
        "filed": serializers.IntegerField(),
        "due": serializers.IntegerField(),
        "due_closed": serializers.IntegerField(),
        "closed_on_time": serializers.IntegerField(),
        "closure_rate": RATE,
        "on_time_rate": RATE,
        "closed": serializers.IntegerField(),
        "handling_count": serializers.IntegerField(),
        "handling_hours_mean": HOURS,
        "handling_hours_median": HOURS,
        "handling_hours_p90": HOURS,
        "handled": serializers.IntegerField(),
        "reworked": serializers.IntegerField(),
        "rework_rate": RATE,
        "dispatches": serializers.IntegerField(),
        "returns": serializers.IntegerField(),
        "return_rate": RATE,
        "dispatch_accuracy": RATE,
        "rated": serializers.IntegerField(),
        "satisfied": serializers.IntegerField(),
        "basically_satisfied": serializers.IntegerField(),
        "satisfaction_rate": RATE,
        "overdue": serializers.IntegerField(),
        "supervised": serializers.IntegerField(),
    },
)
ErrorBody = inline_serializer(
    "MeasuresError", {"detail": serializers.CharField(), "field": serializers.CharField(required=False)}
)


@extend_schema(
    parameters=PARAMETERS,
    responses={
        200: inline_serializer(
            "Measures",
            {
                "start": serializers.DateField(),
                "end": serializers.DateField(),
                "group_by": serializers.CharField(allow_null=True),
                "period": serializers.CharField(allow_null=True),
                "rows": serializers.ListField(child=MeasureRow),
            },
        ),
        400: OpenApiResponse(ErrorBody, description="参数错误"),
    },
)
@api_view(["GET"])
def measure_table(request: Request) -> Response:
    """统计指标: reported, filed, closure and on-time rates, handling times, rework, satisfaction,
    overdue ... per group and period, in the caller's data scope."""
    query = read_query(request.query_params)
    rows = measures(request.user, **query)
    return Response({**query, "rows": rows})


@extend_schema(
    parameters=PARAMETERS,
    responses={
        (200, XLSX): OpenApiTypes.BINARY,
        400: OpenApiResponse(ErrorBody, description="参数错误"),
    },
)
@api_view(["GET"])
def measure_export(request: Request) -> HttpResponse:
    """The same table as an Excel workbook (.xlsx)."""
    query = read_query(request.query_params)
    rows = measures(request.user, **query)
    body = export_measures(rows, group_by=query["group_by"], period=query["period"])
    name = f"measures-{query['start']:%Y%m%d}-{query['end']:%Y%m%d}.xlsx"
    response = HttpResponse(body, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


urlpatterns = [
    path("", measure_table, name="measures"),
    path("export.xlsx", measure_export, name="measures-export"),
]
