"""Every measure defined once, in SQL over the case table (docs/measures.md).

A case counts for each *basis* (reported, filed, due, closed, ...) on one day, the Asia/Shanghai
day of a datetime expression, and adds *values* there. Three readers use these definitions:

- `fact_select`: one row per case (its keys, the day of every basis, its values), which
  `analytics.rollups` stores as `CaseFact` and sums into `Rollup` rows;
- `contributions_select`: a stored fact's rows of counters, one per basis it counts for;
- `raw_select`: the same counters straight from the cases, grouped by day and one key: the
  "without rollups" path, which the tests check against the rollups.

Only the day and epoch arithmetic differ between SQLite and PostgreSQL (`Dialect`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from shequ.analytics.models import BUCKET_FIELDS, COUNTERS, HANDLING_BOUNDS_MINUTES, CaseFact, Rollup
from shequ.cases.models import OPEN_STATES, PROACTIVE_SOURCES, Case, CaseState, Supervision

CASES = Case._meta.db_table
FACTS = CaseFact._meta.db_table
ROLLUPS = Rollup._meta.db_table
SUPERVISIONS = Supervision._meta.db_table


def _quoted(values: Sequence[str]) -> str:
    # Only ever called with the cases app's own choice values, never with input.
    return ", ".join(f"'{v}'" for v in sorted(values))


OPEN = _quoted([str(s) for s in OPEN_STATES])
PROACTIVE = _quoted([str(s) for s in PROACTIVE_SOURCES])
CLOSED = f"'{CaseState.CLOSED}'"
NOT_DUE = _quoted([CaseState.REJECTED, CaseState.MERGED])


@dataclasses.dataclass(frozen=True)
class Dialect:
    vendor: str

    def day(self, expr: str) -> str:
        """The Asia/Shanghai calendar day of a UTC datetime. China has kept UTC+8 all year since
        1991, so SQLite's fixed offset is exact for every date a case can have."""
        if self.vendor == "sqlite":
            return f"date({expr}, '+8 hours')"
        return f"(({expr}) AT TIME ZONE 'Asia/Shanghai')::date"

    def epoch(self, expr: str) -> str:
        """Whole seconds since 1970 (fractions dropped, the same on both databases)."""
        if self.vendor == "sqlite":
            return f"CAST(strftime('%%s', {expr}) AS INTEGER)"  # %% : the driver's placeholder escape
        return f"FLOOR(EXTRACT(EPOCH FROM {expr}))::bigint"

    def period_start(self, day: str, period: str | None) -> str:
        """SQL for the first day of the period a day (a DATE expression) falls in: the day itself,
        its ISO week's Monday, its month's first day; None: one period (the caller's start, %s)."""
        if period == "day":
            return day
        if period is None:
            return "%s"
        if self.vendor == "sqlite":
            # 'weekday 0' moves to the coming Sunday (or stays on one); six days back is Monday.
            return (
                f"date({day}, 'weekday 0', '-6 days')"
                if period == "week"
                else f"date({day}, 'start of month')"
            )
        return f"date_trunc('{period}', {day})::date"

    def greatest(self, a: str, b: str) -> str:
        return f"MAX({a}, {b})" if self.vendor == "sqlite" else f"GREATEST({a}, {b})"


def _on_time() -> str:
    # The cases app decides `closed_on_time` on closing; where it has not (NULL), the deadline does.
    return (
        f"CASE WHEN c.state = {CLOSED} AND (c.closed_on_time = TRUE OR (c.closed_on_time IS NULL"
        " AND (c.handle_due_at IS NULL OR c.closed_at <= c.handle_due_at))) THEN 1 ELSE 0 END"
    )


