"""The fleet register: drones (无人机) with their cameras, and docks (机巢) with the grids they cover
(docs/drones.md, "Register").

Every field is checked before anything is written, and every refused field is listed (Refused, 422).
The camera's optics must describe a real camera: the planner, the track coverage and the photo
footprints all compute from them (shequ_vision.optics). Only administrators and command operators
write the register (drones.selectors.may_manage); an operator only docks over their own grids.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from shequ.core.audit import audit
from shequ.core.checks import check_code, check_coordinate, check_fields
from shequ.core.errors import Conflict, Forbidden, Invalid, Refused
from shequ.drones import selectors
from shequ.drones.models import Dock, Drone, DroneStatus, Flight, FlightState
from shequ.grids.models import Grid
from shequ.grids.selectors import visible_grid_ids
from shequ_vision.optics import CameraModel

DRONE_FIELDS = (
    "code",
    "name",
    "model",
    "serial",
    "dock",
    "mavlink_system_id",
    "sensor_width_mm",
    "sensor_height_mm",
    "focal_length_mm",
    "image_width",
    "image_height",
    "max_flight_minutes",
    "cruise_speed_m_s",
    "status",
    "is_active",
)
DOCK_FIELDS = ("code", "name", "lon", "lat", "elevation_m", "range_m", "grids", "is_active")
DRONE_REQUIRED = (
    "code",
    "name",
    "sensor_width_mm",
    "sensor_height_mm",
    "focal_length_mm",
    "image_width",
    "image_height",
)
DOCK_REQUIRED = ("code", "name", "lon", "lat")
TEXT_LIMITS = {"name": 100, "model": 60, "serial": 60}
LABELS = {
    "code": "编号",
    "name": "名称",
    "model": "机型",
    "serial": "序列号",
    "dock": "机巢",
    "mavlink_system_id": "MAVLink 系统号",
    "sensor_width_mm": "传感器宽(毫米)",
    "sensor_height_mm": "传感器高(毫米)",
    "focal_length_mm": "焦距(毫米)",
    "image_width": "照片宽(像素)",
    "image_height": "照片高(像素)",
    "max_flight_minutes": "续航(分钟)",
    "cruise_speed_m_s": "巡航速度(米/秒)",
    "status": "状态",
    "is_active": "启用",
    "lon": "经度",
    "lat": "纬度",
    "elevation_m": "海拔(米)",
    "range_m": "作业半径(米)",
    "grids": "覆盖网格",
}
# Sane bounds of a camera (a phone-sized sensor up to medium format; fish-eye to long tele).
SENSOR_MM = (1.0, 100.0)
FOCAL_MM = (1.0, 500.0)
IMAGE_PX = (100, 100_000)
FOV_X_DEG = (5.0, 130.0)  # beyond ~130° a lens is a fish-eye: the pinhole model no longer holds
ASPECT_TOLERANCE = 0.1  # sensor and image aspect ratios must agree this closely (square pixels)
# Manual states: "flying" is set by telemetry only.
MANUAL_STATUSES = (DroneStatus.IDLE, DroneStatus.MAINTENANCE, DroneStatus.OFFLINE)


def _label(field: str) -> str:
    return LABELS.get(field, field)


def _text(value: Any, field: str, *, required: bool = False) -> str:
    text = "" if value is None else value
    if not isinstance(text, str):
        raise Invalid(f"{_label(field)}应为文本", field=field)
    text = text.strip()
    if any(ord(c) < 32 for c in text):
        raise Invalid(f"{_label(field)}含有控制字符", field=field)
    if required and not text:
        raise Invalid(f"{_label(field)}不能为空", field=field)
    limit = TEXT_LIMITS.get(field, 40)
    if len(text) > limit:
        raise Invalid(f"{_label(field)}过长(最多 {limit} 字)", field=field)
    return text


def _number(value: Any, field: str, low: float, high: float, *, whole: bool = False) -> Any:
    kind = "整数" if whole else "数字"
    if isinstance(value, bool) or value is None or value == "":
        raise Invalid(f"{_label(field)}应为{kind}", field=field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{_label(field)}应为{kind}", field=field) from None
    if not math.isfinite(number) or (whole and not number.is_integer()):
        raise Invalid(f"{_label(field)}应为{kind}", field=field)
    if not low <= number <= high:
        raise Invalid(f"{_label(field)}应在 {low:g} 到 {high:g} 之间", field=field)
    return int(number) if whole else number


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None or v == "" else check(v)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{_label(field)}应为 true 或 false", field=field)
    return value


def _status(value: Any) -> str:
    if value not in [s.value for s in MANUAL_STATUSES]:
        raise Invalid(
            _("状态应为 %(choices)s 之一 (飞行中由遥测设置)")
            % {"choices": "/".join(s.value for s in MANUAL_STATUSES)},
            field="status",
        )
    return str(value)


def _dock_ref(value: Any) -> Dock | None:
    if value is None or value == "":
        return None
    if isinstance(value, Dock):
        return value
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid("机巢应为机巢编号", field="dock")
    dock = Dock.objects.filter(code=value.strip()).first()
    if dock is None:
        raise Invalid(f"机巢 {value.strip()[:40]} 不存在", field="dock")
    return dock


def _grid_refs(value: Any) -> list[Grid]:
    if not isinstance(value, list | tuple) or len(value) > 200:
        raise Invalid("覆盖网格应为网格编码的列表 (最多 200 个)", field="grids")
    codes: list[str] = []
    for item in value:
        code = item.code if isinstance(item, Grid) else item
        if not isinstance(code, str) or not code.strip() or len(code) > 20:
            raise Invalid("覆盖网格应为网格编码的列表", field="grids")
        codes.append(code.strip())
    found = {g.code: g for g in Grid.objects.filter(code__in=codes, is_active=True)}
    missing = [c for c in codes if c not in found]
    if missing:
        raise Invalid(f"网格不存在: {', '.join(missing)[:200]}", field="grids")
    return [found[c] for c in dict.fromkeys(codes)]


DRONE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "code": check_code,
    "name": lambda v: _text(v, "name", required=True),
    "model": lambda v: _text(v, "model"),
    "serial": lambda v: _text(v, "serial"),
    "dock": _dock_ref,
    "mavlink_system_id": _optional(lambda v: _number(v, "mavlink_system_id", 1, 255, whole=True)),
    "sensor_width_mm": lambda v: _number(v, "sensor_width_mm", *SENSOR_MM),
    "sensor_height_mm": lambda v: _number(v, "sensor_height_mm", *SENSOR_MM),
    "focal_length_mm": lambda v: _number(v, "focal_length_mm", *FOCAL_MM),
    "image_width": lambda v: _number(v, "image_width", *IMAGE_PX, whole=True),
    "image_height": lambda v: _number(v, "image_height", *IMAGE_PX, whole=True),
    "max_flight_minutes": lambda v: _number(v, "max_flight_minutes", 1, 600, whole=True),
    "cruise_speed_m_s": lambda v: _number(v, "cruise_speed_m_s", 0.5, 60),
    "status": _status,
    "is_active": lambda v: _bool(v, "is_active"),
}

DOCK_CHECKS: dict[str, Callable[[Any], Any]] = {
    "code": check_code,
    "name": lambda v: _text(v, "name", required=True),
    "lon": lambda v: check_coordinate(v, "lon"),
    "lat": lambda v: check_coordinate(v, "lat"),
    "elevation_m": _optional(lambda v: _number(v, "elevation_m", -500, 9000)),
    "range_m": lambda v: _number(v, "range_m", 100, 100_000, whole=True),
    "grids": _grid_refs,
    "is_active": lambda v: _bool(v, "is_active"),
}


def check_optics(values: Mapping[str, Any]) -> None:
    """The camera as a whole: landscape, sensor and image of the same shape, a field of view a
    drone camera can have. Refused names the field to correct."""
    sw, sh = values["sensor_width_mm"], values["sensor_height_mm"]
    iw, ih = values["image_width"], values["image_height"]
    errors: list[dict[str, str]] = []
    if sw < sh or iw < ih:
        errors.append({"field": "sensor_width_mm", "message": "请按横幅填写: 传感器宽和照片宽为长边"})
    elif abs((sw / sh) / (iw / ih) - 1) > ASPECT_TOLERANCE:
        errors.append(
            {
                "field": "sensor_height_mm",
                "message": f"传感器宽高比 {sw / sh:.2f} 与照片宽高比 {iw / ih:.2f} 不符: "
                "请填写该画幅实际使用的传感器尺寸 (如 16:9 画幅裁切后的高度)",
            }
        )
    fov = CameraModel(sw, sh, values["focal_length_mm"], iw, ih).fov_x_deg
    if not FOV_X_DEG[0] <= fov <= FOV_X_DEG[1]:
        errors.append(
            {
                "field": "focal_length_mm",
                "message": f"水平视场角 {fov:.0f}° 不合常理 (应在 {FOV_X_DEG[0]:g}°–{FOV_X_DEG[1]:g}°): "
                "请核对焦距 (实际焦距, 非 35 毫米等效) 和传感器尺寸",
            }
        )
    if errors:
        raise Refused(errors)


def camera_of(drone: Drone) -> CameraModel:
    """The drone's camera as the engine models it."""
    return CameraModel(
        drone.sensor_width_mm,
        drone.sensor_height_mm,
        drone.focal_length_mm,
        drone.image_width,
        drone.image_height,
    )


