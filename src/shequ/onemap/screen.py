"""The big screen (大屏): the command center's wall dashboard at /onemap/screen/ (docs/onemap.md).

The page is a fixed 1920×1080 canvas scaled to the display; its figures come from one JSON read
(`screen_figures`) that the page asks for again every minute and a few seconds after live events.
Measures come from the rollups (analytics.measures), the state of open cases now from the cases
table, both in the viewer's scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from shequ.analytics.measures import measures
from shequ.analytics.patrols import drone_share, patrol_measures
from shequ.cases import selectors
from shequ.cases.models import OPEN_STATES, PROACTIVE_SOURCES, Case, Evidence
from shequ.onemap.selectors import may_use_map
from shequ.web import access

TREND_DAYS = 30
TOP = 8  # rows in each list of the screen


@access.require(may_use_map)
def screen(request: HttpRequest) -> HttpResponse:
    strings = {
        "reported": _("上报"),
        "closed": _("结案"),
        "open": _("在办"),
        "overdue": _("超期"),
        "late": _("已超"),
        "level": _("级督办"),
        "grids": _("网格"),
        "none": _("暂无"),
    }
    return render(
        request, "onemap/screen.html", {"data_url": reverse("web:onemap:screen_data"), "strings": strings}
    )


@access.require(may_use_map)
def screen_data(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(screen_figures(request.user, timezone.now()))
    response["Cache-Control"] = "private, no-store"
    return response


def screen_figures(user: Any, now: dt.datetime) -> dict[str, Any]:
    """Everything the big screen shows, in the user's scope, as JSON-safe values."""
    today = timezone.localdate(now)
    since = today - dt.timedelta(days=TREND_DAYS - 1)
    day = _first(measures(user, start=today, end=today))
    month = _first(measures(user, start=today.replace(day=1), end=today))
    trend = measures(user, start=since, end=today, period="day")
    by_day = {row["period"]: row for row in trend}
    days = [since + dt.timedelta(days=i) for i in range(TREND_DAYS)]

    open_cases = selectors.cases_for(user).filter(state__in=OPEN_STATES)
    late = selectors.overdue_q(now)
    counts = open_cases.aggregate(
        open=Count("id"),
        overdue=Count("id", filter=late),
        supervised=Count("id", filter=Q(supervision_level__gt=0)),
    )
    grids = (
        open_cases.exclude(grid=None)
        .values("grid__code", "grid__name")
        .annotate(open=Count("id"), overdue=Count("id", filter=late))
        .order_by("-open", "grid__code")[:10]
    )
    related = ("category", "grid", "department")
    overdue = open_cases.filter(late).select_related(*related).order_by("due_at", "id")[:TOP]
    supervised = (
        open_cases.filter(supervision_level__gt=0)
        .select_related(*related)
        .order_by("-supervision_level", "due_at", "id")[:TOP]
    )
    return {
        "now": timezone.localtime(now).isoformat(),
        "today": _kpi(day),
        "month": _kpi(month),
        "now_open": counts,
        "trend": {
            "x": [d.strftime("%m-%d") for d in days],
            "reported": [_get(by_day.get(d), "reported") for d in days],
            "closed": [_get(by_day.get(d), "closed") for d in days],
            "proactive_rate": [_get(by_day.get(d), "proactive_rate") for d in days],
        },
        "by_source": _shares(measures(user, start=since, end=today, group_by="source")),
        "by_category": _shares(measures(user, start=since, end=today, group_by="major_category")),
        "by_grid": [
            {"code": g["grid__code"], "name": g["grid__name"], "open": g["open"], "overdue": g["overdue"]}
            for g in grids
        ],
        "overdue": [_case_row(c, now) for c in overdue],
        "supervised": [_case_row(c, now) for c in supervised],
        "snapshots": _snapshots(user),
        "drones": _drones(user, today),
    }


def _drones(user: Any, today: dt.date) -> dict[str, Any]:
    """Drone patrols (analytics.patrols): the month's drone share of proactive discovery, and the
    last 7 days' flights and mean grid coverage (the union of the flights' coverage per grid)."""
    week = patrol_measures(user, start=today - dt.timedelta(days=6), end=today)
    month = drone_share(user, start=today.replace(day=1), end=today)
    return {"share": month["share"], "flights": week["flights"], "coverage": week["coverage_mean"]}


def _first(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return rows[0] if rows else {}


def _get(row: dict[str, Any] | None, key: str) -> Any:
    return row.get(key, 0) if row else 0


KPI_KEYS = (
    "reported",
    "closed",
    "closure_rate",
    "on_time_rate",
    "proactive_rate",
    "satisfaction_rate",
    "handling_hours_mean",
    "overdue",
)


def _kpi(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in KPI_KEYS}


def _shares(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shown = sorted((r for r in rows if r["reported"]), key=lambda r: -r["reported"])
    return [{"name": str(r["name"]), "value": r["reported"]} for r in shown]


def _case_row(case: Case, now: dt.datetime) -> dict[str, Any]:
    late_minutes = int((now - case.due_at).total_seconds() // 60) if case.due_at and case.due_at < now else 0
    return {
        "number": case.number,
        "title": case.title or (case.category.name if case.category else case.description[:20]),
        "grid": case.grid.name if case.grid else "",
        "department": case.department.name if case.department else "",
        "state": case.get_state_display(),
        "level": case.supervision_level,
        "late_minutes": late_minutes,
        "url": reverse("web:cases:detail", kwargs={"ref": case.number}),
    }


def _snapshots(user: Any) -> list[dict[str, Any]]:
    """The latest photos of proactively found cases (camera and drone snapshots first of all)."""
    photos = (
        Evidence.objects.filter(case__in=selectors.cases_for(user), case__source__in=PROACTIVE_SOURCES)
        .exclude(kind=Evidence.Kind.RESULT)
        .select_related("case", "case__category")
        .order_by("-uploaded_at", "-id")[:6]
    )
    return [
        {
            "number": e.case.number,
            "source": e.case.get_source_display(),
            "category": e.case.category.name if e.case.category else "",
            "at": timezone.localtime(e.uploaded_at).strftime("%m-%d %H:%M"),
            "url": reverse("web:cases:photo", kwargs={"ref": e.case.number, "pk": e.pk}) + "?thumb=1",
            "case_url": reverse("web:cases:detail", kwargs={"ref": e.case.number}),
        }
        for e in photos
    ]
