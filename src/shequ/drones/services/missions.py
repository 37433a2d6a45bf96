"""Missions (航线任务): plan a route over grids, import and export mission files, and routine
patrols on a schedule (docs/drones.md, "Missions").

The route is computed by the engine (shequ_vision.survey) from the grids' polygons, the altitude,
the overlaps and the drone's camera; the platform's height limit (DRONE_MAX_ALTITUDE_M, 120 m by
default) is enforced here. Every field is checked before anything is written and every refused
field is listed (Refused, 422). Only administrators and command operators plan (may_manage); an
operator only over their own grids, with their own drones and docks.

Schedules are wall-clock times in Asia/Shanghai; `start_scheduled` (a periodic task) creates one
PLANNED flight per due routine patrol, idempotent by source id "schedule:<mission>:<date>".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import shapely
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from shequ.core import checks
from shequ.core.audit import audit
from shequ.core.checks import check_code
from shequ.core.errors import Conflict, DomainError, Forbidden, Invalid, Refused
from shequ.core.geo import local_projection
from shequ.core.outbox import publish
from shequ.drones import selectors
from shequ.drones.events import FlightStateChanged
from shequ.drones.models import Dock, Drone, Flight, FlightState, Mission, Pattern, Repeat
from shequ.grids import index as grid_index
from shequ.grids.models import Grid
from shequ.grids.selectors import visible_grid_ids
from shequ_vision import missionfile, survey
from shequ_vision.optics import CameraModel

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_CAMERA = survey.DEFAULT_CAMERA  # for a mission without a drone
PLAN_FIELDS = (
    "pattern",
    "grids",
    "altitude_m",
    "front_overlap",
    "side_overlap",
    "angle_deg",
    "speed_m_s",
    "drone",
    "waypoints",
)
FIELDS = ("code", "name", *PLAN_FIELDS, "dock", "source", "source_id", "is_active")
PLANNED_PATTERNS = (Pattern.SURVEY, Pattern.PERIMETER, Pattern.WAYPOINTS)
LABELS = {
    "code": "编号",
    "name": "名称",
    "pattern": "航线类型",
    "grids": "网格",
    "altitude_m": "飞行高度",
    "front_overlap": "航向重叠率",
    "side_overlap": "旁向重叠率",
    "angle_deg": "航线方向",
    "speed_m_s": "速度",
    "drone": "无人机",
    "dock": "机巢",
    "waypoints": "航点",
    "source": "来源",
    "source_id": "来源编号",
    "is_active": "启用",
    "file": "航线文件",
}
DEFAULTS: dict[str, Any] = {
    "front_overlap": 0.7,
    "side_overlap": 0.6,
    "angle_deg": None,
    "speed_m_s": 8.0,
    "drone": None,
    "dock": None,
    "grids": [],
    "waypoints": None,
}
SAMPLE_M = 10.0  # a drawn or imported route's grids: those its path passes through, sampled this often


def max_altitude_m() -> float:
    return float(settings.DRONE_MAX_ALTITUDE_M)


# --- field checks -------------------------------------------------------------------------------


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    text = "" if value is None else value
    if not isinstance(text, str):
        raise Invalid(f"{LABELS[field]}应为文本", field=field)
    text = text.strip()
    if any(ord(c) < 32 for c in text):
        raise Invalid(f"{LABELS[field]}含有控制字符", field=field)
    if required and not text:
        raise Invalid(f"{LABELS[field]}不能为空", field=field)
    if len(text) > limit:
        raise Invalid(f"{LABELS[field]}过长(最多 {limit} 字)", field=field)
    return text


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or value is None or value == "":
        raise Invalid(f"{LABELS[field]}应为数字", field=field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{LABELS[field]}应为数字", field=field) from None
    if not math.isfinite(number):
        raise Invalid(f"{LABELS[field]}应为有限的数", field=field)
    return number


def _engine(check: Callable[[float], float], field: str) -> Callable[[Any], float]:
    def run(value: Any) -> float:
        number = _number(value, field)
        try:
            return check(number)
        except survey.SurveyError as exc:
            raise Invalid(exc.message, field=field) from None

    return run


def check_altitude(value: Any) -> float:
    altitude = _engine(survey.check_altitude, "altitude_m")(value)
    limit = max_altitude_m()
    if altitude > limit:
        raise Invalid(
            f"飞行高度超过限高 {limit:g} 米 (轻小型无人机通常不高于 120 米; "
            "限高由 SHEQU_DRONE_MAX_ALTITUDE_M 设定)",
            field="altitude_m",
        )
    return altitude


def _angle(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = _number(value, "angle_deg")
    if not -360 <= number <= 360:
        raise Invalid("航线方向应为 0–180 度 (正北为 0, 顺时针)", field="angle_deg")
    return number % 180.0


def _pattern(value: Any) -> str:
    if value not in PLANNED_PATTERNS:
        raise Invalid(
            f"航线类型应为 {'/'.join(p.value for p in PLANNED_PATTERNS)} 之一 (导入的航线请用导入)",
            field="pattern",
        )
    return str(value)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{LABELS[field]}应为 true 或 false", field=field)
    return value


def _grids(value: Any) -> list[Grid]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or len(value) > 200:
        raise Invalid("网格应为网格编码的列表 (最多 200 个)", field="grids")
    codes: list[str] = []
    for item in value:
        code = item.code if isinstance(item, Grid) else item
        if not isinstance(code, str) or not code.strip() or len(code) > 20:
            raise Invalid("网格应为网格编码的列表", field="grids")
        codes.append(code.strip())
    found = {g.code: g for g in Grid.objects.filter(code__in=codes, is_active=True)}
    missing = [c for c in codes if c not in found]
    if missing:
        raise Invalid(f"网格不存在: {', '.join(missing)[:200]}", field="grids")
    return [found[c] for c in dict.fromkeys(codes)]


def _ref[M: (Drone, Dock)](model: type[M], field: str) -> Callable[[Any], M | None]:
    def check(value: Any) -> M | None:
        if value is None or value == "":
            return None
        if isinstance(value, model):
            return value
        if not isinstance(value, str) or len(value) > 40:
            raise Invalid(f"{LABELS[field]}应为{LABELS[field]}编号", field=field)
        found = model.objects.filter(code=value.strip(), is_active=True).first()
        if found is None:
            raise Invalid(f"{LABELS[field]} {value.strip()[:40]} 不存在或已停用", field=field)
        return found

    return check


def _waypoints(value: Any) -> list[list[float]] | None:
    """[[lon, lat], ...] or [[lon, lat, alt], ...]; a point without an altitude flies at the
    mission's altitude (filled in later)."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise Invalid("航点应为 [[经度, 纬度, 高度], ...] 的列表", field="waypoints")
    if len(value) > survey.MAX_WAYPOINTS:
        raise Invalid(f"航点过多 (最多 {survey.MAX_WAYPOINTS} 个)", field="waypoints")
    out = []
    for i, point in enumerate(value, start=1):
        if not isinstance(point, list | tuple) or len(point) not in (2, 3):
            raise Invalid(f"第 {i} 个航点应为 [经度, 纬度] 或 [经度, 纬度, 高度]", field="waypoints")
        numbers = []
        for v in point:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise Invalid(f"第 {i} 个航点含有非数字的值", field="waypoints")
            numbers.append(float(v))
        out.append(numbers)
    return out


