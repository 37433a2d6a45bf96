"""Benchmark the one map's case layer: p50/p95 latency of GET /api/onemap/cases/ for two viewports.

The viewports: one grid-sized box (~0.6 km²) at zoom 16 (points, or clusters when more than 500
cases are in it) and the whole community (~30 km² round it) at zoom 13 (clusters), each for the
open cases (the page's default) and for all cases ever reported. Each is timed
through the whole Django stack (session, DRF, scope, SQL, JSON) on three databases, one after
another in one throwaway database:

  empty     the schema and one administrator, no community
  demo      + the demo community (`shequ demo-community --scale S`, its cases placed in grids)
  history   + a history of N cases (1,000,000 by default) over a year, bulk inserted as
              bench/measures.py does, each placed at random within its grid's bounding box
  +lon,lat  the same with an index on cases_case (lon, lat), which the cases app does not have
              yet: created on the benchmark's database only, to show what it would bring

"cold" bumps the layer cache's version before each request (the SQL runs every time: the worst
case, right after a case event); "warm" asks again without a change (answered from the cache).
Ratios are against the empty database. At the end, if bench/feed.py offers run_fan_out, the live
feed's fan-out is measured for the in-memory and the Redis channel layers.

SQLite by default (a temporary file); with SHEQU_DATABASE_URL=postgres://... a temporary database
is created on that server and dropped at the end. Run from the repo root:

    .venv/bin/python bench/onemap.py                       # scale 10 (~5 min on SQLite), 1M cases
    .venv/bin/python bench/onemap.py --scale 1 --cases 100000 --requests 20   # a quick run
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import throwaway_database

ANCHOR = (103.690, 36.505)  # the demo community's first cluster (shequ/demo/layout.py)
GRID_BOX = (ANCHOR[0] - 0.0045, ANCHOR[1] - 0.0035, ANCHOR[0] + 0.0045, ANCHOR[1] + 0.0035)  # ~0.6 km²
COMMUNITY_BOX = (ANCHOR[0] - 0.035, ANCHOR[1] - 0.025, ANCHOR[0] + 0.035, ANCHOR[1] + 0.025)
# (name, box, zoom, filters): the page asks for open cases by default; "all" is every case ever.
QUERIES = [
    ("grid z16, open", GRID_BOX, 16, {"open": "true"}),
    ("community z13, open", COMMUNITY_BOX, 13, {"open": "true"}),
    ("grid z16, all", GRID_BOX, 16, {}),
    ("community z13, all", COMMUNITY_BOX, 13, {}),
]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def measure(client: Any, requests: int) -> dict[str, dict[str, Any]]:
    """p50/p95 in ms per query, cold and warm, and what the answer held."""
    from shequ.onemap import cache as layer_cache

    out: dict[str, dict[str, Any]] = {}
    for name, bbox, zoom, filters in QUERIES:
        params = {"bbox": ",".join(f"{v:.6f}" for v in bbox), "zoom": zoom, **filters}
        client.get("/api/onemap/cases/", params)  # warm the connection and the code paths
        for mode in ("cold", "warm"):
            samples = []
            answer: Any = None
            for _ in range(requests):
                if mode == "cold":
                    layer_cache.bump()
                t = time.perf_counter()
                answer = client.get("/api/onemap/cases/", params)
                samples.append((time.perf_counter() - t) * 1000)
                assert answer.status_code == 200, answer.content[:300]
            data = answer.json()
            out[f"{name} {mode}"] = {
                "p50": percentile(samples, 50),
                "p95": percentile(samples, 95),
                "mode": data["mode"],
                "features": len(data["features"]),
                "cases": data["count"],
                "bytes": len(answer.content),
            }
    return out


def history(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """bench/measures.py's year of cases over the demo's unit grids, departments and categories,
    each placed uniformly in its grid's bounding box."""
    from shequ.accounts.models import Department
    from shequ.cases.models import Category
    from shequ.grids.models import Grid

    measures = import_module("measures")
    grids = {
        g.pk: (g.min_lon, g.min_lat, g.max_lon, g.max_lat)
        for g in Grid.objects.filter(level="grid", min_lon__isnull=False)
    }
    world = {
        "grids": list(grids),
        "departments": list(Department.objects.values_list("pk", flat=True)),
        "categories": list(Category.objects.filter(parent__isnull=False).values_list("pk", flat=True)),
    }
    for row in measures.generate(n, world, rng):
        x0, y0, x1, y1 = grids[row["grid_id"]]
        row["lon"] = rng.uniform(x0, x1)
        row["lat"] = rng.uniform(y0, y1)
        yield row


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def run(label: str, scale: int, cases: int, requests: int, fan_out: bool, index: bool) -> None:
    from django.core.management import call_command
    from django.test import Client

    from shequ.accounts.models import Role
    from shequ.accounts.services import create_user
    from shequ.cases.models import Case

    call_command("migrate", verbosity=0)
    admin = create_user(
        username="bench-onemap", password="Bench-pass-2026", role=Role.ADMINISTRATOR, actor=None
    )
    client = Client()
    client.force_login(admin)
    stages: dict[str, dict[str, dict[str, Any]]] = {}
    sizes: dict[str, int] = {}

    def stage(name: str) -> None:
        analyze()
        sizes[name] = Case.objects.count()
        stages[name] = measure(client, requests)

    stage("empty")
    t = time.perf_counter()
    call_command("demo_community", scale=scale, verbosity=0)
    print(f"{label}: demo community at scale {scale} in {time.perf_counter() - t:.0f} s")
    stage("demo")
    if cases:
        measures = import_module("measures")
        t = time.perf_counter()
        measures.insert_cases(history(cases, random.Random(2025)), cases)
        print(f"{label}: {cases:,} more cases inserted in {time.perf_counter() - t:.0f} s")
        stage("history")
    if index:
        # The index the bbox queries would use (not in the cases migrations yet): measured here by
        # creating it on the benchmark's database only.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("CREATE INDEX bench_case_lon_lat ON cases_case (lon, lat)")
        stage("+lon,lat")

    print(f"\nGET /api/onemap/cases/ on {label}, {requests} requests each; ms (ratio to the empty database)")
    print("cold: the cache's version bumped before each request (SQL every time); warm: from the cache")
    header = f"{'query':<26} {'database':<9} {'cases':>10} {'answer':>14} {'p50 ms':>15} {'p95 ms':>15}"
    print(header)
    print("-" * len(header))
    for key in stages["empty"]:
        base = stages["empty"][key]
        for name, figures in stages.items():
            r = figures[key]
            ratio50 = f"({r['p50'] / base['p50']:.1f}x)" if name != "empty" else ""
            ratio95 = f"({r['p95'] / base['p95']:.1f}x)" if name != "empty" else ""
            answer = f"{r['features']} {'points' if r['mode'] == 'points' else 'clusters'}"
            print(
                f"{key:<26} {name:<9} {sizes[name]:>10,} {answer:>14} {r['p50']:>7.1f} {ratio50:>7}"
                f" {r['p95']:>7.1f} {ratio95:>7}"
            )
    if fan_out:
        live_fan_out()


