"""The measures (KPIs) of the case loop, per group and period, in the caller's data scope.

`measures()` reads the daily rollups; `measures_raw()` computes the same table straight from the
cases (the slow path: the benchmark's "without rollups" and the tests' reference). Both sum the
same daily counters, so their answers are equal; docs/measures.md defines every measure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from shequ.accounts.models import Department, Role, ScopeKind
from shequ.analytics.definitions import BASES, ROLLUPS, Dialect, raw_select
from shequ.analytics.models import BUCKET_FIELDS, COUNTERS, HANDLING_BOUNDS_MINUTES, Grain
from shequ.cases.models import Category, Source
from shequ.core.errors import Invalid
from shequ.grids.models import Grid, Level
from shequ.grids.selectors import visible_grid_ids

GROUP_BYS = ("community", "grid", "department", "category", "major_category", "source")
PERIODS = ("day", "week", "month")
# The rollup column and the raw SQL of each grouping (community and major class fold from these).
KEY_COLUMN = {
    None: None,
    "community": "grid_id",
    "grid": "grid_id",
    "department": "department_id",
    "category": "category_id",
    "major_category": "category_id",
    "source": "source",
}
KEY_SQL = {
    None: "0",
    "grid_id": "COALESCE(c.grid_id, 0)",
    "department_id": "COALESCE(c.department_id, 0)",
    "category_id": "COALESCE(c.category_id, 0)",
    "source": "c.source",
}

Counts = dict[tuple[dt.date, Any], list[int]]


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a user's measures count: cases of these grids (None: all), or of one department."""

    grids: frozenset[int] | None = None
    department: int | None = None


def scope_of(user: Any) -> Scope | None:
    """The user's data scope for measures (ARCHITECTURE §7); None when they may see no figures."""
    if not getattr(user, "is_authenticated", False):
        return None
    kind = Role(user.role).scope
    if kind == ScopeKind.DEPARTMENT:
        return Scope(department=user.department_id) if user.department_id else None
    if kind == ScopeKind.SELF:
        return None
    grids = visible_grid_ids(user)
    if grids is not None and not grids:
        return None
    return Scope(grids=grids)


def measures(
    user: Any, *, start: dt.date, end: dt.date, group_by: str | None = None, period: str | None = None
) -> list[dict[str, Any]]:
    """The measures of the days start..end (inclusive, Asia/Shanghai) per group and period, from
    the rollups. Rows are plain dicts (see `derive`), ordered by period and group."""
    _check(start, end, group_by, period)
    scope = scope_of(user)
    if scope is None:
        return []
    column = KEY_COLUMN[group_by]
    d = Dialect(connection.vendor)
    conditions = ["grain = %s", "day >= %s", "day <= %s"]
    params: list[Any] = [int(_grain(group_by, scope)), *_dates(start, end)]
    if scope.grids is not None:
        conditions.append(f"grid_id IN ({', '.join(['%s'] * len(scope.grids))})")
        params += sorted(scope.grids)
    if scope.department is not None:
        conditions.append("department_id = %s")
        params.append(scope.department)
    p = d.period_start("day", period)
    sums = ", ".join(f"SUM({c})" for c in COUNTERS)
    sql = (
        f"SELECT {p} AS p, {column or '0'} AS k, {sums} FROM {ROLLUPS}"  # noqa: S608 (no input in it)
        f" WHERE {' AND '.join(conditions)} GROUP BY p, k"
    )
    return _table(_fetch(sql, _period_params(period, start) + params), start, group_by)


def measures_raw(
    user: Any, *, start: dt.date, end: dt.date, group_by: str | None = None, period: str | None = None
) -> list[dict[str, Any]]:
    """The same table as `measures`, computed from the case rows themselves (no rollups)."""
    _check(start, end, group_by, period)
    scope = scope_of(user)
    if scope is None:
        return []
    conditions, scope_params = ["1 = 1"], []
    if scope.grids is not None:
        conditions.append(f"c.grid_id IN ({', '.join(['%s'] * len(scope.grids))})")
        scope_params += sorted(scope.grids)
    if scope.department is not None:
        conditions.append("c.department_id = %s")
        scope_params.append(scope.department)
    ops, tz = connection.ops, timezone.get_default_timezone()
    lo = timezone.make_aware(dt.datetime.combine(start, dt.time.min), tz)
    hi = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min), tz)
    bounds = [ops.adapt_datetimefield_value(lo), ops.adapt_datetimefield_value(hi)]
    sql = raw_select(
        Dialect(connection.vendor), KEY_SQL[KEY_COLUMN[group_by]], " AND ".join(conditions), period
    )
    params = _period_params(period, start) + (bounds + scope_params) * len(BASES)
    return _table(_fetch(sql, params), start, group_by)


def _dates(*days: dt.date) -> list[Any]:
    return [connection.ops.adapt_datefield_value(day) for day in days]


def _period_params(period: str | None, start: dt.date) -> list[Any]:
    return _dates(start) if period is None else []


def _fetch(sql: str, params: list[Any]) -> Counts:
    """(period's first day, key) → summed counters."""
    counts: Counts = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for day, key, *values in cursor.fetchall():
            day = dt.date.fromisoformat(day) if isinstance(day, str) else day
            counts[(day, key)] = [int(v or 0) for v in values]
    return counts


def _check(start: Any, end: Any, group_by: str | None, period: str | None) -> None:
    for value, field in ((start, "start"), (end, "end")):
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise Invalid(_("起止日期须为日期"), field=field)
    if end < start:
        raise Invalid(_("结束日期不能早于开始日期"), field="end")
    if group_by is not None and group_by not in GROUP_BYS:
        raise Invalid(_("不支持的分组: %(g)s") % {"g": group_by}, field="group_by")
    if period is not None and period not in PERIODS:
        raise Invalid(_("不支持的统计周期: %(p)s") % {"p": period}, field="period")