CHECKS: dict[str, Callable[[Any], Any]] = {
    "code": check_code,
    "name": lambda v: _text(v, "name", 100, required=True),
    "pattern": _pattern,
    "grids": _grids,
    "altitude_m": check_altitude,
    "front_overlap": _engine(lambda v: survey.check_overlap(v, "front_overlap"), "front_overlap"),
    "side_overlap": _engine(lambda v: survey.check_overlap(v, "side_overlap"), "side_overlap"),
    "angle_deg": _angle,
    "speed_m_s": _engine(survey.check_speed, "speed_m_s"),
    "drone": _ref(Drone, "drone"),
    "dock": _ref(Dock, "dock"),
    "waypoints": _waypoints,
    "source": lambda v: _text(v, "source", 40),
    "source_id": lambda v: _text(v, "source_id", 120),
    "is_active": lambda v: _bool(v, "is_active"),
}


def check_fields(raw: Mapping[str, Any], *, required: Iterable[str]) -> dict[str, Any]:
    """The clean values of a mission's fields given; Refused lists every refused field."""
    return checks.check_fields(raw, CHECKS, required=required, labels=LABELS)


# --- who may plan -------------------------------------------------------------------------------


def _check_writer(actor: Any) -> None:
    if isinstance(actor, str):
        return  # the system (the demo generator, a command-line plan)
    if not selectors.may_manage(actor):
        raise Forbidden(_("只有指挥中心坐席和系统管理员可以规划航线"))


