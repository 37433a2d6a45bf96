"""The measures of the drone patrols (docs/measures.md, "Drone patrols"), in the caller's scope:

- patrol coverage per grid (巡查覆盖率) over a period: the share of the grid's area that the camera
  of at least one landed flight started in the period saw, i.e. area(grid ∩ ⋃ flight coverage) /
  area(grid). It is the UNION of the flights' ground coverage, not a sum (two flights over the same
  half of a grid cover half of it, not all of it) nor the best single flight (two flights over the
  two halves cover all of it); the best single flight's share (FlightCoverage.share) is given
  beside it. Areas are in square metres (core.geo.area_m2);
- findings per flight (每架次发现数): the findings made in the photos of those flights / flights;
- drone share of proactive discovery (无人机发现占比): cases of source drone / cases of any
  proactive source (cases.PROACTIVE_SOURCES), reported in the period: from `measures` grouped by
  source, so the same rollups and scope as every other case measure.

Flights and findings are read through drones.selectors (the viewer's scope), cases through
`measures` (its scope).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count
from django.utils import timezone
from shapely.geometry import shape
from shapely.ops import unary_union

from shequ.analytics.measures import measures
from shequ.cases.models import Source
from shequ.core.geo import area_m2
from shequ.drones.models import FlightCoverage, FlightState
from shequ.drones.selectors import findings_for, flights_for
from shequ.grids.models import Grid
from shequ.grids.selectors import visible_grid_ids


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_default_timezone()
    lo = timezone.make_aware(dt.datetime.combine(start, dt.time.min), tz)
    hi = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min), tz)
    return lo, hi


def _geometry(value: Any) -> Any:
    try:
        geom = shape(value)
    except (ValueError, TypeError, AttributeError, KeyError):  # not a GeoJSON geometry
        return None
    return geom if geom.is_valid else geom.buffer(0)


def grid_coverage(user: Any, *, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Per grid in scope that a landed flight of the days start..end covered: flights, the union
    share of the grid seen (0..1), and the best single flight's share. Ordered by grid code."""
    lo, hi = _bounds(start, end)
    flights = flights_for(user).filter(state=FlightState.LANDED, started_at__gte=lo, started_at__lt=hi)
    rows = FlightCoverage.objects.filter(flight__in=flights.values("pk"))
    grids = visible_grid_ids(user)
    if grids is not None:
        rows = rows.filter(grid_id__in=grids)
    by_grid: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for flight_id, grid_id, best in rows.values_list("flight_id", "grid_id", "share"):
        by_grid[grid_id].append((flight_id, best))
    if not by_grid:
        return []
    coverages = {
        pk: _geometry(c)
        for pk, c in flights.filter(pk__in={f for v in by_grid.values() for f, _s in v}).values_list(
            "pk", "coverage"
        )
        if c
    }
    out = []
    for grid in Grid.objects.filter(pk__in=by_grid).only("pk", "code", "name", "geometry").order_by("code"):
        seen = [coverages[f] for f, _s in by_grid[grid.pk] if coverages.get(f) is not None]
        area = _geometry(grid.geometry) if grid.geometry else None
        share: float | None = None
        if area is not None and seen and (whole := area_m2(area)) > 0:
            share = min(1.0, area_m2(area.intersection(unary_union(seen))) / whole)
        out.append(
            {
                "grid_id": grid.pk,
                "code": grid.code,
                "name": grid.name,
                "flights": len(by_grid[grid.pk]),
                "share": share,
                "best_flight_share": max(s for _f, s in by_grid[grid.pk]),
            }
        )
    return out


def drone_share(user: Any, *, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Cases reported in the period by drones, by every proactive source, and the share."""
    rows = measures(user, start=start, end=end, group_by="source")
    proactive = sum(r["proactive"] for r in rows)
    drone = sum(r["reported"] for r in rows if r["key"] == Source.DRONE.value)
    return {"drone": drone, "proactive": proactive, "share": drone / proactive if proactive else None}


def patrol_measures(user: Any, *, start: dt.date, end: dt.date) -> dict[str, Any]:
    """What the dashboard shows of the drone patrols in the days start..end."""
    lo, hi = _bounds(start, end)
    flights = flights_for(user).filter(state=FlightState.LANDED, started_at__gte=lo, started_at__lt=hi)
    n_flights = flights.count()
    found = findings_for(user).filter(photo__flight__in=flights.values("pk"))
    n_findings = found.count()
    by_kind = dict(found.order_by().values_list("kind").annotate(n=Count("pk")))
    coverage = grid_coverage(user, start=start, end=end)
    shares = [g["share"] for g in coverage if g["share"] is not None]
    return {
        "flights": n_flights,
        "findings": n_findings,
        "findings_by_kind": by_kind,
        "findings_per_flight": n_findings / n_flights if n_flights else None,
        "grids_covered": len(coverage),
        "coverage_mean": sum(shares) / len(shares) if shares else None,
        "coverage": coverage,
        "cases": drone_share(user, start=start, end=end),
    }
