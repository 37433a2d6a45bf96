"""Where the one map's basemap comes from: SHEQU_MAP_TILES (docs/configuration.md, "One map").

- ``offline`` (default): the community's own vector tiles (basemap.py), drawn in the browser by
  protomaps-leaflet from /onemap/basemap.pmtiles; nothing is fetched from the internet.
- ``tianditu:<key>``: 天地图 vector tiles with labels (CGCS2000, drawn as WGS-84).
- ``amap`` / ``tencent``: 高德 / 腾讯 tiles, in GCJ-02: the browser converts every WGS-84 coordinate
  to GCJ-02 before drawing and every click back (frontend/src/coords.ts).
- ``osm:<url template>``: a self-hosted OpenStreetMap tile server, e.g. ``osm:https://tiles.example/{z}/{x}/{y}.png``.

The coordinates stay WGS-84 on the server; only the browser converts, at the edge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.core import checks

TIANDITU = "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
TENCENT = "https://rt{s}.map.gtimg.com/realtimerender?z={z}&x={x}&y={-y}&type=vector&style=0"


@dataclass(frozen=True)
class TileSource:
    """What the page's script needs: `kind`, the raster URL templates (drawn in order), their
    subdomains, the datum the tiles are drawn in (`crs`), and an attribution."""

    kind: str
    urls: list[str] = field(default_factory=list)
    subdomains: str = ""
    crs: str = "wgs84"
    attribution: str = ""
    max_zoom: int = 18

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse(value: str) -> TileSource:
    """The tile source named by a SHEQU_MAP_TILES value; ValueError with the reason when malformed."""
    value = value.strip()
    kind, _, arg = value.partition(":")
    if kind == "offline" and not arg:
        return TileSource("offline", max_zoom=19)
    if kind == "tianditu":
        key = arg.strip()
        if not key or not key.isalnum():
            raise ValueError("tianditu needs its key: tianditu:<key> (letters and digits)")
        urls = [TIANDITU.replace("{layer}", layer).replace("{key}", key) for layer in ("vec", "cva")]
        return TileSource("tianditu", urls, "01234567", "wgs84", "© 天地图", 18)
    if kind == "amap" and not arg:
        return TileSource("amap", [AMAP], "1234", "gcj02", "© 高德地图", 18)
    if kind == "tencent" and not arg:
        return TileSource("tencent", [TENCENT], "0123", "gcj02", "© 腾讯地图", 18)
    if kind == "osm":
        url = arg.strip()
        if not url.startswith(("http://", "https://", "/")) or not all(
            p in url for p in ("{z}", "{x}", "{y}")
        ):
            raise ValueError(
                "osm needs a tile URL template with {z}, {x} and {y}: osm:https://host/{z}/{x}/{y}.png"
            )
        return TileSource("osm", [url], "abc" if "{s}" in url else "", "wgs84", "© OpenStreetMap", 19)
    raise ValueError(
        f"unknown map tiles {value!r}: offline, tianditu:<key>, amap, tencent or osm:<url template>"
    )


def configured() -> str:
    return str(settings.MAP_TILES or "offline")


def tile_source() -> TileSource:
    """SHEQU_MAP_TILES; when it is unset but the small maps' SHEQU_MAP_TILES_URL is, that server
    (with SHEQU_MAP_TILES_CRS), so one setting serves every map."""
    url = settings.MAP_TILES_URL
    if not settings.MAP_TILES and url:
        crs = settings.MAP_TILES_CRS
        return TileSource("custom", [url], "abc" if "{s}" in url else "", crs, "", 19)
    return parse(configured())


@checks.register(checks.Tags.compatibility)
def check_map_tiles(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """A malformed SHEQU_MAP_TILES fails at start, not when someone opens the map."""
    try:
        tile_source()
    except ValueError as exc:
        return [checks.Error(f"SHEQU_MAP_TILES: {exc}", id="onemap.E001")]
    return []
