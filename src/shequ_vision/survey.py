"""Drone route planning (航线规划): survey ("lawnmower"), perimeter and drawn-waypoint routes, and
the ground a nadir camera sees along a path (planned or flown).

All geometry is done in a local metric plane (`shequ.core.geo.local_projection`) around the area;
inputs and outputs are WGS-84 ``(lon, lat)``; altitudes are metres above the take-off point, taken
as height above ground (flat ground: the community's terrain is flat next to the camera's reach).

Camera orientation: the camera's long side (image width, `sensor_width_mm`) lies ACROSS the track
and the image's top edge faces the direction of flight. So with W × H the footprint on the ground
(W across, H along the track):

- line spacing  = W × (1 − side overlap)   (side overlap: between adjacent lines)
- photo spacing = H × (1 − front overlap)  (front overlap: between consecutive photos of a line)

No Django import: the platform, the command line and the benchmarks share this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from shequ.core.geo import local_projection
from shequ_vision.optics import CameraModel

MIN_ALTITUDE_M = 10.0  # below this a survey photo sees too little and obstacles are too near
MAX_ALTITUDE_M = 500.0  # hard ceiling of the engine; the platform's own limit is lower (120 m)
MAX_OVERLAP = 0.95
MIN_SPEED_M_S, MAX_SPEED_M_S = 0.5, 30.0
MAX_EXTENT_M = 50_000.0  # the local plane stays accurate well past a community; a city is split up
MAX_LINES = 2_000
MAX_PHOTOS = 50_000
MAX_WAYPOINTS = 5_000  # drawn routes; a flight controller holds a few hundred to a few thousand
EDGE_MARGIN_M = 0.01  # lines cover the polygon's extent with a centimetre to spare on each side

Waypoint = tuple[float, float, float]
# The camera a route is planned for when no drone is named: DJI Mavic 3 Enterprise's wide camera
# (4/3" CMOS 17.3×13.0 mm, 12.29 mm, 5280×3956), a usual community patrol drone.
DEFAULT_CAMERA = CameraModel(17.3, 13.0, 12.29, 5280, 3956)


class SurveyError(ValueError):
    """A route that cannot be planned; `field` names the input at fault, `message` is for people."""

    def __init__(self, message: str, *, field: str = "area") -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Route:
    """A planned route: the waypoints the drone flies (lon, lat, alt above take-off) and the ground
    its camera sees. `photos` are the planned camera positions (lon, lat, alt, heading of the
    image's top edge in degrees clockwise from north), spaced `photo_spacing_m` along each line."""

    waypoints: list[Waypoint]
    photo_spacing_m: float | None
    length_m: float
    duration_s: float
    photo_count: int
    coverage: BaseGeometry
    photos: list[tuple[float, float, float, float]] = field(default_factory=list)
    line_spacing_m: float | None = None
    lines: int = 0
    angle_deg: float | None = None  # bearing of the survey lines, degrees clockwise from north


# --- checks -----------------------------------------------------------------------------------


def _number(value: object, name: str, low: float, high: float, message: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SurveyError(message, field=name)
    if not low <= float(value) <= high:
        raise SurveyError(message, field=name)
    return float(value)


def check_altitude(altitude_m: object) -> float:
    return _number(
        altitude_m,
        "altitude_m",
        MIN_ALTITUDE_M,
        MAX_ALTITUDE_M,
        f"飞行高度应在 {MIN_ALTITUDE_M:g}–{MAX_ALTITUDE_M:g} 米之间",
    )


def check_overlap(value: object, name: str) -> float:
    label = "航向重叠率" if name == "front_overlap" else "旁向重叠率"
    return _number(value, name, 0.0, MAX_OVERLAP, f"{label}应在 0–{MAX_OVERLAP:g} 之间 (比例, 如 0.7)")


def check_speed(value: object) -> float:
    return _number(
        value,
        "speed_m_s",
        MIN_SPEED_M_S,
        MAX_SPEED_M_S,
        f"速度应在 {MIN_SPEED_M_S:g}–{MAX_SPEED_M_S:g} 米/秒之间",
    )


def check_area(area: object) -> Polygon | MultiPolygon:
    if not isinstance(area, Polygon | MultiPolygon) or area.is_empty:
        raise SurveyError("作业区域应为多边形 (Polygon 或 MultiPolygon)")
    minx, miny, maxx, maxy = area.bounds
    if not all(math.isfinite(v) for v in area.bounds):
        raise SurveyError("作业区域的坐标无效")
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise SurveyError("作业区域的坐标超出经纬度范围 (WGS-84: 经度 ±180, 纬度 ±90)")
    if not area.is_valid:
        area = shapely.make_valid(area)
        polys = [g for g in getattr(area, "geoms", [area]) if isinstance(g, Polygon | MultiPolygon)]
        if not polys:
            raise SurveyError("作业区域不是有效的多边形 (自相交或退化)")
        area = shapely.union_all(polys)
        if not isinstance(area, Polygon | MultiPolygon):
            raise SurveyError("作业区域不是有效的多边形 (自相交或退化)")
    return area


def _plane(area: BaseGeometry) -> tuple[object, BaseGeometry]:
    c = area.centroid
    proj = local_projection(c.x, c.y)
    local = proj.to_local(area)
    minx, miny, maxx, maxy = local.bounds
    if max(maxx - minx, maxy - miny) > MAX_EXTENT_M:
        raise SurveyError(f"作业区域过大 (超过 {MAX_EXTENT_M / 1000:g} 公里), 请按网格分开规划")
    if local.area < 1.0:
        raise SurveyError("作业区域面积过小 (不足 1 平方米)")
    return proj, local


# --- survey -------------------------------------------------------------------------------------


def longest_edge_bearing(area: BaseGeometry) -> float:
    """Bearing (degrees clockwise from north, 0..180) of the longest side of the area's minimum
    rotated rectangle, in the local plane: lines along it make the fewest turns."""
    c = area.centroid
    local = local_projection(c.x, c.y).to_local(area)
    rect = shapely.minimum_rotated_rectangle(local)
    coords = np.asarray(rect.exterior.coords) if isinstance(rect, Polygon) else np.asarray(rect.coords)
    if len(coords) < 2:
        return 0.0
    d = np.diff(coords, axis=0)
    k = int(np.argmax(np.hypot(d[:, 0], d[:, 1])))
    dx, dy = d[k]
    return math.degrees(math.atan2(dx, dy)) % 180.0


def _rotation_deg(bearing: float) -> float:
    """Counter-clockwise rotation that turns a line of `bearing` into the +x axis."""
    return -(90.0 - bearing)


def plan_survey(
    area: Polygon | MultiPolygon,
    camera: CameraModel,
    altitude_m: float,
    *,
    front_overlap: float = 0.7,
    side_overlap: float = 0.6,
    angle_deg: float | None = None,
    speed_m_s: float = 8.0,
) -> Route:
    """A boustrophedon survey whose photos together cover `area` completely.

    Lines run at `angle_deg` (bearing, clockwise from north) or along the longest side of the
    area's minimum rotated rectangle. Each line is clipped to the area grown by half a footprint
    width, so every photo band reaches past the edges; a line that the area cuts in two (a concave
    or multi-part area) is flown across the gap in one piece, photos and all, so no band is missed.
    """
    area = check_area(area)
    altitude_m = check_altitude(altitude_m)
    front_overlap = check_overlap(front_overlap, "front_overlap")
    side_overlap = check_overlap(side_overlap, "side_overlap")
    speed_m_s = check_speed(speed_m_s)
    if angle_deg is not None:
        angle_deg = _number(angle_deg, "angle_deg", -360.0, 360.0, "航线方向应为 -360–360 度") % 180.0
    proj, local = _plane(area)
    bearing = longest_edge_bearing(area) if angle_deg is None else angle_deg
    width, height = camera.ground_size(altitude_m)  # across, along the track
    spacing = width * (1.0 - side_overlap)
    step = height * (1.0 - front_overlap)

    turn = _rotation_deg(bearing)
    rotated = affinity.rotate(local, turn, origin=(0, 0))
    minx, miny, maxx, maxy = rotated.bounds
    extent = maxy - miny + 2 * EDGE_MARGIN_M
    n_lines = 1 if extent <= width else math.ceil((extent - width) / spacing) + 1
    if n_lines > MAX_LINES:
        raise SurveyError(
            f"航线过密: 需要 {n_lines} 条航线 (最多 {MAX_LINES}), 请提高飞行高度或降低旁向重叠率",
            field="side_overlap",
        )
    first = (miny + maxy) / 2 - (n_lines - 1) * spacing / 2
    ys = first + spacing * np.arange(n_lines)
    grown = rotated.buffer(width / 2, quad_segs=8)
    span = (minx - width - height, maxx + width + height)
    clipped = shapely.intersection(shapely.linestrings([[(span[0], y), (span[1], y)] for y in ys]), grown)

    path: list[tuple[float, float]] = []
    photos: list[tuple[float, float, bool]] = []  # x, y, eastward in the rotated plane
    forward = True
    for y, piece in zip(ys, clipped, strict=True):
        if piece.is_empty:
            continue
        a, _, b, _ = piece.bounds  # fly across any gap: one segment from the first to the last end
        count = max(1, math.ceil((b - a) / step) + 1 if b - a > 0 else 1)
        if len(photos) + count > MAX_PHOTOS:
            raise SurveyError(
                f"照片过多 (超过 {MAX_PHOTOS} 张), 请提高飞行高度或降低航向重叠率", field="front_overlap"
            )
        centre = (a + b) / 2
        xs = centre + step * (np.arange(count) - (count - 1) / 2)
        if not forward:
            xs = xs[::-1]
        path += [(float(xs[0]), float(y)), (float(xs[-1]), float(y))]
        photos += [(float(x), float(y), forward) for x in xs]
        forward = not forward
    if not path:
        raise SurveyError("作业区域内没有可飞的航线")

    back = -turn
    pts = affinity.rotate(LineString(path) if len(path) > 1 else shapely.Point(path[0]), back, origin=(0, 0))
    coords = np.asarray(pts.coords)
    lons, lats = proj.inverse(coords[:, 0], coords[:, 1])  # type: ignore[attr-defined]
    waypoints = [(float(lo), float(la), altitude_m) for lo, la in zip(lons, lats, strict=True)]
    length = float(np.sum(np.hypot(*np.diff(coords, axis=0).T))) if len(coords) > 1 else 0.0

    pxy = np.array([(x, y) for x, y, _ in photos])
    rad = math.radians(back)
    cos, sin = math.cos(rad), math.sin(rad)
    px = pxy[:, 0] * cos - pxy[:, 1] * sin
    py = pxy[:, 0] * sin + pxy[:, 1] * cos
    plon, plat = proj.inverse(px, py)  # type: ignore[attr-defined]
    photo_rows = [
        (float(lo), float(la), altitude_m, bearing if east else (bearing + 180.0) % 360.0)
        for lo, la, (_, _, east) in zip(plon, plat, photos, strict=True)
    ]
    coverage = proj.from_local(  # type: ignore[attr-defined]
        _footprints_union(px, py, [math.radians(r[3]) for r in photo_rows], width, height)
    )
    return Route(
        waypoints=waypoints,
        photo_spacing_m=step,
        length_m=length,
        duration_s=length / speed_m_s,
        photo_count=len(photo_rows),
        coverage=coverage,
        photos=photo_rows,
        line_spacing_m=spacing,
        lines=len(path) // 2,
        angle_deg=bearing,
    )


def _rectangles(
    x: np.ndarray, y: np.ndarray, heading_rad: Sequence[float] | np.ndarray, width: object, height: object
) -> np.ndarray:
    """Footprint rectangles (local plane) centred at (x, y), `width` across and `height` along a
    heading (clockwise from north); widths and heights may be arrays (one per point)."""
    h = np.asarray(heading_rad, dtype=float)
    ux, uy = np.sin(h), np.cos(h)  # along the track
    vx, vy = uy, -ux  # across, to the right
    hw = np.broadcast_to(np.asarray(width, dtype=float) / 2, x.shape)
    hh = np.broadcast_to(np.asarray(height, dtype=float) / 2, x.shape)
    corners = []
    for sa, sc in ((1, 1), (1, -1), (-1, -1), (-1, 1), (1, 1)):
        corners.append(np.column_stack((x + sa * hh * ux + sc * hw * vx, y + sa * hh * uy + sc * hw * vy)))
    rings = np.stack(corners, axis=1)
    return shapely.polygons(rings)


def _footprints_union(
    x: np.ndarray, y: np.ndarray, heading_rad: Sequence[float], width: float, height: float
) -> BaseGeometry:
    return shapely.union_all(_rectangles(x, y, heading_rad, width, height))


# --- perimeter and drawn waypoints -----------------------------------------------------------------


def _line_route(points: list[Waypoint], camera: CameraModel, speed_m_s: float, front_overlap: float) -> Route:
    cover = ground_coverage(points, camera)
    lon0 = float(np.mean([p[0] for p in points]))
    lat0 = float(np.mean([p[1] for p in points]))
    fwd = local_projection(lon0, lat0).forward
    x, y = fwd(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    length = float(np.sum(np.hypot(np.diff(x), np.diff(y)))) if len(points) > 1 else 0.0
    low = min(p[2] for p in points)
    step = camera.ground_size(low)[1] * (1.0 - front_overlap) if low > 0 else None
    count = (math.floor(length / step) + 1) if step else 0
    return Route(
        waypoints=points,
        photo_spacing_m=step,
        length_m=length,
        duration_s=length / speed_m_s,
        photo_count=count,
        coverage=cover,
    )


def plan_perimeter(
    area: Polygon | MultiPolygon,
    camera: CameraModel,
    altitude_m: float,
    *,
    speed_m_s: float = 8.0,
    front_overlap: float = 0.7,
) -> Route:
    """Fly round the area's boundary (边界巡线), a quarter footprint width inside it so that the
    camera sees both the edge and a strip beyond; waypoints at the ring's vertices, back to the
    start. Each part of a multi-part area is flown in turn; holes are not flown."""
    area = check_area(area)
    altitude_m = check_altitude(altitude_m)
    speed_m_s = check_speed(speed_m_s)
    front_overlap = check_overlap(front_overlap, "front_overlap")
    proj, local = _plane(area)
    width, _ = camera.ground_size(altitude_m)
    points: list[Waypoint] = []
    parts = list(local.geoms) if isinstance(local, MultiPolygon) else [local]
    for part in parts:
        inset = part.buffer(-width / 4, join_style="mitre")
        rings = [g for g in getattr(inset, "geoms", [inset]) if isinstance(g, Polygon) and not g.is_empty]
        # A part narrower than half a footprint has no inset ring: fly its own edge.
        for ring in [r.exterior for r in rings] or [part.exterior]:
            coords = np.asarray(ring.coords)
            lons, lats = proj.inverse(coords[:, 0], coords[:, 1])  # type: ignore[attr-defined]
            points += [(float(lo), float(la), altitude_m) for lo, la in zip(lons, lats, strict=True)]
    if len(points) > MAX_WAYPOINTS:
        raise SurveyError(f"边界过于复杂: {len(points)} 个航点 (最多 {MAX_WAYPOINTS}), 请先简化网格边界")
    return _line_route(points, camera, speed_m_s, front_overlap)


def check_waypoints(points: Sequence[Sequence[float]], *, field: str = "waypoints") -> list[Waypoint]:
    """(lon, lat, alt above take-off) each; refuses what a flight controller would refuse."""
    if not isinstance(points, Sequence) or isinstance(points, str | bytes) or not points:
        raise SurveyError("航点不能为空: 每个航点为 [经度, 纬度, 高度]", field=field)
    if len(points) > MAX_WAYPOINTS:
        raise SurveyError(f"航点过多 (最多 {MAX_WAYPOINTS} 个)", field=field)
    out: list[Waypoint] = []
    for i, p in enumerate(points, start=1):
        if not isinstance(p, Sequence) or isinstance(p, str | bytes) or len(p) != 3:
            raise SurveyError(f"第 {i} 个航点应为 [经度, 纬度, 高度]", field=field)
        lon, lat, alt = p
        if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in p):
            raise SurveyError(f"第 {i} 个航点含有非数字的值", field=field)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise SurveyError(f"第 {i} 个航点的经纬度超出范围 (经度 ±180, 纬度 ±90)", field=field)
        if not MIN_ALTITUDE_M <= alt <= MAX_ALTITUDE_M:
            raise SurveyError(
                f"第 {i} 个航点的高度应在 {MIN_ALTITUDE_M:g}–{MAX_ALTITUDE_M:g} 米之间", field=field
            )
        out.append((float(lon), float(lat), float(alt)))
    lons, lats = [p[0] for p in out], [p[1] for p in out]
    proj = local_projection(float(np.mean(lons)), float(np.mean(lats)))
    x, y = proj.forward(np.array(lons), np.array(lats))
    if max(np.ptp(x), np.ptp(y)) > MAX_EXTENT_M:
        raise SurveyError(f"航点分布过广 (超过 {MAX_EXTENT_M / 1000:g} 公里)", field=field)
    return out


def plan_waypoints(
    points: Sequence[Sequence[float]],
    camera: CameraModel,
    *,
    speed_m_s: float = 8.0,
    front_overlap: float = 0.7,
) -> Route:
    """A route through points drawn on the map, in order; photo spacing for the lowest altitude."""
    route_points = check_waypoints(points)
    speed_m_s = check_speed(speed_m_s)
    front_overlap = check_overlap(front_overlap, "front_overlap")
    return _line_route(route_points, camera, speed_m_s, front_overlap)


# --- coverage of a path -------------------------------------------------------------------------


def ground_coverage(points: Sequence[Sequence[float | None]], camera: CameraModel) -> BaseGeometry:
    """The ground a nadir camera sees along a path of (lon, lat, alt above ground) points: the
    swath swept by the footprint (as wide as the footprint across the track, round at turns) plus
    the whole footprint where the path starts and ends. Points without an altitude, or below a
    metre (on the ground), see nothing and break the path. Returns a lon/lat geometry (empty when
    nothing was seen).

    Consecutive points whose altitudes stay within 5 % of each other form one run, swept with the
    width at the run's lowest altitude (never more than was seen). A 2,000-point track at a steady
    height (barometric noise of a metre or so) is a handful of buffers: a few milliseconds, where a
    union of 2,000 footprints takes a good part of a second.
    """
    rows = [
        (float(p[0]), float(p[1]), float(p[2]))
        for p in points
        if p[0] is not None and p[1] is not None and p[2] is not None
    ]
    arr = np.asarray(rows, dtype=float).reshape(-1, 3)
    arr = arr[np.isfinite(arr).all(axis=1)]
    if not len(arr):
        return Polygon()
    proj = local_projection(float(arr[:, 0].mean()), float(arr[:, 1].mean()))
    x, y = (np.asarray(v, dtype=float) for v in proj.forward(arr[:, 0], arr[:, 1]))
    alt = np.minimum(arr[:, 2], MAX_ALTITUDE_M)
    per_m_w, per_m_h = camera.ground_size(1.0)

    lines: list[BaseGeometry] = []
    widths: list[float] = []
    ends: list[tuple[float, float, float, float, float]] = []  # x, y, heading, width, height
    n, start = len(alt), 0
    while start < n:
        if alt[start] < 1.0:
            start += 1
            continue
        stop = start
        while stop + 1 < n and alt[stop + 1] >= 1.0:
            stop += 1
        _sweep(x[start : stop + 1], y[start : stop + 1], alt[start : stop + 1], lines, widths, ends)
        start = stop + 1
    parts: list[BaseGeometry] = []
    if lines:
        parts += list(
            shapely.buffer(
                np.array(lines, dtype=object),
                np.array(widths) * per_m_w / 2,
                cap_style="flat",
                join_style="round",
                quad_segs=4,
            )
        )
    if ends:
        e = np.array(ends)
        parts += list(_rectangles(e[:, 0], e[:, 1], e[:, 2], e[:, 3] * per_m_w, e[:, 4] * per_m_h))
    if not parts:
        return Polygon()
    return proj.from_local(shapely.union_all(parts))


def _sweep(
    x: np.ndarray,
    y: np.ndarray,
    alt: np.ndarray,
    lines: list[BaseGeometry],
    widths: list[float],
    ends: list[tuple[float, float, float, float, float]],
) -> None:
    """One unbroken path: its runs of steady altitude as lines to buffer (with the run's lowest
    altitude), and the footprints at its two ends (turned to the direction of travel)."""
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = np.hypot(np.diff(x), np.diff(y)) > 0.01  # hovering adds nothing
    if not keep.all():
        # Points at one spot (a hover, a vertical climb or descent) keep the highest altitude: a
        # nadir footprint from higher up contains the ones below it on the same spot.
        groups = np.cumsum(keep) - 1
        high = np.full(int(groups[-1]) + 1, -np.inf)
        np.maximum.at(high, groups, alt)
        x, y, alt = x[keep], y[keep], high
    if len(x) == 1:
        ends.append((float(x[0]), float(y[0]), 0.0, float(alt[0]), float(alt[0])))
        return
    i, n = 0, len(x)
    while i < n - 1:
        j, low, high = i + 1, min(alt[i], alt[i + 1]), max(alt[i], alt[i + 1])
        while j + 1 < n and max(high, alt[j + 1]) <= 1.05 * min(low, alt[j + 1]):
            low, high = min(low, alt[j + 1]), max(high, alt[j + 1])
            j += 1
        lines.append(LineString(np.column_stack((x[i : j + 1], y[i : j + 1]))))
        widths.append(float(low))
        i = j  # the next run starts at this run's last point: no gap in the swath
    first = math.atan2(x[1] - x[0], y[1] - y[0])
    last = math.atan2(x[-1] - x[-2], y[-1] - y[-2])
    ends.append((float(x[0]), float(y[0]), first, float(alt[0]), float(alt[0])))
    ends.append((float(x[-1]), float(y[-1]), last, float(alt[-1]), float(alt[-1])))
