"""GeoJSON for the pages' small maps (drawn by frontend/src/map.ts from a json_script block).

Coordinates stay WGS-84 here; the browser converts them to the tiles' datum when tiles are set.
`kind` in the properties picks the style: grid, building, road, point.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from shequ.grids.models import Grid
from shequ.registry.models import Building, Road


def feature_collection(features: list[dict[str, Any] | None]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [f for f in features if f is not None]}


def grid_feature(grid: Grid, *, selected: bool = False) -> dict[str, Any] | None:
    if not grid.geometry:
        return None
    return {
        "type": "Feature",
        "geometry": grid.geometry,
        "properties": {
            "kind": "grid",
            "label": f"{grid.name} {grid.code}",
            "url": reverse("web:grid", args=[grid.code]),
            "selected": selected,
        },
    }


def building_feature(building: Building) -> dict[str, Any] | None:
    if building.footprint:
        geometry = building.footprint
    elif building.lon is not None and building.lat is not None:
        geometry = {"type": "Point", "coordinates": [building.lon, building.lat]}
    else:
        return None
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {
            "kind": "building",
            "label": building.name,
            "url": reverse("web:building", args=[building.pk]),
        },
    }


def _coords(geometry: dict[str, Any]) -> list[list[float]]:
    if geometry.get("type") == "LineString":
        return geometry.get("coordinates") or []
    if geometry.get("type") == "MultiLineString":
        return [c for line in geometry.get("coordinates") or [] for c in line]
    return []


def road_features(
    bbox: tuple[float, float, float, float], *, limit: int = 5000
) -> list[dict[str, Any] | None]:
    """Roads with a vertex inside the box (min_lon, min_lat, max_lon, max_lat), widened a little so
    a road along the edge is drawn."""
    x0, y0, x1, y1 = bbox
    pad_x, pad_y = (x1 - x0) * 0.2, (y1 - y0) * 0.2
    x0, y0, x1, y1 = x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y
    out: list[dict[str, Any] | None] = []
    for road in Road.objects.only("pk", "name", "kind", "geometry")[:limit]:
        if any(x0 <= c[0] <= x1 and y0 <= c[1] <= y1 for c in _coords(road.geometry or {})):
            out.append(
                {
                    "type": "Feature",
                    "geometry": road.geometry,
                    "properties": {"kind": "road", "label": road.name, "road": road.kind},
                }
            )
    return out
