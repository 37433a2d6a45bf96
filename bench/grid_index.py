"""Benchmark GridIndex.locate_many against a plain shapely contains loop.

Grids are Voronoi cells tiling a rectangle around Lanzhou New Area, densified so each cell has
tens of vertices like a hand-drawn community grid. Run from the repo root: ``python bench/grid_index.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon, box

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from shequ.core.geo import GridIndex

AREA = box(103.55, 36.40, 103.85, 36.62)  # ≈ 27 km × 24 km around Lanzhou New Area (103.68, 36.50)


def make_grids(n: int, rng: np.random.Generator) -> list[Polygon]:
    """``n`` Voronoi cells clipped to AREA, in seed order, each with ~30-60 vertices."""
    minx, miny, maxx, maxy = AREA.bounds
    seeds = shapely.points(np.column_stack((rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n))))
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=AREA, ordered=True)
    cells = shapely.intersection(shapely.get_parts(cells), AREA)
    cell_size = ((maxx - minx) * (maxy - miny) / n) ** 0.5
    cells = shapely.segmentize(cells, cell_size / 8)
    assert abs(shapely.union_all(cells).area - AREA.area) < 1e-9 * AREA.area
    return list(cells)


def loop_locate(grids: list[Polygon], lons: np.ndarray, lats: np.ndarray) -> list[int | None]:
    """The naive baseline: test every grid for every point."""
    out: list[int | None] = []
    for lon, lat in zip(lons, lats, strict=True):
        p = shapely.Point(lon, lat)
        found = None
        for key, g in enumerate(grids):
            if g.contains(p):
                found = key
                break
        out.append(found)
    return out


def run(n_grids: int, n_points: int, loop_budget: int, rng: np.random.Generator) -> tuple[object, ...]:
    grids = make_grids(n_grids, rng)
    minx, miny, maxx, maxy = AREA.bounds
    # 5 % margin so some points fall outside every grid.
    dx, dy = (maxx - minx) * 0.05, (maxy - miny) * 0.05
    lons = rng.uniform(minx - dx, maxx + dx, n_points)
    lats = rng.uniform(miny - dy, maxy + dy, n_points)

    t0 = time.perf_counter()
    index = GridIndex(enumerate(grids))
    index.locate(lons[0], lats[0])  # STRtree builds lazily on the first query
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    keys = index.locate_many(lons, lats)
    index_s = time.perf_counter() - t0

    sample = min(n_points, max(50, loop_budget // n_grids))
    t0 = time.perf_counter()
    expected = loop_locate(grids, lons[:sample], lats[:sample])
    loop_s = time.perf_counter() - t0
    assert keys[:sample] == expected, "GridIndex and the shapely loop disagree"

    index_rate, loop_rate = n_points / index_s, sample / loop_s
    outside = keys.count(None) / n_points
    return n_grids, n_points, build_s * 1e3, index_rate, sample, loop_rate, index_rate / loop_rate, outside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grids", type=int, nargs="+", default=[25, 10_000])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--loop-budget", type=int, default=10_000_000, help="grid tests for the loop")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    header = ("grids", "points", "build ms", "index pts/s", "loop pts", "loop pts/s", "speed-up", "outside")
    print(" | ".join(f"{h:>11}" for h in header))
    print("-" * (14 * len(header) - 3))
    for n in args.grids:
        g, p, build_ms, ir, sample, lr, ratio, outside = run(n, args.points, args.loop_budget, rng)
        print(
            f"{g:>11,} | {p:>11,} | {build_ms:>11.1f} | {ir:>11,.0f} | {sample:>11,} | "
            f"{lr:>11,.0f} | {ratio:>10,.0f}× | {outside:>11.1%}"
        )


if __name__ == "__main__":
    main()
