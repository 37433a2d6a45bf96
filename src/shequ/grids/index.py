"""The process-wide grid index: unit grids in a shapely STRtree, rebuilt when grids change."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from django.db.models import Count, Max
from shapely.geometry import shape

from shequ.core.geo import GridIndex
from shequ.grids.selectors import unit_grids

_lock = threading.Lock()
_cached: tuple[object, GridIndex] | None = None


def _version() -> object:
    # Any change to a grid touches updated_at; a deletion changes the count.
    agg = unit_grids().aggregate(n=Count("id"), last=Max("updated_at"))
    return (agg["n"], agg["last"])


def grid_index() -> GridIndex:
    """The index of active unit grids, keyed by grid pk. One cheap query checks it is current."""
    global _cached
    version = _version()
    with _lock:
        if _cached is None or _cached[0] != version:
            items = [
                (pk, shape(geom)) for pk, geom in unit_grids().order_by("code").values_list("pk", "geometry")
            ]
            _cached = (version, GridIndex(items))
        return _cached[1]


def locate_many(lons: Sequence[float | None], lats: Sequence[float | None]) -> list[int | None]:
    """Grid pk for each point (None outside every grid, or where the point is missing)."""
    present = [i for i, (x, y) in enumerate(zip(lons, lats, strict=True)) if x is not None and y is not None]
    result: list[int | None] = [None] * len(lons)
    if present:
        xs: list[float] = [lons[i] for i in present]  # type: ignore[misc]
        ys: list[float] = [lats[i] for i in present]  # type: ignore[misc]
        found = grid_index().locate_many(xs, ys)
        for i, key in zip(present, found, strict=True):
            result[i] = key
    return result


def locate(lon: float | None, lat: float | None) -> int | None:
    return locate_many([lon], [lat])[0]