def values_sql(d: Dialect) -> dict[str, str]:
    """A case's values (CaseFact columns), as SQL over `cases_case c`."""
    minutes = d.greatest("0", f"({d.epoch('c.closed_at')} - {d.epoch('c.filed_at')}) / 60")
    return {
        "proactive": f"CASE WHEN c.source IN ({PROACTIVE}) THEN 1 ELSE 0 END",
        "is_closed": f"CASE WHEN c.state = {CLOSED} THEN 1 ELSE 0 END",
        "on_time": _on_time(),
        # Wall-clock minutes from filing to closing (docs/measures.md says why not working time).
        "handling_minutes": (
            f"CASE WHEN c.state = {CLOSED} AND c.filed_at IS NOT NULL AND c.closed_at IS NOT NULL"
            f" THEN {minutes} END"
        ),
        "reworked": "CASE WHEN c.rework_count > 0 THEN 1 ELSE 0 END",
        "dispatches": "c.dispatch_count",
        "returns": "c.return_count",
        "satisfied": "CASE WHEN c.satisfaction = 'satisfied' THEN 1 ELSE 0 END",
        "basically": "CASE WHEN c.satisfaction = 'basically' THEN 1 ELSE 0 END",
    }


VALUES = (
    "proactive",
    "is_closed",
    "on_time",
    "handling_minutes",
    "reworked",
    "dispatches",
    "returns",
    "satisfied",
    "basically",
)


@dataclasses.dataclass(frozen=True)
class Basis:
    """What a case counts for on one day: the day of `moment` when `when` holds (and `moment` is
    not NULL); `counters` are the rollup columns it adds to, as SQL over the values (`{name}`)."""

    name: str
    moment: str
    counters: dict[str, str]
    when: str = "1 = 1"


def _buckets() -> dict[str, str]:
    out = {}
    lows = (0, *HANDLING_BOUNDS_MINUTES)
    for i, field in enumerate(BUCKET_FIELDS):
        cond = f"{{handling_minutes}} >= {lows[i]}"
        if i < len(HANDLING_BOUNDS_MINUTES):
            cond += f" AND {{handling_minutes}} < {HANDLING_BOUNDS_MINUTES[i]}"
        out[field] = f"CASE WHEN {cond} THEN 1 ELSE 0 END"
    return out


BASES: tuple[Basis, ...] = (
    Basis("reported", "c.created_at", {"reported": "1", "proactive": "{proactive}"}),
    Basis("filed", "c.filed_at", {"filed": "1"}),
    # 应结案: due on the earlier of the handling deadline and the closing (a case closed before its
    # deadline was due when it closed); a rejected or merged report is never due.
    Basis(
        "due",
        f"CASE WHEN c.state = {CLOSED} AND c.closed_at IS NOT NULL"
        " AND (c.handle_due_at IS NULL OR c.closed_at < c.handle_due_at) THEN c.closed_at"
        " ELSE c.handle_due_at END",
        {"due": "1", "due_closed": "{is_closed}", "due_on_time": "{on_time}"},
        when=f"c.state NOT IN ({NOT_DUE})",
    ),
    Basis(
        "closed",
        "c.closed_at",  # also stamped on rejecting and merging, which are not 结案
        {
            "closed": "1",
            "handling_count": "CASE WHEN {handling_minutes} IS NOT NULL THEN 1 ELSE 0 END",
            "handling_minutes": "COALESCE({handling_minutes}, 0)",
            **_buckets(),
        },
        when=f"c.state = {CLOSED}",
    ),
    Basis("handled", "c.handled_at", {"handled": "1", "reworked": "{reworked}"}),
    Basis("dispatched", "c.dispatched_at", {"dispatches": "{dispatches}", "returns": "{returns}"}),
    Basis(
        "rated",
        "COALESCE(c.callback_at, c.closed_at)",
        {"rated": "1", "satisfied": "{satisfied}", "basically": "{basically}"},
        when="c.satisfaction <> ''",
    ),
    # 超期: an open case the deadline sweep marked overdue, on that day; a case closed late, on the
    # day of the deadline it missed.
    Basis(
        "overdue",
        f"CASE WHEN c.state IN ({OPEN}) THEN c.overdue_at ELSE COALESCE(c.handle_due_at, c.closed_at) END",
        {"overdue": "1"},
        when=f"(c.state IN ({OPEN}) AND c.overdue_at IS NOT NULL)"
        f" OR (c.state = {CLOSED} AND ({_on_time()}) = 0)",
    ),
    # 督办: on the day of the case's first supervision.
    Basis(
        "supervised",
        f"(SELECT MIN(s.at) FROM {SUPERVISIONS} s WHERE s.case_id = c.id)",  # noqa: S608
        {"supervised": "1"},
        when="c.supervision_level > 0",
    ),
)

