"""Benchmark the measures (KPIs) with and without rollups over a large case history.

Generates a year of cases (1,000,000 by default) in 25 grids of two communities, with skewed
sources and categories, departments following categories, realistic timings and outcomes, inserted
in bulk into a throwaway database; rebuilds the rollups; then times dashboard queries through
`measures()` (rollups) and `measures_raw()` (straight from the cases), checks that both answer the
same, and prints the times and their ratio.

SQLite by default (a temporary file); with SHEQU_DATABASE_URL=postgres://... a temporary database
is created on that server and dropped at the end. Run from the repo root:

    .venv/bin/python bench/measures.py [--cases 1000000]
    SHEQU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/measures.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


from _common import throwaway_database

YEAR = 2025
UTC = dt.UTC
SOURCES = {  # share of cases: patrols dominate, then cameras, the hotline and residents
    "grid_worker": 45,
    "camera": 15,
    "hotline": 12,
    "resident": 12,
    "sensor": 4,
    "inspection": 4,
    "drone": 3,
    "referral": 3,
    "api": 2,
}
HOURS = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 9, 10, 13, 14, 13, 11, 8, 6, 5, 4, 2, 1]


def setup_world(n_departments: int = 12) -> dict[str, Any]:
    from shequ.accounts.models import Role
    from shequ.accounts.services import create_department, create_user
    from shequ.cases.models import Category
    from shequ.grids.services import assign_user, save_grid

    street = save_grid(code="620171103", name="西岔镇", actor=None)
    communities = [
        save_grid(code=f"620171103{c:03d}", name=f"社区{c}", parent=street, actor=None) for c in (1, 2)
    ]
    grids = [
        save_grid(
            code=f"{communities[i % 2].code}{i:02d}",
            name=f"网格{i:02d}",
            parent=communities[i % 2],
            actor=None,
        )
        for i in range(1, 26)
    ]
    departments = [
        create_department(code=f"d{i:02d}", name=f"部门{i:02d}", actor=None) for i in range(n_departments)
    ]
    categories = list(
        Category.objects.filter(parent__isnull=False).order_by("code").values_list("pk", flat=True)
    )
    if not categories:  # no seeded tree: make one
        for m in range(6):
            major = Category.objects.create(kind="event", code=f"B{m}", name=f"大类{m}")
            for s in range(8):
                Category.objects.create(kind="event", code=f"B{m}{s:02d}", name=f"小类{m}.{s}", parent=major)
        categories = list(Category.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    admin = create_user(username="bench", password="Bench-pass-2026", role=Role.ADMINISTRATOR, actor=None)
    leader = create_user(username="leader", password="Bench-pass-2026", role=Role.LEADER, actor=None)
    assign_user(leader, communities[0], actor=None)
    return {
        "grids": [g.pk for g in grids],
        "departments": [d.pk for d in departments],
        "categories": categories,
        "admin": admin,
        "leader": leader,
    }


def generate(n: int, world: dict[str, Any], rng: random.Random) -> Iterator[dict[str, Any]]:
    """Case rows over the year: milestones by state, timings from skewed distributions."""
    grids, departments, categories = world["grids"], world["departments"], world["categories"]
    grid_weights = [rng.uniform(0.4, 1.6) for _ in grids]
    category_weights = [1 / (i + 1) for i in range(len(categories))]  # Zipf: a few categories dominate
    department_of = {c: departments[i % len(departments)] for i, c in enumerate(categories)}
    sources, source_weights = list(SOURCES), list(SOURCES.values())
    start = dt.datetime(YEAR, 1, 1, tzinfo=UTC) - dt.timedelta(hours=8)  # Shanghai midnight
    now = start + dt.timedelta(days=365)
    draws = 50_000
    for base in range(0, n, draws):
        size = min(draws, n - base)
        pick_grid = rng.choices(grids, grid_weights, k=size)
        pick_category = rng.choices(categories, category_weights, k=size)
        pick_source = rng.choices(sources, source_weights, k=size)
        pick_hour = rng.choices(range(24), HOURS, k=size)
        for i in range(size):
            day = rng.randrange(365)
            created = start + dt.timedelta(days=day, hours=pick_hour[i], seconds=rng.randrange(3600))
            category = pick_category[i]
            source = pick_source[i]
            row: dict[str, Any] = {
                "number": f"B{base + i:09d}",
                "source": source,
                "grid_id": pick_grid[i],
                "category_id": category,
                "created_at": created,
                "state": "reported",
                "description": "基准案件",
            }
            age = (now - created).total_seconds() / 86400
            fate = rng.random()
            if fate < 0.04:
                row.update(
                    state="rejected", closed_at=created + dt.timedelta(minutes=rng.expovariate(1 / 40))
                )
                yield row
                continue
            if fate < 0.06:
                row.update(state="merged", closed_at=created + dt.timedelta(minutes=rng.expovariate(1 / 20)))
                yield row
                continue
            if source == "grid_worker" and fate < 0.25:  # handled on the spot
                done = created + dt.timedelta(minutes=rng.uniform(5, 90))
                row.update(
                    state="closed", self_handled=True, filed_at=created, closed_at=done, closed_on_time=True
                )
                yield row
                continue
            filed = created + dt.timedelta(minutes=rng.expovariate(1 / 30))
            dispatched = filed + dt.timedelta(minutes=rng.expovariate(1 / 20))
            returned = rng.random() < 0.06
            accepted = dispatched + dt.timedelta(minutes=rng.expovariate(1 / 60) + (180 if returned else 0))
            handle_due = accepted + dt.timedelta(days=3)
            handled = accepted + dt.timedelta(hours=math.exp(rng.gauss(3.0, 1.1)))
            reworked = rng.random() < 0.05
            closed = handled + dt.timedelta(hours=rng.expovariate(1 / 4) + (30 if reworked else 0))
            department = department_of[category] if rng.random() < 0.85 else rng.choice(departments)
            row.update(
                state="filed",
                filed_at=filed,
                department_id=department,
                dispatched_at=dispatched,
                dispatch_count=2 if returned else 1,
                return_count=1 if returned else 0,
            )
            if age * 86400 < (dispatched - created).total_seconds() or rng.random() < 0.002:
                yield row
                continue
            row.update(state="in_progress", accepted_at=accepted, handle_due_at=handle_due)
            if handled > now:
                if now > handle_due:
                    row["overdue_at"] = handle_due + dt.timedelta(minutes=5)
                    if rng.random() < 0.3:
                        row.update(supervision_level=1, supervised_at=handle_due + dt.timedelta(days=1))
                yield row
                continue
            row.update(state="handled", handled_at=handled, rework_count=1 if reworked else 0)
            if closed > now:
                yield row
                continue
            row.update(state="closed", closed_at=closed, closed_on_time=closed <= handle_due)
            if rng.random() < 0.7:
                score = rng.random()
                satisfaction = "satisfied" if score < 0.8 else "basically" if score < 0.95 else "dissatisfied"
                row.update(
                    satisfaction=satisfaction, callback_at=closed + dt.timedelta(hours=rng.uniform(2, 48))
                )
            if closed > handle_due and rng.random() < 0.3:
                row.update(supervision_level=1, supervised_at=handle_due + dt.timedelta(days=1))
            yield row


def insert_cases(rows: Iterator[dict[str, Any]], n: int) -> None:
    """Every column of cases_case, defaults prepared once; executemany (SQLite) or COPY (PostgreSQL)."""
    from django.db import connection, transaction

    from shequ.cases.models import Case, Supervision

    fields = [f for f in Case._meta.concrete_fields if f.attname != "id"]
    columns = [f.column for f in fields]
    defaults = {
        f.attname: f.get_db_prep_save(f.get_default(), connection) if f.has_default() else None
        for f in fields
    }
    sqlite = connection.vendor == "sqlite"

    def value(name: str, v: Any) -> Any:
        if isinstance(v, dt.datetime) and sqlite:
            return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(v, bool) and sqlite:
            return int(v)
        return v

    supervised: list[tuple[str, dt.datetime]] = []
    batch: list[tuple[Any, ...]] = []
    table = Case._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:

        def flush() -> None:
            if sqlite:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch)
            else:
                raw = cursor.cursor
                with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for r in batch:
                        copy.write_row(r)
            batch.clear()

        for row in rows:
            row.setdefault("updated_at", row["created_at"])
            if "supervised_at" in row:
                supervised.append((row["number"], row.pop("supervised_at")))
            batch.append(tuple(value(f.attname, row.get(f.attname, defaults[f.attname])) for f in fields))
            if len(batch) >= 50_000:
                flush()
        if batch:
            flush()
        numbers = dict(Case.objects.filter(number__in=[s[0] for s in supervised]).values_list("number", "pk"))
        Supervision.objects.bulk_create(
            [Supervision(case_id=numbers[num], level=1, at=when, reason="超期") for num, when in supervised],
            batch_size=5000,
        )
    del n


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    args = parser.parse_args()

    os.environ["SHEQU_VAR_DIR"] = tempfile.mkdtemp(prefix="shequ-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")
    os.environ["SHEQU_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("SHEQU_DEBUG", "0")
    label, cleanup = throwaway_database()
    import django

    django.setup()
    try:
        run(label, args.cases)
    finally:
        cleanup()


def run(label: str, n: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from shequ.analytics.measures import measures, measures_raw
    from shequ.analytics.models import Grain, Rollup
    from shequ.analytics.rollups import rebuild_rollups

    call_command("migrate", verbosity=0)
    world = setup_world()
    rng = random.Random(2025)
    t = time.perf_counter()
    insert_cases(generate(n, world, rng), n)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    elapsed = time.perf_counter() - t
    print(f"{label}: {n:,} cases over {YEAR} in 25 grids, generated and inserted in {elapsed:.1f} s")

    t = time.perf_counter()
    result = rebuild_rollups()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"rollups rebuilt in {time.perf_counter() - t:.1f} s: {result['rollup_rows']:,} rows", end="")
    per_grain = dict(Rollup.objects.values_list("grain").annotate(n=django_count()).order_by())
    print(" (" + ", ".join(f"{Grain(g).label} {c:,}" for g, c in sorted(per_grain.items())) + ")\n")

    admin, leader = world["admin"], world["leader"]
    year = {"start": dt.date(YEAR, 1, 1), "end": dt.date(YEAR, 12, 31)}
    june = {"start": dt.date(YEAR, 6, 1), "end": dt.date(YEAR, 6, 30)}
    queries: list[tuple[str, Any, dict[str, Any]]] = [
        ("a month, per grid", admin, {**june, "group_by": "grid", "period": "month"}),
        ("a month, per day (community leader)", leader, {**june, "period": "day"}),
        ("a year, per month per source", admin, {**year, "group_by": "source", "period": "month"}),
        ("a year, per week per department", admin, {**year, "group_by": "department", "period": "week"}),
        ("a year, per major category", admin, {**year, "group_by": "major_category"}),
        ("a year, per community per month", admin, {**year, "group_by": "community", "period": "month"}),
    ]
    print(f"{'dashboard query':<38} {'rows':>5} {'rollups s':>10} {'raw s':>8} {'raw/rollups':>12}")
    for name, user, kwargs in queries:
        fast_s, fast = timed(lambda u=user, k=kwargs: measures(u, **k), 3)
        raw_s, raw = timed(lambda u=user, k=kwargs: measures_raw(u, **k), 1)
        assert fast == raw, f"rollups and raw differ for {name}"
        print(f"{name:<38} {len(fast):>5} {fast_s:>10.3f} {raw_s:>8.2f} {raw_s / fast_s:>11.0f}x")
    totals = measures(admin, **year)[0]
    print(
        f"\nthe year: reported {totals['reported']:,}, closed {totals['closed']:,}, closure rate"
        f" {totals['closure_rate']:.1%}, on time {totals['on_time_rate']:.1%}, handling median"
        f" {totals['handling_hours_median']} h, p90 {totals['handling_hours_p90']} h"
    )


def django_count() -> Any:
    from django.db.models import Count

    return Count("id")


if __name__ == "__main__":
    main()