def _check_scope(actor: Any, values: Mapping[str, Any]) -> None:
    if isinstance(actor, str):
        return
    visible = visible_grid_ids(actor)
    grids = values.get("grids") or []
    if visible is not None and any(g.pk not in visible for g in grids):
        raise Forbidden(_("网格不在您管辖的范围内"), field="grids")
    drone, dock = values.get("drone"), values.get("dock")
    if drone is not None and not selectors.drones_for(actor).filter(pk=drone.pk).exists():
        raise Forbidden(_("无人机不在您管辖的范围内"), field="drone")
    if dock is not None and not selectors.docks_for(actor).filter(pk=dock.pk).exists():
        raise Forbidden(_("机巢不在您管辖的范围内"), field="dock")


# --- the route ----------------------------------------------------------------------------------


def camera_for(drone: Drone | None) -> CameraModel:
    """The drone's camera, or the default one (DEFAULT_CAMERA) for a mission without a drone."""
    if drone is None:
        return DEFAULT_CAMERA
    from shequ.drones.services.fleet import camera_of

    return camera_of(drone)


def grid_area(grids: Sequence[Grid]) -> BaseGeometry:
    """The union of the grids' polygons (lon/lat); Invalid when none has a boundary."""
    shapes = []
    for grid in grids:
        if not grid.geometry:
            raise Invalid(f"网格 {grid.code} 没有边界, 无法规划航线", field="grids")
        try:
            shapes.append(shape(grid.geometry))
        except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.GEOSException):
            raise Invalid(f"网格 {grid.code} 的边界无效", field="grids") from None
    if not shapes:
        raise Invalid("请选择至少一个网格", field="grids")
    return shapely.union_all(shapes)


def _route_from(values: Mapping[str, Any], camera: CameraModel | None = None) -> survey.Route:
    """Plan the route the values describe (all plan fields present) with the drone's camera (or
    `camera`, or the default one). Invalid names the field."""
    pattern = values["pattern"]
    camera = camera or camera_for(values.get("drone"))
    try:
        if pattern == Pattern.WAYPOINTS:
            raw = values.get("waypoints")
            if not raw:
                raise Invalid("自定航点的航线需要航点 (在地图上点选)", field="waypoints")
            points = [p if len(p) == 3 else [*p, values["altitude_m"]] for p in raw]
            limit = max_altitude_m()
            for i, p in enumerate(points, start=1):
                if p[2] > limit:
                    raise Invalid(f"第 {i} 个航点高度超过限高 {limit:g} 米", field="waypoints")
            return survey.plan_waypoints(
                points, camera, speed_m_s=values["speed_m_s"], front_overlap=values["front_overlap"]
            )
        area = grid_area(values.get("grids") or [])
        if pattern == Pattern.PERIMETER:
            return survey.plan_perimeter(
                area,
                camera,
                values["altitude_m"],
                speed_m_s=values["speed_m_s"],
                front_overlap=values["front_overlap"],
            )
        return survey.plan_survey(
            area,
            camera,
            values["altitude_m"],
            front_overlap=values["front_overlap"],
            side_overlap=values["side_overlap"],
            angle_deg=values.get("angle_deg"),
            speed_m_s=values["speed_m_s"],
        )
    except survey.SurveyError as exc:
        raise Invalid(exc.message, field=exc.field if exc.field in LABELS else "grids") from None


def geojson(geom: BaseGeometry, digits: int = 7) -> dict[str, Any] | None:
    if geom.is_empty:
        return None
    rounded = shapely.transform(geom, lambda xy: xy.round(digits))
    return dict(mapping(rounded))


def _apply_route(mission: Mission, route: survey.Route) -> None:
    mission.route = [[round(lon, 8), round(lat, 8), round(alt, 2)] for lon, lat, alt in route.waypoints]
    mission.photo_spacing_m = route.photo_spacing_m
    mission.coverage = geojson(route.coverage)
    mission.length_m = round(route.length_m, 2)
    mission.duration_s = round(route.duration_s, 1)
    mission.photo_count = route.photo_count