FACT_KEYS = ("grid_id", "department_id", "category_id", "source")
KEYS_SQL = {
    "grid_id": "COALESCE(c.grid_id, 0)",
    "department_id": "COALESCE(c.department_id, 0)",
    "category_id": "COALESCE(c.category_id, 0)",
    "source": "c.source",
}
FACT_COLUMNS = ("case_id", *FACT_KEYS, *(f"{b.name}_on" for b in BASES), *VALUES)


def fact_select(d: Dialect, where: str = "1 = 1") -> str:
    """SELECT of CaseFact rows (columns in FACT_COLUMNS order) for the cases matching `where`."""
    vals = values_sql(d)
    columns = [
        "c.id",
        *(KEYS_SQL[k] for k in FACT_KEYS),
        *(f"CASE WHEN {b.when} THEN {d.day(b.moment)} END" for b in BASES),
        *(vals[v] for v in VALUES),
    ]
    return f"SELECT {', '.join(columns)} FROM {CASES} c WHERE {where}"  # noqa: S608 (no input in it)


def _counter_columns(basis: Basis, value: dict[str, str], sign: str = "") -> list[str]:
    out = []
    for counter in COUNTERS:
        expr = basis.counters.get(counter)
        out.append(f"{sign}({expr.format(**value)})" if expr else "0")
    return out


def contributions_select(where: str = "1 = 1", *, negate: bool = False) -> str:
    """Rows (day, grid_id, department_id, category_id, source, *COUNTERS) of the stored facts
    matching `where` (over `f`), one per basis a fact counts for; negated to take them away."""
    value = {v: f"f.{v}" for v in VALUES}
    branches = []
    for b in BASES:
        columns = [f"f.{b.name}_on AS day", *(f"f.{k} AS {k}" for k in FACT_KEYS)]
        counters = _counter_columns(b, value, "-" if negate else "")
        columns += [f"{c} AS {name}" for c, name in zip(counters, COUNTERS, strict=True)]
        branches.append(
            f"SELECT {', '.join(columns)} FROM {FACTS} f"  # noqa: S608 (no input in it)
            f" WHERE f.{b.name}_on IS NOT NULL AND ({where})"
        )
    return " UNION ALL ".join(branches)


def raw_select(d: Dialect, key: str, scope: str, period: str | None) -> str:
    """Counters straight from the cases, summed per (period, key): `key` is SQL over `c` (or "0"),
    `scope` a condition over `c`. Every basis takes its moment's UTC bounds [%s, %s) and then the
    scope's parameters, so the caller passes `[start, end, *scope_params] * len(BASES)` (and,
    when `period` is None, the start day first)."""
    vals = values_sql(d)
    value = {v: f"({vals[v]})" for v in VALUES}
    branches = []
    for b in BASES:
        columns = [f"{d.day(b.moment)} AS day", f"{key} AS k"]
        columns += [f"{c} AS {name}" for c, name in zip(_counter_columns(b, value), COUNTERS, strict=True)]
        # A bare column (created_at, closed_at) lets the database range-scan its index.
        moment = b.moment if b.moment.startswith("c.") and " " not in b.moment else f"({b.moment})"
        branches.append(
            f"SELECT {', '.join(columns)} FROM {CASES} c"  # noqa: S608 (no input in it)
            f" WHERE ({b.when}) AND {moment} >= %s AND {moment} < %s AND ({scope})"
        )
    sums = ", ".join(f"SUM({c})" for c in COUNTERS)
    p = d.period_start("day", period)
    return f"SELECT {p} AS p, k, {sums} FROM ({' UNION ALL '.join(branches)}) u GROUP BY p, k"  # noqa: S608
