"""Read a file of grid (网格) polygons and check it before anything is written to the database.

Pure module (no Django): ``read_grid_file`` parses GeoJSON, KML 2.2 or KMZ and returns a
``GridFileReport``; callers import ``report.features`` only when ``report.ok``.

Codes follow the statistical-division hierarchy, so a code's length gives its level: 6 digits
district/county (区县), 9 street/town (街道/乡镇), 12 community (社区/村), 14 unit grid (单元网格:
the community's 12 digits + a 2-digit sequence, e.g. 62017110300101 in community 620171103001 of
西岔镇 620171103). Any code of 6–20 ASCII digits is accepted; a ``level`` property (one of
``LEVEL_NAMES``) overrides the derived level and is required for other lengths. Levels are the
values of ``grids.models.Level``. ``parent_code`` is optional.

Coordinates are WGS-84 (or CGCS2000) lon/lat. Areas use an equirectangular projection around each
measured geometry's centroid: well within 1% at grid scale, and no pyproj dependency.
``feature_index`` is the 0-based position of the Feature / Placemark in the file. ``features``
holds every feature with a valid code, name, level and polygon geometry, even one with errors.
"""

import io
import json
import math
import re
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np
import shapely
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
AREA_TOLERANCE_M2 = 1.0
# lon_min, lat_min, lon_max, lat_max: generous, so border areas and the South China Sea pass.
CHINA_BBOX = (73.0, 3.0, 136.0, 54.0)
LEVEL_BY_CODE_LENGTH = {6: "district", 9: "street", 12: "community", 14: "grid"}
# Accepted values of a `level` property (lower-cased) → level, including the Chinese names.
LEVEL_NAMES = {
    name: level
    for level, names in {
        "district": "区县 区 县",
        "street": "街道 乡镇 镇 乡",
        "community": "社区 村 居委会",
        "grid": "网格 单元网格",
    }.items()
    for name in (level, *names.split())
}
# Property name (matched case-insensitively) → field. wgbm / wgmc are the pinyin initials of
# 网格编码 / 网格名称 used by many Chinese GIS exports; canonical names win when both are present.
PROPERTY_ALIASES = {
    "code": "code",
    "wgbm": "code",
    "name": "name",
    "wgmc": "name",
    "parent_code": "parent_code",
    "level": "level",
}

_CODE_RE = re.compile(r"[0-9]{6,20}")
_NAME_CODE_RE = re.compile(r"([0-9]{6,20})(?![0-9])\s*(.*)", re.DOTALL)
_LOCATION_RE = re.compile(r"\[([-+0-9.eE]+) ([-+0-9.eE]+)\]")
_M_PER_DEG = 6_371_008.8 * math.pi / 180
# ~1 cm snapping for the gap union: floating-point slivers between neighbours would otherwise
# connect a real gap to the outside, so that it is no longer a hole.
_SNAP_DEGREES = 1e-7

type Point = tuple[float, float]
type RawPolygon = list[list[Point]]  # rings, the first one the shell


class ProblemKind(StrEnum):
    FORMAT = "format"
    MISSING_PROPERTY = "missing_property"
    BAD_CODE = "bad_code"
    DUPLICATE_CODE = "duplicate_code"
    BAD_GEOMETRY = "bad_geometry"
    BAD_LEVEL = "bad_level"
    SELF_INTERSECTION = "self_intersection"
    OUT_OF_RANGE = "out_of_range"
    OVERLAP = "overlap"
    GAP = "gap"
    PARENT_MISSING = "parent_missing"


@dataclass(frozen=True)
class GridFileProblem:
    feature_index: int | None
    code: str | None
    kind: ProblemKind
    message: str
    location: Point | None = None  # (lon, lat)
    other_code: str | None = None  # the other grid of an overlap, or the parent
    area_m2: float | None = None  # of an overlap or gap