def _grids_along(points: Sequence[Sequence[float]]) -> list[Grid]:
    """The unit grids a path passes through (sampled every SAMPLE_M metres), in code order."""
    if not points:
        return []
    proj = local_projection(points[0][0], points[0][1])
    lons: list[float] = []
    lats: list[float] = []
    for a, b in zip(points, [*points[1:], points[-1]], strict=True):
        x1, y1 = proj.forward(a[0], a[1])
        x2, y2 = proj.forward(b[0], b[1])
        steps = max(1, min(1000, math.ceil(math.hypot(float(x2 - x1), float(y2 - y1)) / SAMPLE_M)))
        for k in range(steps):
            lon, lat = proj.inverse(x1 + (x2 - x1) * k / steps, y1 + (y2 - y1) * k / steps)
            lons.append(float(lon))
            lats.append(float(lat))
    ids = {pk for pk in grid_index.locate_many(lons, lats) if pk is not None}
    return list(Grid.objects.filter(pk__in=ids).order_by("code"))


def summary(route: survey.Route) -> dict[str, Any]:
    """What a planned route amounts to: as the page's preview and the command line show it."""
    return {
        "lines": route.lines,
        "waypoints": len(route.waypoints),
        "photo_count": route.photo_count,
        "photo_spacing_m": None if route.photo_spacing_m is None else round(route.photo_spacing_m, 2),
        "line_spacing_m": None if route.line_spacing_m is None else round(route.line_spacing_m, 2),
        "length_m": round(route.length_m, 1),
        "duration_s": round(route.duration_s, 1),
        "angle_deg": None if route.angle_deg is None else round(route.angle_deg, 2),
    }


def coverage_share(coverage: BaseGeometry, area: BaseGeometry) -> float:
    """The share of `area` (lon/lat) a route's ground coverage (lon/lat) sees, 0..1."""
    c = area.centroid
    proj = local_projection(c.x, c.y)
    local = proj.to_local(area)
    if local.area <= 0:
        return 0.0
    return float(local.intersection(proj.to_local(coverage)).area / local.area)


def mission_share(mission: Mission, grids: Sequence[Grid]) -> float | None:
    """The share of its grids a saved mission's planned coverage sees; None when it cannot be
    told (no coverage, no grid with a boundary, a geometry the planner did not write)."""
    if not mission.coverage or not grids:
        return None
    try:
        return coverage_share(shape(mission.coverage), grid_area(grids))
    except (Invalid, ValueError, TypeError, AttributeError, KeyError, shapely.errors.GEOSException):
        return None


# --- plan, change, delete -----------------------------------------------------------------------


def _complete(values: dict[str, Any]) -> dict[str, Any]:
    out = {**DEFAULTS, **values}
    if out["pattern"] == Pattern.WAYPOINTS and "altitude_m" not in values and out.get("waypoints"):
        alts = [p[2] for p in out["waypoints"] if len(p) == 3]
        if len(alts) == len(out["waypoints"]):
            out["altitude_m"] = max(alts)  # every point has its own: the mission's is the highest
    return out


def _required(values: Mapping[str, Any]) -> tuple[str, ...]:
    waypoints = values.get("waypoints")
    all_alts = (
        isinstance(waypoints, list)
        and waypoints
        and all(isinstance(p, list | tuple) and len(p) == 3 for p in waypoints)
    )
    if values.get("pattern") == Pattern.WAYPOINTS and all_alts:
        return ("code", "name", "pattern")
    return ("code", "name", "pattern", "altitude_m")


def preview_mission(
    *, actor: Any, camera: CameraModel | None = None, **fields: Any
) -> tuple[survey.Route, dict[str, Any]]:
    """Plan without saving (the page's preview, the command line): the route and the clean values.
    `code` and `name` are not needed; `camera` stands in for a drone's (the command line's)."""
    _check_writer(actor)
    raw = {k: v for k, v in fields.items() if k not in ("code", "name")}
    required = tuple(f for f in _required(raw) if f not in ("code", "name"))
    values = _complete(check_fields(raw, required=required))
    _check_scope(actor, values)
    return _route_from(values, camera), values


