"""Benchmark case intake through the REST API against raw inserts of the same rows.

In a throwaway database holding the demo community at scale 0.02 (its grids, departments, routing
rules and accounts), times:

- `POST /api/cases/` with token auth (`Authorization: Token ...`) and an Idempotency-Key, through
  Django's test Client in process (the whole stack below the HTTP server: middleware, DRF, input
  checks, grid lookup, duplicate search, routing with an auto-file + auto-dispatch rule, history,
  audit and outbox rows, the answer's serialization); every case ends dispatched;
- a raw `bulk_create` of Case rows with the same fields (state, stage, department, numbers): the
  floor the database itself sets;
- the deadline sweep over all of them just past their due: every case marked overdue and
  supervised (history, audit, outbox events, rollups refreshed by the delivered events).

Reports are placed on a lattice over the grids, spaced wider than the category's duplicate radius,
so none is merged and each takes the routing path. SQLite by default (a temporary file); with
SHEQU_DATABASE_URL=postgres://... a temporary database on that server, dropped at the end.

    .venv/bin/python bench/intake.py [--api 2000] [--raw 20000]
    SHEQU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/intake.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _common import throwaway_database

CATEGORY = "0118"  # 部件 路灯: the demo routes it to 城管 with auto-file and auto-dispatch
SPACING_M = 60.0  # wider than the category's duplicate radius (20 m)
REFERENCE = dt.datetime(2026, 3, 18, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", type=int, default=2000, help="reports through the API")
    parser.add_argument("--raw", type=int, default=20_000, help="Case rows inserted raw")
    args = parser.parse_args()

    os.environ["SHEQU_VAR_DIR"] = tempfile.mkdtemp(prefix="shequ-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")
    os.environ["SHEQU_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("SHEQU_DEBUG", "0")  # as in production: no SQL kept per query
    label, cleanup = throwaway_database()
    import django

    django.setup()
    try:
        run(label, args.api, args.raw)
    finally:
        cleanup()


def lattice(n: int) -> list[tuple[float, float]]:
    """`n` points inside the unit grids, SPACING_M apart."""
    from shequ.core.geo import offset
    from shequ.grids import index

    grids = index.grid_index()
    bounds = grids.bounds
    assert bounds is not None
    west, south, east, north = bounds
    points = []
    lat = south
    while lat < north and len(points) < 4 * n:
        row = []
        lon = west
        while lon < east:
            row.append((lon, lat))
            lon = offset(lon, lat, SPACING_M, 0.0)[0]
        found = grids.locate_many([p[0] for p in row], [p[1] for p in row])
        points += [p for p, g in zip(row, found, strict=True) if g is not None]
        lat = offset(lon, lat, 0.0, SPACING_M)[1]
    if len(points) < n:
        raise SystemExit(f"only {len(points)} lattice points fit in the grids; ask for fewer reports")
    step = len(points) / n
    return [points[int(i * step)] for i in range(n)]


def run(label: str, n_api: int, n_raw: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client, override_settings
    from rest_framework.authtoken.models import Token

    from shequ.accounts.models import User
    from shequ.cases.models import Case, CaseState, Category, HistoryEntry, Stage
    from shequ.demo import community
    from shequ.demo.figures import Scale

    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        community.generate(7, Scale.parse("0.02"), reference=REFERENCE)
    print(f"{label}: demo community at scale 0.02 in {time.perf_counter() - t:.1f} s")
    category = Category.objects.get(kind=Category.Kind.COMPONENT, code=CATEGORY)
    operator = User.objects.get(username="operator")
    token = Token.objects.create(user=operator)
    points = lattice(n_api)
    before = Case.objects.count()

    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    t = time.perf_counter()
    for i, (lon, lat) in enumerate(points):
        body = {
            "source": "sensor",
            "category": category.pk,
            "description": f"路灯不亮 (基准 {i})",
            "lon": lon,
            "lat": lat,
        }
        answer = client.post(
            "/api/cases/",
            json.dumps(body),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"bench-{i}",
            **auth,
        )
        if answer.status_code != 201:
            raise SystemExit(f"report {i}: {answer.status_code} {answer.content[:300]!r}")
    api = time.perf_counter() - t
    made = Case.objects.filter(category=category, idempotency_key__startswith="bench-")
    states = sorted(set(made.values_list("state", flat=True)))
    assert made.count() == n_api and states == [CaseState.DISPATCHED], states
    sample = made.select_related("department").first()
    assert sample is not None and sample.department is not None
    history = HistoryEntry.objects.filter(case__in=made).count()

    # The same rows, straight into the table: the database's own rate.
    start = dt.datetime.now(dt.UTC)
    rows = [
        Case(
            number=f"RAW{i:09d}",
            source=sample.source,
            category=category,
            description=sample.description,
            urgency=sample.urgency,
            lon=sample.lon,
            lat=sample.lat,
            grid_id=sample.grid_id,
            state=CaseState.DISPATCHED,
            department_id=sample.department_id,
            routing_rule_id=sample.routing_rule_id,
            stage=Stage.ACCEPT,
            stage_started_at=start,
            due_at=sample.due_at,
            filed_at=start,
            dispatched_at=start,
            dispatch_count=1,
            idempotency_key=f"raw-{i}",
            created_by=operator,
        )
        for i in range(n_raw)
    ]
    t = time.perf_counter()
    with transaction.atomic():
        Case.objects.bulk_create(rows, batch_size=1000)
    raw = time.perf_counter() - t

    # The deadline sweep over all of them, just past their due: each is marked overdue and
    # supervised, with its history, audit and events; the events' rollup refresh included.
    from shequ.cases.services.deadlines import sweep_deadlines
    from shequ.core.models import Event

    assert sample.due_at is not None
    t = time.perf_counter()
    counts = sweep_deadlines(now=sample.due_at + dt.timedelta(minutes=1))
    sweep = time.perf_counter() - t
    assert not Event.objects.filter(handled_at__isnull=True).exists()

    api_rate, raw_rate = n_api / api, n_raw / raw
    print(f"{n_api:,} reports through the API ({history / n_api:.1f} history lines each), {n_raw:,} raw rows")
    print(f"cases before: {before:,}; database: {connection.vendor}\n")
    api_label = "POST /api/cases/ (token, grid, routing: filed + dispatched)"
    print(f"{'path':<58} {'cases':>7} {'seconds':>8} {'cases/s':>9}")
    print(f"{api_label:<58} {n_api:>7,} {api:>8.2f} {api_rate:>9,.0f}")
    print(f"{'raw bulk_create of Case rows':<58} {n_raw:>7,} {raw:>8.2f} {raw_rate:>9,.0f}")
    print(
        f"\nAPI rate / raw insert rate: {api_rate / raw_rate:.3f} (raw is {raw_rate / api_rate:.0f}x faster)"
    )
    print(
        f"deadline sweep: {counts['checked']:,} cases checked, {counts['overdue']:,} marked overdue and"
        f" {counts['supervised']:,} supervised in {sweep:.1f} s ({counts['checked'] / sweep:,.0f} cases/s,"
        " events delivered and rolled up)"
    )


if __name__ == "__main__":
    main()