def live_fan_out() -> None:
    try:
        feed = import_module("feed")
        run_fan_out = feed.run_fan_out
    except (ImportError, AttributeError) as exc:
        print(f"\nlive feed fan-out: skipped (bench/feed.py has no run_fan_out: {exc})")
        return
    print("\nlive feed fan-out (bench/feed.py run_fan_out, 50 clients, 200 events)")
    for layer in ("memory", "redis"):
        try:
            result = run_fan_out(layer, 50, 200)
        except Exception as exc:  # Redis not running, say: the others' figures still stand
            print(f"  {layer:<7} skipped: {exc}")
            continue
        events, deliveries = result["events_per_s"], result.get("deliveries_per_s", 0)
        done = "" if result.get("complete", True) else "  (not every client got every event)"
        print(f"  {layer:<7} {events:>8.0f} events/s  {deliveries:>9.0f} deliveries/s{done}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=10, help="demo community scale (1, 10, 100)")
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases of history to add (0: none)")
    parser.add_argument("--requests", type=int, default=40, help="requests per viewport and mode")
    parser.add_argument("--no-fan-out", action="store_true", help="skip the live feed's fan-out")
    parser.add_argument(
        "--no-index", action="store_true", help="skip the last stage: the same with an index on (lon, lat)"
    )
    args = parser.parse_args()

    os.environ["SHEQU_VAR_DIR"] = tempfile.mkdtemp(prefix="shequ-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")
    os.environ["SHEQU_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("SHEQU_DEBUG", "0")
    label, cleanup = throwaway_database()
    import django

    django.setup()
    try:
        run(label, args.scale, args.cases, args.requests, not args.no_fan_out, not args.no_index)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