@transaction.atomic
def plan_mission(*, actor: Any, **fields: Any) -> Mission:
    """规划航线: code, name, pattern and altitude_m are required; survey and perimeter routes need
    grids, a waypoints route needs waypoints (its grids, when not given, are those it crosses)."""
    _check_writer(actor)
    values = _complete(check_fields(fields, required=_required(fields)))
    _check_scope(actor, values)
    if Mission.objects.filter(code=values["code"]).exists():
        raise Conflict(f"编号 {values['code']} 已存在", field="code")
    route = _route_from(values)
    grids = values["grids"] or (
        _grids_along(route.waypoints) if values["pattern"] == Pattern.WAYPOINTS else []
    )
    _check_scope(actor, {"grids": grids})
    mission = Mission(
        code=values["code"],
        name=values["name"],
        pattern=values["pattern"],
        drone=values["drone"],
        dock=values["dock"],
        altitude_m=values["altitude_m"],
        front_overlap=values["front_overlap"],
        side_overlap=values["side_overlap"],
        angle_deg=values["angle_deg"],
        speed_m_s=values["speed_m_s"],
        source=values.get("source", ""),
        source_id=values.get("source_id", ""),
        is_active=values.get("is_active", True),
        created_by=None if isinstance(actor, str) else actor,
    )
    _apply_route(mission, route)
    try:
        with transaction.atomic():
            mission.save(force_insert=True)
    except IntegrityError:
        raise Conflict(f"编号 {values['code']} 已存在", field="code") from None
    mission.grids.set(grids)
    audit("drones.mission_plan", actor=actor, target=mission, **_audited(values, mission))
    return mission


def _audited(values: Mapping[str, Any], mission: Mission) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Drone | Dock):
            shown[key] = value.code
        elif key == "grids":
            shown[key] = [g.code for g in value]
        elif key == "waypoints":
            shown[key] = len(value) if value else 0
        else:
            shown[key] = value
    return shown | {"length_m": mission.length_m, "photo_count": mission.photo_count}


def _current(mission: Mission) -> dict[str, Any]:
    return {
        "pattern": mission.pattern,
        "grids": list(mission.grids.order_by("code")),
        "altitude_m": mission.altitude_m,
        "front_overlap": mission.front_overlap,
        "side_overlap": mission.side_overlap,
        "angle_deg": mission.angle_deg,
        "speed_m_s": mission.speed_m_s,
        "drone": mission.drone,
        "dock": mission.dock,
        "waypoints": [list(p) for p in mission.route] if mission.pattern == Pattern.WAYPOINTS else None,
    }


IMPORTED_FIXED = ("pattern", "altitude_m", "front_overlap", "side_overlap", "angle_deg", "waypoints")


@transaction.atomic
def update_mission(mission: Mission, *, actor: Any, **fields: Any) -> Mission:
    """修改航线: only the fields given change; a change to what shapes the route plans it again.
    An imported route is kept as imported (re-import to change it)."""
    _check_writer(actor)
    mission = Mission.objects.select_for_update().get(pk=mission.pk)
    current = _current(mission)
    _check_scope(actor, current)
    values = check_fields(fields, required=())
    _check_scope(actor, values)
    if mission.pattern == Pattern.IMPORTED:
        fixed = [f for f in IMPORTED_FIXED if f in values]
        if fixed:
            raise Invalid("导入的航线不能修改航线参数, 请重新导入航线文件", field=fixed[0])
    code = values.get("code", mission.code)
    if code != mission.code and Mission.objects.filter(code=code).exclude(pk=mission.pk).exists():
        raise Conflict(f"编号 {code} 已存在", field="code")
    changed = {
        k: v
        for k, v in values.items()
        if (k == "grids" and [g.pk for g in v] != [g.pk for g in current["grids"]])
        or (k != "grids" and (current[k] if k in current else getattr(mission, k)) != v)
    }
    if not changed:
        return mission
    merged = {**current, **changed}
    if merged["pattern"] != Pattern.WAYPOINTS:
        merged["waypoints"] = None
    elif "waypoints" in changed and "altitude_m" not in changed:
        points = merged["waypoints"] or []
        if points and all(len(p) == 3 for p in points):
            merged["altitude_m"] = max(p[2] for p in points)  # as in plan_mission
    replan = mission.pattern != Pattern.IMPORTED and any(f in changed for f in PLAN_FIELDS)
    for key, value in changed.items():
        if key not in ("grids", "waypoints"):
            setattr(mission, key, value)
    mission.altitude_m = merged["altitude_m"]
    if replan:
        _apply_route(mission, _route_from(merged))
    elif "speed_m_s" in changed:
        mission.duration_s = round(mission.length_m / mission.speed_m_s, 1)
    try:
        with transaction.atomic():
            mission.save()
    except IntegrityError:
        raise Conflict(f"编号 {code} 已存在", field="code") from None
    if "grids" in changed:
        mission.grids.set(changed["grids"])
    elif replan and merged["pattern"] == Pattern.WAYPOINTS and not current["grids"]:
        mission.grids.set(_grids_along(mission.route))
    audit(
        "drones.mission_update", actor=actor, target=mission, code=mission.code, **_audited(changed, mission)
    )
    return mission