@dataclass
class GridFeature:
    code: str
    name: str
    parent_code: str | None
    level: str
    geometry: BaseGeometry  # lon/lat Polygon, or MultiPolygon if it has several parts
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class GridFileReport:
    features: list[GridFeature] = field(default_factory=list)
    errors: list[GridFileProblem] = field(default_factory=list)
    warnings: list[GridFileProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(
        self,
        kind: ProblemKind,
        message: str,
        index: int | None = None,
        code: str | None = None,
        at: Point | None = None,
        other: str | None = None,
        area: float | None = None,
        *,
        warning: bool = False,
    ) -> None:
        """Record a problem; warnings do not stop the import."""
        area = None if area is None else float(area)
        (self.warnings if warning else self.errors).append(
            GridFileProblem(index, code, kind, message, at, other, area)
        )


class _FormatError(Exception):
    pass


@dataclass
class _Raw:
    index: int
    props: dict[str, Any]
    polygons: list[RawPolygon] | None = None
    geometry_error: str | None = None
    format_error: str | None = None


@dataclass
class _Item:
    index: int
    feature: GridFeature
    usable: bool  # geometry fit for the spatial checks

    @property
    def code(self) -> str:
        return self.feature.code


def read_grid_file(
    data: bytes,
    filename: str,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
) -> GridFileReport:
    """Parse and check a GeoJSON / KML / KMZ grid file; the format is detected from the content."""
    report = GridFileReport()
    try:
        raws = _parse(data, filename, max_bytes, max_uncompressed_bytes)
    except _FormatError as exc:
        report.add(ProblemKind.FORMAT, str(exc))
        return report
    items: list[_Item] = []
    first: dict[str, int] = {}
    for raw in raws:
        feature, usable = _read_feature(raw, report)
        if feature is None:
            continue
        if feature.code in first:
            message = f"code {feature.code} is already used by feature #{first[feature.code]}"
            report.add(ProblemKind.DUPLICATE_CODE, message, raw.index, feature.code, _anchor(raw))
        first.setdefault(feature.code, raw.index)
        report.features.append(feature)
        items.append(_Item(raw.index, feature, usable))
    for item in items:
        if (parent := item.feature.parent_code) and parent not in first:
            message = f"parent {parent} is not in this file; it must already exist in the database"
            report.add(ProblemKind.PARENT_MISSING, message, item.index, item.code, other=parent, warning=True)
    checked_parents = _check_parent_coverage(report, items)
    _check_levels(report, items, checked_parents)
    return report


# --- parsing -------------------------------------------------------------------------------------


def _parse(data: bytes, filename: str, max_bytes: int, max_uncompressed: int) -> list[_Raw]:
    if len(data) > max_bytes:
        raise _FormatError(f"{filename}: {len(data) / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB limit")
    if data.startswith(b"PK\x03\x04"):
        raws = _parse_kml(_unzip_kml(data, max_uncompressed))
    else:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        head = data[:1024].decode("utf-16" if utf16 else "utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
        if head.startswith("{"):
            raws = _parse_geojson(data)
        elif head.startswith("<"):
            raws = _parse_kml(data)
        else:
            raise _FormatError(f"{filename}: not a GeoJSON, KML or KMZ file (export shapefiles to GeoJSON)")
    if not raws:
        raise _FormatError(f"{filename}: the file contains no grid features")
    return raws


def _decode_text(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):  # GB18030 (a GBK superset) is common in Chinese exports
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _FormatError("cannot decode the file as UTF-8 or GB18030 text")


def _parse_geojson(data: bytes) -> list[_Raw]:
    try:
        doc = json.loads(_decode_text(data))
    except (ValueError, RecursionError) as exc:
        raise _FormatError(f"invalid JSON: {exc}") from exc
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "FeatureCollection" and isinstance(doc.get("features"), list):
        items = doc["features"]
    elif kind == "Feature":
        items = [doc]
    else:
        raise _FormatError(f"GeoJSON must be a FeatureCollection or a Feature, not {kind!r}")
    raws = []
    for index, item in enumerate(items):
        raw = _Raw(index, {})
        if not isinstance(item, dict) or item.get("type") != "Feature":
            raw.format_error = f"item #{index} of the FeatureCollection is not a GeoJSON Feature"
        else:
            raw.props = item["properties"] if isinstance(item.get("properties"), dict) else {}
            try:
                raw.polygons = _geojson_polygons(item.get("geometry"))
            except (ValueError, TypeError) as exc:
                raw.geometry_error = str(exc)
        raws.append(raw)
    return raws


def _geojson_polygons(geometry: Any) -> list[RawPolygon]:
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"unsupported geometry type {kind!r} (expected Polygon or MultiPolygon)")
    coords = geometry.get("coordinates")
    polygons = [coords] if kind == "Polygon" else coords
    if not isinstance(polygons, list) or not all(isinstance(p, list) and p for p in polygons) or not polygons:
        raise ValueError(f"{kind} has no coordinates")
    return [[[_position(pt) for pt in ring] for ring in polygon] for polygon in polygons]


def _position(value: Any) -> Point:
    numbers = value[:2] if isinstance(value, list) else []
    if len(numbers) == 2 and all(type(v) in (int, float) and math.isfinite(v) for v in numbers):
        return float(numbers[0]), float(numbers[1])
    raise ValueError(f"malformed position {value!r:.40} (expected [lon, lat])")


def _unzip_kml(data: bytes, limit: int) -> bytes:
    too_big = f"the KML in the KMZ is larger than {limit / 1e6:g} MB uncompressed"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            kmls = [i for i in archive.infolist() if i.filename.lower().endswith(".kml") and not i.is_dir()]
            if not kmls:
                raise _FormatError("the KMZ (zip) archive contains no .kml file")
            info = next((i for i in kmls if i.filename.lower() == "doc.kml"), kmls[0])
            if info.file_size > limit:
                raise _FormatError(too_big)
            with archive.open(info) as fh:
                content = fh.read(limit + 1)  # the declared size can lie, so bound the read too
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, zlib.error) as exc:
        raise _FormatError(f"cannot read the KMZ (zip) archive: {exc}") from exc
    if len(content) > limit:
        raise _FormatError(too_big)
    return content


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""  # comments have non-str tags


