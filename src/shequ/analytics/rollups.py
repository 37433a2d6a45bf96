"""Writes of the analytics tables: the case facts and the daily rollups (docs/measures.md).

`refresh_cases(ids)` moves the counts of a few cases: it takes away what their stored facts
counted, stores their facts as the cases are now, and adds what those count. It is what the
`cases.transitioned` / `cases.deadline` handler runs, idempotent (a replayed event finds nothing to
move). `rebuild_rollups()` recomputes everything from the cases in a few set-based statements;
`rebuild_rollups(since)` refreshes the cases changed since a day.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from shequ.analytics.definitions import (
    BASES,
    CASES,
    FACT_COLUMNS,
    FACT_KEYS,
    FACTS,
    ROLLUPS,
    Dialect,
    contributions_select,
    fact_select,
)
from shequ.analytics.models import COUNTERS, GRAIN_KEYS, KEYS, Grain
from shequ.cases.models import Case

ROLLUP_KEY = ("grain", "day", *KEYS)
ROLLUP_COLUMNS = (*ROLLUP_KEY, *COUNTERS)
WORK = "analytics_rollup_work"  # a temporary table of one rebuild
CHUNK = 500  # cases per refresh when many changed

Key = tuple[Any, ...]


def dialect() -> Dialect:
    return Dialect(connection.vendor)


def _grain_key(grain: int, keys: dict[str, Any]) -> tuple[Any, ...]:
    kept = GRAIN_KEYS[grain]
    return tuple(keys[k] if k in kept else ("" if k == "source" else 0) for k in KEYS)


def _grain_columns(grain: int, alias: str) -> list[str]:
    kept = GRAIN_KEYS[grain]
    return [f"{alias}.{k}" if k in kept else ("''" if k == "source" else "0") for k in KEYS]


def _as_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


@transaction.atomic
def rebuild_rollups(since: dt.date | None = None) -> dict[str, Any]:
    """Recompute the facts and rollups from the cases: all of them (`since=None`), or only the
    cases changed on or after `since` (Asia/Shanghai), plus any case without a fact."""
    started = time.perf_counter()
    cases = refresh_changed(since) if since is not None else _rebuild_all()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {ROLLUPS}", [])  # noqa: S608
        rows = cursor.fetchone()[0]
    return {"cases": cases, "rollup_rows": rows, "seconds": round(time.perf_counter() - started, 2)}


def _rebuild_all() -> int:
    d = dialect()
    facts = ", ".join(FACT_COLUMNS)
    keys = ", ".join(KEYS)
    sums = ", ".join(f"SUM({c}) AS {c}" for c in COUNTERS)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ROLLUPS}", [])  # noqa: S608
        cursor.execute(f"DELETE FROM {FACTS}", [])  # noqa: S608
        cursor.execute(f"INSERT INTO {FACTS} ({facts}) {fact_select(d)}", [])
        cases = cursor.rowcount
        # Sum every fact's rows per full key once, then each grain from that (far fewer rows
        # than reading the facts once per grain).
        cursor.execute(f"DROP TABLE IF EXISTS {WORK}", [])
        cursor.execute(
            f"CREATE TEMPORARY TABLE {WORK} AS SELECT day, {keys}, {sums}"  # noqa: S608
            f" FROM ({contributions_select()}) u GROUP BY day, {keys}",
            [],
        )
        # A case dispatched with no dispatch counted adds a row of zeros: kept by no refresh either.
        nonzero = " OR ".join(f"SUM(w.{c}) <> 0" for c in COUNTERS)
        for grain in Grain:
            columns = ", ".join(_grain_columns(grain, "w"))
            kept = ", ".join(f"w.{k}" for k in GRAIN_KEYS[grain])  # a constant in GROUP BY is a position
            sums = ", ".join(f"SUM(w.{c})" for c in COUNTERS)
            cursor.execute(
                f"INSERT INTO {ROLLUPS} ({', '.join(ROLLUP_COLUMNS)})"  # noqa: S608
                f" SELECT {int(grain)}, w.day, {columns}, {sums} FROM {WORK} w GROUP BY w.day, {kept}"
                f" HAVING {nonzero}",
                [],
            )
        cursor.execute(f"DROP TABLE {WORK}", [])
    return cases


def refresh_changed(since: dt.date) -> int:
    """Refresh the cases changed on or after `since`, those never rolled up, and the facts of
    cases that no longer exist. Returns how many cases it looked at."""
    start = timezone.make_aware(dt.datetime.combine(since, dt.time.min), timezone.get_default_timezone())
    bound = connection.ops.adapt_datetimefield_value(start)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {CASES} WHERE updated_at >= %s"  # noqa: S608
            f" UNION SELECT c.id FROM {CASES} c LEFT JOIN {FACTS} f ON f.case_id = c.id"
            " WHERE f.case_id IS NULL"
            f" UNION SELECT f.case_id FROM {FACTS} f LEFT JOIN {CASES} c ON c.id = f.case_id"
            " WHERE c.id IS NULL",
            [bound],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    for i in range(0, len(ids), CHUNK):
        refresh_cases(ids[i : i + CHUNK])
    return len(ids)


@transaction.atomic
def refresh_cases(case_ids: Iterable[int]) -> int:
    """Move the rollup counts of these cases to what the cases are now. Returns the number of
    rollup rows changed."""
    ids = sorted({int(i) for i in case_ids})
    if not ids:
        return 0
    # Two refreshes of one case at once would both take away its old fact: hold its row.
    list(Case.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    marks = ", ".join(["%s"] * len(ids))
    delta: dict[Key, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
    with connection.cursor() as cursor:
        # The condition stands in each basis' branch: its parameters once per basis.
        cursor.execute(contributions_select(f"f.case_id IN ({marks})", negate=True), ids * len(BASES))
        rows = cursor.fetchall()
        cursor.execute(f"DELETE FROM {FACTS} WHERE case_id IN ({marks})", ids)  # noqa: S608
        cursor.execute(
            f"INSERT INTO {FACTS} ({', '.join(FACT_COLUMNS)}) {fact_select(dialect(), f'c.id IN ({marks})')}",
            ids,
        )
        cursor.execute(contributions_select(f"f.case_id IN ({marks})"), ids * len(BASES))
        rows += cursor.fetchall()
    n_keys = len(FACT_KEYS)
    for row in rows:
        day = _as_date(row[0])
        keys = dict(zip(KEYS, row[1 : 1 + n_keys], strict=True))
        counters = row[1 + n_keys :]
        for grain in Grain:
            sums = delta[(int(grain), day, *_grain_key(grain, keys))]
            for i, value in enumerate(counters):
                sums[i] += int(value)
    changes = {k: v for k, v in delta.items() if any(v)}
    _add(changes)
    return len(changes)


def _add(changes: dict[Key, list[int]]) -> None:
    """Add to the rollup rows, creating the missing ones; drop rows left all zero."""
    if not changes:
        return
    ops = connection.ops
    conflict = ", ".join(ROLLUP_KEY)
    update = ", ".join(f"{c} = {ROLLUPS}.{c} + excluded.{c}" for c in COUNTERS)
    row_marks = "(" + ", ".join(["%s"] * len(ROLLUP_COLUMNS)) + ")"
    # Sorted: concurrent refreshes lock rollup rows in one order, so they cannot deadlock.
    items = sorted(changes.items())
    with connection.cursor() as cursor:
        for i in range(0, len(items), 200):
            batch = items[i : i + 200]
            params: list[Any] = []
            for (grain, day, *keys), values in batch:
                params += [grain, ops.adapt_datefield_value(day), *keys, *values]
            cursor.execute(
                f"INSERT INTO {ROLLUPS} ({', '.join(ROLLUP_COLUMNS)})"  # noqa: S608
                f" VALUES {', '.join([row_marks] * len(batch))}"
                f" ON CONFLICT ({conflict}) DO UPDATE SET {update}",
                params,
            )
        shrunk = [
            (grain, ops.adapt_datefield_value(day), *keys) for (grain, day, *keys), v in items if min(v) < 0
        ]
        if shrunk:
            zero = " AND ".join(f"{c} = 0" for c in COUNTERS)
            match = " AND ".join(f"{k} = %s" for k in ROLLUP_KEY)
            cursor.executemany(f"DELETE FROM {ROLLUPS} WHERE {match} AND {zero}", shrunk)  # noqa: S608


def fact_counts() -> dict[str, int]:
    """How many cases, facts and rollup rows there are (for `shequ rollups`)."""
    with connection.cursor() as cursor:
        out = {}
        for name, table in (("cases", CASES), ("facts", FACTS), ("rollup_rows", ROLLUPS)):
            cursor.execute(f"SELECT COUNT(*) FROM {table}", [])  # noqa: S608
            out[name] = cursor.fetchone()[0]
    return out