@transaction.atomic
def delete_mission(mission: Mission, *, actor: Any) -> None:
    """删除航线: only one never flown (a flown mission keeps its flights' history: deactivate it)."""
    _check_writer(actor)
    mission = Mission.objects.select_for_update().get(pk=mission.pk)
    _check_scope(actor, _current(mission))
    if Flight.objects.filter(mission=mission).exists():
        raise Conflict(_("该航线已有飞行架次, 不能删除; 可以停用"))
    audit("drones.mission_delete", actor=actor, target=mission, code=mission.code, name=mission.name)
    mission.delete()


# --- mission files ------------------------------------------------------------------------------


@transaction.atomic
def import_plan(
    *,
    actor: Any,
    data: bytes | str,
    name: str = "",
    code: str = "",
    filename: str = "",
    grids: Any = None,
    drone: Any = None,
    dock: Any = None,
    speed_m_s: Any = None,
) -> Mission:
    """导入航线 from a QGroundControl `.plan` or a `.waypoints` file. The same file imported again
    is the same mission (source "plan", source id its SHA-256). Its grids, when not given, are
    those its route crosses. MissionFileError becomes Invalid on the field "file"."""
    _check_writer(actor)
    raw_bytes = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    digest = hashlib.sha256(raw_bytes).hexdigest()
    raw: dict[str, Any] = {"name": name or (filename.rsplit("/", 1)[-1][:100] or f"导入航线 {digest[:8]}")}
    raw["code"] = code or f"PLAN-{digest[:10].upper()}"
    for key, value in (("grids", grids), ("drone", drone), ("dock", dock), ("speed_m_s", speed_m_s)):
        if value not in (None, "", []):
            raw[key] = value
    values = check_fields(raw, required=("code", "name"))
    _check_scope(actor, values)
    existing = Mission.objects.filter(source="plan", source_id=digest).first()
    if existing is not None:
        # The same file is the same mission, but only one the actor may see: another grid's
        # mission is not handed out (its route, drone, dock) to whoever holds a copy of the file.
        if not isinstance(actor, str) and not selectors.missions_for(actor).filter(pk=existing.pk).exists():
            raise Conflict(_("该航线文件已被导入为其他网格的航线"), field="file")
        return existing
    try:
        plan = missionfile.read_mission_file(raw_bytes, name=filename)
    except missionfile.MissionFileError as exc:
        raise Invalid(exc.message, field="file") from None
    limit = max_altitude_m()
    for i, p in enumerate(plan.waypoints, start=1):
        if p[2] > limit:
            raise Invalid(f"第 {i} 个航点高度 {p[2]:g} 米超过限高 {limit:g} 米", field="file")
        if p[2] < 0:
            raise Invalid(f"第 {i} 个航点高度 {p[2]:g} 米低于起飞点", field="file")
    speed = values.get("speed_m_s") or plan.cruise_speed or 8.0
    speed = min(max(speed, survey.MIN_SPEED_M_S), survey.MAX_SPEED_M_S)
    camera = camera_for(values.get("drone"))
    route = _imported_route(plan, camera, speed)
    if Mission.objects.filter(code=values["code"]).exists():
        raise Conflict(f"编号 {values['code']} 已存在", field="code")
    grid_list = values.get("grids") or _grids_along(route.waypoints)
    _check_scope(actor, {"grids": grid_list})
    mission = Mission(
        code=values["code"],
        name=values["name"],
        pattern=Pattern.IMPORTED,
        drone=values.get("drone"),
        dock=values.get("dock"),
        altitude_m=max(p[2] for p in plan.waypoints),
        speed_m_s=speed,
        source="plan",
        source_id=digest,
        created_by=None if isinstance(actor, str) else actor,
    )
    _apply_route(mission, route)
    try:
        with transaction.atomic():
            mission.save(force_insert=True)
    except IntegrityError:
        # The same file imported at the same moment by another request, or the code taken.
        if Mission.objects.filter(source="plan", source_id=digest).exists():
            raise Conflict(_("该航线文件正在导入或已导入, 请刷新后查看"), field="file") from None
        raise Conflict(f"编号 {mission.code} 已存在", field="code") from None
    mission.grids.set(grid_list)
    audit(
        "drones.mission_import",
        actor=actor,
        target=mission,
        code=mission.code,
        filename=filename[:200],
        waypoints=len(plan.waypoints),
        notes=plan.notes,
    )
    return mission