def _grain(group_by: str | None, scope: Scope) -> Grain:
    """The smallest rollup grain that answers this grouping in this scope."""
    if group_by in ("category", "major_category"):
        return Grain.GRID_CATEGORY if scope.grids is not None else Grain.DEPARTMENT_CATEGORY
    if group_by == "source":
        return Grain.GRID_SOURCE if scope.grids is not None else Grain.DEPARTMENT_SOURCE
    return Grain.GRID_DEPARTMENT


def _table(counts: Counts, start: dt.date, group_by: str | None) -> list[dict[str, Any]]:
    fold, label = _grouping(group_by, {key for _day, key in counts})
    totals: dict[tuple[dt.date, Any], list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
    for (day, key), values in counts.items():
        sums = totals[(day, fold(key))]
        for i, v in enumerate(values):
            sums[i] += v
    rows = []
    for (period_day, key), values in totals.items():
        counters = dict(zip(COUNTERS, values, strict=True))
        if not any(values):
            continue
        name = label(key) if group_by else _("合计")
        rows.append(
            {"period": period_day, "key": key if group_by else None, "name": name, **derive(counters)}
        )
    # Within a period: groups by key (id or source code), the "none" group (0) last.
    rows.sort(key=lambda r: (r["period"], r["key"] in (0, ""), r["key"] or 0))
    return rows


def _grouping(group_by: str | None, keys: set[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], str]]:
    """How raw keys fold into groups (grid → community, subclass → major class) and their names."""
    names: dict[Any, str] = {}
    fold: dict[Any, Any] = {}
    if group_by in ("grid", "community"):
        grids = {g.pk: g for g in Grid.objects.filter(pk__in=keys - {0}).only("pk", "name", "code", "path")}
        if group_by == "grid":
            names = {pk: g.name for pk, g in grids.items()}
        else:
            communities = list(Grid.objects.filter(level=Level.COMMUNITY).only("pk", "name", "path"))
            for pk in keys:
                grid = grids.get(pk)
                owner = next((c for c in communities if grid and grid.path.startswith(c.path)), None)
                fold[pk] = owner.pk if owner else 0
                if owner:
                    names[owner.pk] = owner.name
        names[0] = _("未归属社区") if group_by == "community" else _("未定位网格")
    elif group_by == "department":
        names = dict(Department.objects.filter(pk__in=keys).values_list("pk", "name"))
        names[0] = _("未派遣")
    elif group_by in ("category", "major_category"):
        categories = {
            c.pk: c for c in Category.objects.filter(pk__in=keys).only("pk", "code", "name", "parent")
        }
        if group_by == "major_category":
            fold = {pk: c.parent_id or pk for pk, c in categories.items()}
            majors = Category.objects.filter(pk__in=set(fold.values()))
            names = {c.pk: f"{c.code} {c.name}" for c in majors}
        else:
            names = {pk: f"{c.code} {c.name}" for pk, c in categories.items()}
        names[0] = _("未分类")
    elif group_by == "source":
        names = {s.value: str(s.label) for s in Source}
    return (lambda key: fold.get(key, key)), (lambda key: names.get(key, str(key)))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile_minutes(histogram: list[int], q_percent: int) -> int | None:
    """The handling time below which q % of cases closed, at the histogram's resolution: the upper
    bound of the bucket holding the case of rank ceil(q × n / 100) (nearest rank); the open last
    bucket answers with its lower bound."""
    n = sum(histogram)
    if not n:
        return None
    rank = -(-q_percent * n // 100)  # ceil in integers: 0.9 × 10 must be 9, not 9.000000000000002
    seen = 0
    for i, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return HANDLING_BOUNDS_MINUTES[min(i, len(HANDLING_BOUNDS_MINUTES) - 1)]
    raise AssertionError("unreachable: rank <= n")


def derive(c: dict[str, int]) -> dict[str, Any]:
    """Every measure from a group's summed daily counters (docs/measures.md). Rates are fractions
    (None when nothing to divide by), times in hours."""
    histogram = [c[f] for f in BUCKET_FIELDS]
    median, p90 = percentile_minutes(histogram, 50), percentile_minutes(histogram, 90)
    return_rate = _rate(c["returns"], c["dispatches"])
    return {
        "reported": c["reported"],
        "proactive": c["proactive"],
        "proactive_rate": _rate(c["proactive"], c["reported"]),
        "filed": c["filed"],
        "due": c["due"],
        "due_closed": c["due_closed"],
        "closed_on_time": c["due_on_time"],
        "closure_rate": _rate(c["due_closed"], c["due"]),
        "on_time_rate": _rate(c["due_on_time"], c["due"]),
        "closed": c["closed"],
        "handling_count": c["handling_count"],
        "handling_hours_mean": c["handling_minutes"] / c["handling_count"] / 60
        if c["handling_count"]
        else None,
        "handling_hours_median": median / 60 if median is not None else None,
        "handling_hours_p90": p90 / 60 if p90 is not None else None,
        "handled": c["handled"],
        "reworked": c["reworked"],
        "rework_rate": _rate(c["reworked"], c["handled"]),
        "dispatches": c["dispatches"],
        "returns": c["returns"],
        "return_rate": return_rate,
        "dispatch_accuracy": 1 - return_rate if return_rate is not None else None,
        "rated": c["rated"],
        "satisfied": c["satisfied"],
        "basically_satisfied": c["basically"],
        "satisfaction_rate": _rate(c["satisfied"] + c["basically"], c["rated"]),
        "overdue": c["overdue"],
        "supervised": c["supervised"],
    }