# --- who may write ------------------------------------------------------------------------------


def _check_writer(actor: Any) -> None:
    if isinstance(actor, str):
        return  # the system (the demo generator, a command-line import)
    if not selectors.may_manage(actor):
        raise Forbidden(_("只有指挥中心坐席和系统管理员可以登记或修改无人机和机巢"))


def _check_grids_in_scope(actor: Any, grids: Iterable[Grid]) -> None:
    if isinstance(actor, str):
        return
    visible = visible_grid_ids(actor)
    if visible is not None and any(g.pk not in visible for g in grids):
        raise Forbidden(_("覆盖网格不在您管辖的范围内"), field="grids")


def _check_dock_in_scope(actor: Any, dock: Dock | None) -> None:
    if isinstance(actor, str) or dock is None:
        return
    if not selectors.docks_for(actor).filter(pk=dock.pk).exists():
        raise Forbidden(_("机巢不在您管辖的范围内"), field="dock")


def _audited(values: Mapping[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Dock):
            shown[key] = value.code
        elif key == "grids":
            shown[key] = [g.code for g in value]
        else:
            shown[key] = value
    return shown


def _flying(drone: Drone) -> bool:
    return Flight.objects.filter(drone=drone, state=FlightState.FLYING).exists()


# --- drones -------------------------------------------------------------------------------------


@transaction.atomic
def register_drone(*, actor: Any, **fields: Any) -> Drone:
    """登记无人机: code, name and the camera (sensor size, focal length, image size) are required."""
    _check_writer(actor)
    values = check_fields(fields, DRONE_CHECKS, required=DRONE_REQUIRED, labels=LABELS)
    check_optics(values)
    _check_dock_in_scope(actor, values.get("dock"))
    if Drone.objects.filter(code=values["code"]).exists():
        raise Conflict(f"编号 {values['code']} 已登记", field="code")
    _check_system_id(values.get("mavlink_system_id"), None)
    drone = Drone(**values)
    try:
        with transaction.atomic():
            drone.save(force_insert=True)
    except IntegrityError:
        raise Conflict(f"编号 {values['code']} 或 MAVLink 系统号已登记", field="code") from None
    audit("drones.drone_register", actor=actor, target=drone, **_audited(values))
    return drone


def _check_system_id(system_id: int | None, pk: int | None) -> None:
    if system_id is None:
        return
    others = Drone.objects.filter(mavlink_system_id=system_id)
    other = (others.exclude(pk=pk) if pk is not None else others).first()
    if other is not None:
        raise Conflict(f"MAVLink 系统号 {system_id} 已被无人机 {other.code} 使用", field="mavlink_system_id")


@transaction.atomic
def update_drone(drone: Drone, *, actor: Any, **fields: Any) -> Drone:
    """修改无人机: only the fields given change. The camera is checked as a whole after the change;
    a drone in flight cannot be deactivated or put into maintenance."""
    _check_writer(actor)
    values = check_fields(fields, DRONE_CHECKS, labels=LABELS)
    drone = Drone.objects.select_for_update().get(pk=drone.pk)
    optics = {k: values.get(k, getattr(drone, k)) for k in DRONE_REQUIRED[2:]}
    check_optics(optics)
    if "dock" in values:
        _check_dock_in_scope(actor, values["dock"])
    code = values.get("code", drone.code)
    if code != drone.code and Drone.objects.filter(code=code).exclude(pk=drone.pk).exists():
        raise Conflict(f"编号 {code} 已登记", field="code")
    _check_system_id(values.get("mavlink_system_id"), drone.pk)
    changed = {k: v for k, v in values.items() if getattr(drone, k) != v}
    if not changed:
        return drone
    if (changed.get("is_active") is False or "status" in changed) and _flying(drone):
        raise Conflict(
            _("无人机正在飞行: 请先结束本架次"), field="status" if "status" in changed else "is_active"
        )
    if changed.get("is_active") is False:
        changed["status"] = DroneStatus.OFFLINE
    for key, value in changed.items():
        setattr(drone, key, value)
    try:
        with transaction.atomic():
            drone.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        raise Conflict(_("编号或 MAVLink 系统号已登记"), field="code") from None
    audit("drones.drone_update", actor=actor, target=drone, **({"code": drone.code} | _audited(changed)))
    return drone


def deactivate_drone(drone: Drone, *, actor: Any) -> Drone:
    """停用无人机 (kept with its flights and photos; telemetry from it is then ignored)."""
    return update_drone(drone, actor=actor, is_active=False)


# --- docks --------------------------------------------------------------------------------------


@transaction.atomic
def register_dock(*, actor: Any, **fields: Any) -> Dock:
    """登记机巢: code, name and position are required; `grids` are grid codes it covers."""
    _check_writer(actor)
    values = check_fields(fields, DOCK_CHECKS, required=DOCK_REQUIRED, labels=LABELS)
    grids = values.pop("grids", [])
    _check_grids_in_scope(actor, grids)
    if Dock.objects.filter(code=values["code"]).exists():
        raise Conflict(f"编号 {values['code']} 已登记", field="code")
    dock = Dock(**values)
    try:
        with transaction.atomic():
            dock.save(force_insert=True)
    except IntegrityError:
        raise Conflict(f"编号 {values['code']} 已登记", field="code") from None
    dock.grids.set(grids)
    audit("drones.dock_register", actor=actor, target=dock, **_audited(values | {"grids": grids}))
    return dock


@transaction.atomic
def update_dock(dock: Dock, *, actor: Any, **fields: Any) -> Dock:
    """修改机巢: only the fields given change; `grids` replaces the covered grids."""
    _check_writer(actor)
    values = check_fields(fields, DOCK_CHECKS, labels=LABELS)
    dock = Dock.objects.select_for_update().get(pk=dock.pk)
    _check_grids_in_scope(actor, dock.grids.all())
    grids = values.pop("grids", None)
    if grids is not None:
        _check_grids_in_scope(actor, grids)
    code = values.get("code", dock.code)
    if code != dock.code and Dock.objects.filter(code=code).exclude(pk=dock.pk).exists():
        raise Conflict(f"编号 {code} 已登记", field="code")
    changed: dict[str, Any] = {k: v for k, v in values.items() if getattr(dock, k) != v}
    if grids is not None and {g.pk for g in grids} != set(dock.grids.values_list("pk", flat=True)):
        changed["grids"] = grids
    if not changed:
        return dock
    if (
        changed.get("is_active") is False
        and Flight.objects.filter(drone__dock=dock, state=FlightState.FLYING).exists()
    ):
        raise Conflict(_("该机巢的无人机正在飞行: 请先结束架次"), field="is_active")
    for key, value in changed.items():
        if key != "grids":
            setattr(dock, key, value)
    fields_changed = [k for k in changed if k != "grids"]
    if fields_changed:
        try:
            with transaction.atomic():
                dock.save(update_fields=[*fields_changed, "updated_at"])
        except IntegrityError:
            raise Conflict(f"编号 {code} 已登记", field="code") from None
    if "grids" in changed:
        dock.grids.set(changed["grids"])
    audit("drones.dock_update", actor=actor, target=dock, **({"code": dock.code} | _audited(changed)))
    return dock


def deactivate_dock(dock: Dock, *, actor: Any) -> Dock:
    """停用机巢."""
    return update_dock(dock, actor=actor, is_active=False)