def _imported_route(plan: missionfile.ImportedPlan, camera: CameraModel, speed: float) -> survey.Route:
    points = list(plan.waypoints)
    cover = survey.ground_coverage(points, camera)
    proj = local_projection(points[0][0], points[0][1])
    length = 0.0
    for a, b in itertools.pairwise(points):
        x1, y1 = proj.forward(a[0], a[1])
        x2, y2 = proj.forward(b[0], b[1])
        length += math.hypot(float(x2 - x1), float(y2 - y1))
    spacing = plan.photo_spacing_m
    return survey.Route(
        waypoints=points,
        photo_spacing_m=spacing,
        length_m=length,
        duration_s=length / speed,
        photo_count=math.floor(length / spacing) + 1 if spacing else 0,
        coverage=cover,
    )


def route_of(mission: Mission) -> survey.Route:
    """The mission's stored route as the engine's Route (for the files)."""
    return survey.Route(
        waypoints=[(float(p[0]), float(p[1]), float(p[2])) for p in mission.route],
        photo_spacing_m=mission.photo_spacing_m,
        length_m=mission.length_m,
        duration_s=mission.duration_s,
        photo_count=mission.photo_count,
        coverage=shape(mission.coverage) if mission.coverage else shapely.Polygon(),
    )


def home_of(mission: Mission) -> tuple[float, float, float] | None:
    """The take-off point: the mission's dock (or the drone's), with its ground height above sea."""
    dock = mission.dock or (mission.drone.dock if mission.drone_id and mission.drone else None)
    if dock is None:
        return None
    return (dock.lon, dock.lat, dock.elevation_m or 0.0)


def _exportable(mission: Mission) -> survey.Route:
    if not mission.route:
        raise Invalid(_("航线没有航点, 无法导出"), field="route")
    return route_of(mission)


def export_plan(mission: Mission, *, firmware: str = "px4") -> dict[str, Any]:
    """The mission as a QGroundControl `.plan` document."""
    try:
        return missionfile.to_plan(
            _exportable(mission), home=home_of(mission), cruise_speed=mission.speed_m_s, firmware=firmware
        )
    except missionfile.MissionFileError as exc:
        raise Invalid(exc.message, field="firmware") from None


def export_waypoints(mission: Mission) -> str:
    """The mission as a `QGC WPL 110` waypoint file (ArduPilot, Mission Planner, pymavlink)."""
    return missionfile.to_waypoints_file(_exportable(mission), home=home_of(mission))


# --- routine patrols ----------------------------------------------------------------------------


def _time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str):
        try:
            parsed = dt.time.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed.replace(second=0, microsecond=0)
    raise Invalid("起飞时间应为 HH:MM (北京时间)", field="time")