def _all(element: Element, name: str) -> list[Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def _child_text(element: Element, name: str) -> str | None:
    child = next((c for c in element if _local(c.tag) == name), None)
    return None if child is None else (child.text or "").strip()


def _parse_kml(data: bytes) -> list[_Raw]:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise _FormatError(
            f"XML with a DTD or entities is refused (possible entity-expansion attack): {exc}"
        ) from exc
    except SafeET.ParseError as exc:
        raise _FormatError(f"invalid XML: {exc}") from exc
    if _local(root.tag) != "kml":
        raise _FormatError(f"XML root element is <{_local(root.tag)}>, not <kml>")
    raws = []
    for index, placemark in enumerate(_all(root, "Placemark")):
        props: dict[str, Any] = {d.get("name", ""): _child_text(d, "value") for d in _all(placemark, "Data")}
        props |= {d.get("name", ""): (d.text or "").strip() for d in _all(placemark, "SimpleData")}
        fields = {PROPERTY_ALIASES.get(key.lower()) for key, value in props.items() if value}
        if name := _child_text(placemark, "name"):
            props = {k: v for k, v in props.items() if PROPERTY_ALIASES.get(k.lower()) != "name"}
            props["name"] = name
            if "code" not in fields and (match := _NAME_CODE_RE.fullmatch(name)):
                props["code"], props["name"] = match[1], match[2].strip() or name
        raw = _Raw(index, props)
        try:
            raw.polygons = [_kml_polygon(p) for p in _all(placemark, "Polygon")] or None
            raw.geometry_error = None if raw.polygons else "Placemark has no Polygon"
        except ValueError as exc:
            raw.geometry_error = str(exc)
        raws.append(raw)
    return raws


def _kml_polygon(polygon: Element) -> RawPolygon:
    outer = [r for b in _all(polygon, "outerBoundaryIs") for r in _all(b, "LinearRing")]
    inner = [r for b in _all(polygon, "innerBoundaryIs") for r in _all(b, "LinearRing")]
    if len(outer) != 1:
        raise ValueError("a Polygon needs exactly one outerBoundaryIs/LinearRing")
    rings = []
    for ring in outer + inner:
        text = re.sub(r",\s+", ",", _child_text(ring, "coordinates") or "")
        try:
            rings.append([_position([float(v) for v in t.split(",")]) for t in text.split()])
        except ValueError as exc:
            raise ValueError(f"malformed KML coordinates: {exc}") from exc
    return rings


# --- per-feature checks --------------------------------------------------------------------------


def _anchor(raw: _Raw) -> Point | None:
    """A position to show for problems with the feature as a whole."""
    return raw.polygons[0][0][0] if raw.polygons and raw.polygons[0] and raw.polygons[0][0] else None


def _read_feature(raw: _Raw, report: GridFileReport) -> tuple[GridFeature | None, bool]:
    """Check one feature; return it (None unless code, name, level and geometry are there) and if usable."""
    if raw.format_error:
        report.add(ProblemKind.FORMAT, raw.format_error, raw.index)
        return None, False
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in sorted(raw.props.items(), key=lambda kv: kv[0] not in PROPERTY_ALIASES.values()):
        canonical = PROPERTY_ALIASES.get(key.lower())
        if canonical and canonical not in known:
            known[canonical] = value
        else:
            extra[key] = value
    at = _anchor(raw)
    code = _code(report, known.get("code"), "code", raw.index, None, at)
    parent = _code(report, known.get("parent_code"), "parent_code", raw.index, code, at)
    if code and parent == code:
        report.add(ProblemKind.BAD_CODE, "parent_code equals the grid's own code", raw.index, code, at)
    if not (name := str(known.get("name") or "").strip()):
        report.add(ProblemKind.MISSING_PROPERTY, "missing required property 'name'", raw.index, code, at)
    given = str(known.get("level") or "").strip()
    level = LEVEL_NAMES.get(given.lower()) if given else LEVEL_BY_CODE_LENGTH.get(len(code or ""))
    if code and not level:
        problem = f"level {given!r} is unknown" if given else f"a {len(code)}-digit code needs a 'level'"
        message = f"{problem} (district, street, community or grid)"
        report.add(ProblemKind.BAD_LEVEL, message, raw.index, code, at)
    geometry, usable = _read_geometry(raw, code, report)
    if not (code and name and level and geometry is not None):
        return None, False
    return GridFeature(code, name, parent, level, geometry, extra), usable


def _code(
    report: GridFileReport, value: Any, prop: str, index: int, own: str | None, at: Point | None
) -> str | None:
    """Validate ``code`` (required; ``own`` is None) or ``parent_code`` (optional) of feature ``own``."""
    if type(value) is int:  # codes never start with 0, so a JSON number is lossless
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if prop == "code":
            report.add(ProblemKind.MISSING_PROPERTY, "missing required property 'code'", index, None, at)
        return None
    if isinstance(value, str) and _CODE_RE.fullmatch(value.strip()):
        return value.strip()
    message = f"{prop} {value!r:.40} is not a string of 6–20 digits"
    report.add(ProblemKind.BAD_CODE, message, index, own, at)
    return None


def _read_geometry(raw: _Raw, code: str | None, report: GridFileReport) -> tuple[BaseGeometry | None, bool]:
    def bad(message: str, at: Point | None, kind: ProblemKind = ProblemKind.BAD_GEOMETRY) -> None:
        report.add(kind, message, raw.index, code, at)

    if raw.polygons is None:
        bad(raw.geometry_error or "feature has no geometry", None)
        return None, False
    for p, polygon in enumerate(raw.polygons):
        for r, ring in enumerate(polygon):
            where = f"ring {r} of polygon {p}"
            if ring and ring[0] != ring[-1]:
                bad(f"{where} is not closed (first and last positions differ)", ring[0])
                return None, False
            if len(ring) < 4:
                bad(f"{where} has {len(ring)} positions; a ring needs at least 4", ring[0] if ring else None)
                return None, False
    parts = [Polygon(polygon[0], polygon[1:]) for polygon in raw.polygons]
    geometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if not _check_range(raw, code, report):
        return geometry, False
    # Convex hull, as a bowtie's signed area is ~0 too but it should be reported as a self-intersection.
    if _area_m2(geometry.convex_hull) < AREA_TOLERANCE_M2:
        bad("polygon has zero area (all its points lie on one line)", _anchor(raw))
        return geometry, False
    if (reason := shapely.is_valid_reason(geometry)) != "Valid Geometry":
        match = _LOCATION_RE.search(reason)
        at = (float(match[1]), float(match[2])) if match else None
        kind = ProblemKind.SELF_INTERSECTION if "Self-intersection" in reason else ProblemKind.BAD_GEOMETRY
        where = f" at {at[0]:.6f}, {at[1]:.6f}" if at else ""
        bad(f"invalid geometry: {reason.split('[')[0]}{where}", at, kind)
        return geometry, False
    if (area := _area_m2(geometry)) < AREA_TOLERANCE_M2:
        bad(f"polygon area is only {area:.2f} m²", _anchor(raw))
        return geometry, False
    return geometry, True


def _check_range(raw: _Raw, code: str | None, report: GridFileReport) -> bool:
    """Coordinates outside the world are an error, outside China a warning; False on error."""
    pts = np.array([pt for polygon in raw.polygons or [] for ring in polygon for pt in ring])
    lon, lat = pts[:, 0], pts[:, 1]
    x0, y0, x1, y1 = CHINA_BBOX
    in_china = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    if in_china.all():
        return True
    in_world = (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    hint = ""
    if ((lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)).all():
        hint = "; latitude and longitude look swapped (expected lon, lat)"
    elif np.abs(pts).max() > 1000:
        hint = "; they look like projected metres, export as WGS-84 longitude/latitude"
    ok = bool(in_world.all())
    lon_at, lat_at = pts[np.argmin(in_china if ok else in_world)]  # the first point outside
    at = (float(lon_at), float(lat_at))
    where = "outside China" if ok else "outside lon -180..180 / lat -90..90"
    message = f"coordinates {where}, e.g. {at}{hint}"
    report.add(ProblemKind.OUT_OF_RANGE, message, raw.index, code, at, warning=ok)
    return ok


# --- cross-feature checks ------------------------------------------------------------------------


def _areas_m2(geometries: np.ndarray) -> np.ndarray:
    """Areas in m², each projected equirectangularly around its own centroid."""
    area = shapely.area(geometries)
    lat = np.zeros_like(area)
    lat[area > 0] = shapely.get_y(shapely.centroid(geometries[area > 0]))  # empty ones have no centroid
    return area * np.cos(np.radians(lat)) * _M_PER_DEG**2


def _area_m2(geometry: BaseGeometry) -> float:
    return float(_areas_m2(np.array([geometry]))[0])


def _point(geometry: BaseGeometry) -> Point:
    pt = geometry.representative_point()
    return (pt.x, pt.y)


def _check_parent_coverage(report: GridFileReport, items: list[_Item]) -> BaseGeometry:
    """Children must tile a parent that is in the file; return the union of the parents checked."""
    parents = {i.code: i for i in reversed(items) if i.usable}  # the first of duplicates wins
    children: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        if item.feature.parent_code in parents:
            children[item.feature.parent_code].append(item)
    checked = []
    for code, kids in children.items():
        if not all(kid.usable for kid in kids):
            continue  # a child's geometry is already in error
        parent = parents[code]
        shape = parent.feature.geometry
        uncovered = shape.difference(shapely.union_all([kid.feature.geometry for kid in kids]))
        for part in shapely.get_parts(uncovered):
            if (area := _area_m2(part)) > AREA_TOLERANCE_M2:
                message = f"{area:.0f} m² of parent {code} is not covered by its grids"
                report.add(ProblemKind.GAP, message, parent.index, code, _point(part), area=area)
        for kid in kids:
            outside = kid.feature.geometry.difference(shape)
            if (area := _area_m2(outside)) > AREA_TOLERANCE_M2:
                message = f"grid {kid.code} extends outside parent {code} by {area:.0f} m²"
                report.add(ProblemKind.OVERLAP, message, kid.index, kid.code, _point(outside), code, area)
        checked.append(shape)
    return shapely.union_all(checked)


def _check_levels(report: GridFileReport, items: list[_Item], checked_parents: BaseGeometry) -> None:
    """Overlaps between grids of one level, and holes inside their union."""
    rejected = np.array([i.feature.geometry for i in items if not i.usable])
    by_level: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        if item.usable:
            by_level[item.feature.level].append(item)
    for level, group in by_level.items():
        geoms = np.array([i.feature.geometry for i in group])
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        left, right = left[left < right], right[left < right]
        overlaps = shapely.intersection(geoms[left], geoms[right])
        for i, j, geom, area in zip(left, right, overlaps, _areas_m2(overlaps), strict=True):
            if area > AREA_TOLERANCE_M2:
                a, b = group[i], group[j]
                message = f"grids {a.code} and {b.code} overlap by {area:.0f} m²"
                report.add(ProblemKind.OVERLAP, message, a.index, a.code, _point(geom), b.code, area)
        union = shapely.union_all(geoms, grid_size=_SNAP_DEGREES)
        for hole in [Polygon(ring) for part in shapely.get_parts(union) for ring in part.interiors]:
            if (area := _area_m2(hole)) <= AREA_TOLERANCE_M2:
                continue
            if _area_m2(hole.difference(checked_parents)) <= AREA_TOLERANCE_M2:
                continue  # reported by the parent coverage check
            if len(rejected) and shapely.intersects(hole, rejected).any():
                continue  # a grid with an invalid geometry is there
            around = sorted(group[k].code for k in tree.query(hole, predicate="intersects"))
            message = f"gap of {area:.0f} m² between {level} grids {', '.join(around[:6])}"
            report.add(ProblemKind.GAP, message, at=_point(hole), area=area)