def _weekdays(value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise Invalid("每周巡查请选择星期 (1–7, 1 为周一)", field="weekdays")
    days = set()
    for day in value:
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7:
            raise Invalid("星期应为 1–7 的整数 (1 为周一, 7 为周日)", field="weekdays")
        days.add(day)
    return sorted(days)


def next_run(
    repeat: str, at: dt.time | None, weekdays: Sequence[int], after: dt.datetime
) -> dt.datetime | None:
    """The first take-off time of a routine patrol strictly after `after` (aware), or None."""
    if repeat == Repeat.NONE or at is None:
        return None
    local = after.astimezone(LOCAL_TZ)
    for offset in range(0, 9):
        day = local.date() + dt.timedelta(days=offset)
        if repeat == Repeat.WEEKLY and day.isoweekday() not in weekdays:
            continue
        candidate = dt.datetime.combine(day, at, tzinfo=LOCAL_TZ)
        if candidate > local:
            return candidate.astimezone(dt.UTC)
    return None


@transaction.atomic
def set_schedule(
    mission: Mission,
    *,
    actor: Any,
    repeat: Any,
    time: Any = None,
    weekdays: Any = None,
    now: dt.datetime | None = None,
) -> Mission:
    """例行巡查: run the mission every day, or on some weekdays (1 = Monday .. 7 = Sunday), at a
    time of day in Beijing time; "none" stops it. A routine patrol needs a drone to fly it."""
    _check_writer(actor)
    mission = Mission.objects.select_for_update().get(pk=mission.pk)
    _check_scope(actor, _current(mission))
    errors: list[dict[str, str]] = []
    at: dt.time | None = None
    days: list[int] = []
    if repeat not in Repeat.values:
        errors.append({"field": "repeat", "message": f"重复方式应为 {'/'.join(Repeat.values)} 之一"})
    elif repeat != Repeat.NONE:
        try:
            at = _time(time)
        except DomainError as exc:
            errors.append({"field": "time", "message": exc.message})
        if repeat == Repeat.WEEKLY:
            try:
                days = _weekdays(weekdays)
            except DomainError as exc:
                errors.append({"field": "weekdays", "message": exc.message})
        if mission.drone_id is None:
            errors.append({"field": "drone", "message": "例行巡查需要先为航线指定无人机"})
        if not mission.is_active:
            errors.append({"field": "repeat", "message": "航线已停用, 不能设置例行巡查"})
    if errors:
        raise Refused(errors)
    mission.repeat = str(repeat)
    mission.repeat_time = at
    mission.repeat_weekdays = days
    mission.next_run_at = next_run(mission.repeat, at, days, now or timezone.now())
    mission.save(update_fields=["repeat", "repeat_time", "repeat_weekdays", "next_run_at", "updated_at"])
    audit(
        "drones.mission_schedule",
        actor=actor,
        target=mission,
        code=mission.code,
        repeat=mission.repeat,
        time=at.strftime("%H:%M") if at else None,
        weekdays=days,
    )
    return mission


def due_missions(now: dt.datetime) -> list[int]:
    """Ids of the routine patrols whose take-off time has come."""
    return list(
        Mission.objects.filter(is_active=True, next_run_at__lte=now, drone__isnull=False)
        .exclude(repeat=Repeat.NONE)
        .order_by("next_run_at", "pk")
        .values_list("pk", flat=True)
    )


def start_scheduled(now: dt.datetime | None = None) -> dict[str, int]:
    """Create the PLANNED flight of every due routine patrol and move its next take-off on. One
    transaction per mission, its row locked: a second run (another host, a retry) finds the flight
    by its source id and the next take-off already moved, and adds nothing. Take-offs missed while
    the platform was down are not made up: one flight, then the next time after `now`."""
    now = now or timezone.now()
    created = skipped = 0
    for pk in due_missions(now):
        with transaction.atomic():
            mission = Mission.objects.select_for_update().filter(pk=pk).first()
            if mission is None or mission.next_run_at is None or mission.next_run_at > now:
                skipped += 1
                continue
            run_at = mission.next_run_at
            source_id = f"schedule:{mission.pk}:{run_at.astimezone(LOCAL_TZ).date().isoformat()}"
            done = Flight.objects.filter(source="schedule", source_id=source_id).exists()
            if mission.drone_id is None or not mission.is_active or done:
                skipped += 1
            else:
                flight = Flight.objects.create(
                    mission=mission,
                    drone_id=mission.drone_id,
                    state=FlightState.PLANNED,
                    planned_at=run_at,
                    source="schedule",
                    source_id=source_id,
                )
                audit("drones.flight_schedule", actor="system", target=flight, mission=mission.code)
                publish(
                    FlightStateChanged(
                        flight_id=flight.pk, drone_id=flight.drone_id, state=flight.state, previous=""
                    )
                )
                created += 1
            mission.next_run_at = next_run(
                mission.repeat, mission.repeat_time, mission.repeat_weekdays, max(now, run_at)
            )
            mission.save(update_fields=["next_run_at", "updated_at"])
    return {"created": created, "skipped": skipped}
