"""Mission files: QGroundControl `.plan` (JSON) and the MAVLink waypoint file (`QGC WPL 110`, as
pymavlink's `mavwp` and Mission Planner read and write it), out of a planned route and back.

An exported mission is: take-off, fly to the first waypoint, start the camera trigger by distance
(MAV_CMD_DO_SET_CAM_TRIGG_DIST) there, the remaining waypoints, stop the trigger, return to launch.
Altitudes are relative to the take-off point (MAV_FRAME_GLOBAL_RELATIVE_ALT).

No Django import: the command line uses it without the platform.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shequ_vision.survey import Route

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ITEMS = 10_000

# MAVLink commands and frames (common.xml), by number as they appear in the files.
CMD_WAYPOINT = 16
CMD_LOITER_UNLIM = 17
CMD_LOITER_TURNS = 18
CMD_LOITER_TIME = 19
CMD_RTL = 20
CMD_LAND = 21
CMD_TAKEOFF = 22
CMD_SPLINE_WAYPOINT = 82
CMD_VTOL_TAKEOFF = 84
CMD_VTOL_LAND = 85
CMD_CAM_TRIGG_DIST = 206
POSITION_COMMANDS = frozenset(
    {
        CMD_WAYPOINT,
        CMD_LOITER_UNLIM,
        CMD_LOITER_TURNS,
        CMD_LOITER_TIME,
        CMD_LAND,
        CMD_TAKEOFF,
        CMD_SPLINE_WAYPOINT,
        CMD_VTOL_TAKEOFF,
        CMD_VTOL_LAND,
    }
)
TAKEOFF_COMMANDS = frozenset({CMD_TAKEOFF, CMD_VTOL_TAKEOFF})
FRAME_GLOBAL = 0  # altitude above mean sea level
FRAME_MISSION = 2  # no position (DO_ commands)
FRAME_GLOBAL_RELATIVE_ALT = 3
FRAME_GLOBAL_INT = 5
FRAME_GLOBAL_RELATIVE_ALT_INT = 6
FRAME_GLOBAL_TERRAIN_ALT = 10
FRAME_GLOBAL_TERRAIN_ALT_INT = 11
RELATIVE_FRAMES = frozenset({FRAME_GLOBAL_RELATIVE_ALT, FRAME_GLOBAL_RELATIVE_ALT_INT})
MSL_FRAMES = frozenset({FRAME_GLOBAL, FRAME_GLOBAL_INT})
TERRAIN_FRAMES = frozenset({FRAME_GLOBAL_TERRAIN_ALT, FRAME_GLOBAL_TERRAIN_ALT_INT})
FIRMWARE = {"px4": 12, "ardupilot": 3}  # MAV_AUTOPILOT as QGroundControl writes firmwareType
VEHICLE_MULTIROTOR = 2  # MAV_TYPE_QUADROTOR


class MissionFileError(ValueError):
    """A mission file that cannot be read; `message` says in Chinese what and where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MissionItem:
    """One MAVLink mission item: `lat`/`lon`/`alt` are x/y/z (0 for commands without a position)."""

    command: int
    frame: int
    params: tuple[float, float, float, float]
    lat: float
    lon: float
    alt: float
    autocontinue: bool = True


@dataclass(frozen=True)
class ImportedPlan:
    """What a mission file holds: the positions flown after take-off, in order (lon, lat, alt above
    take-off; the take-off item's own position is `takeoff`), the planned home (lon, lat, alt above
    sea level) if the file has one, every item, and the camera trigger distance if one is set."""

    waypoints: list[tuple[float, float, float]]
    home: tuple[float, float, float] | None
    items: list[MissionItem] = field(default_factory=list)
    takeoff: tuple[float, float, float] | None = None
    cruise_speed: float | None = None
    hover_speed: float | None = None
    firmware_type: int | None = None
    photo_spacing_m: float | None = None
    notes: list[str] = field(default_factory=list)  # what was converted on the way in


# --- out ----------------------------------------------------------------------------------------


def mission_items(
    route: Route, *, home: tuple[float, float, float] | None = None, trigger: bool = True
) -> list[MissionItem]:
    """The items of an exported mission (without the home item): take-off, waypoints with the camera
    trigger started at the first and stopped after the last, return to launch."""
    if not route.waypoints:
        raise MissionFileError("航线没有航点, 无法导出")
    first = route.waypoints[0]
    lon0, lat0 = (home[0], home[1]) if home else (first[0], first[1])
    items = [MissionItem(CMD_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, (0, 0, 0, math.nan), lat0, lon0, first[2])]
    spacing = route.photo_spacing_m if trigger else None
    for i, (lon, lat, alt) in enumerate(route.waypoints):
        items.append(MissionItem(CMD_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, (0, 0, 0, math.nan), lat, lon, alt))
        if i == 0 and spacing:
            # param3 = 1: one photo at once, then one every `spacing` metres.
            items.append(MissionItem(CMD_CAM_TRIGG_DIST, FRAME_MISSION, (spacing, 0, 1, 0), 0, 0, 0))
    if spacing:
        items.append(MissionItem(CMD_CAM_TRIGG_DIST, FRAME_MISSION, (0, 0, 0, 0), 0, 0, 0))
    items.append(MissionItem(CMD_RTL, FRAME_MISSION, (0, 0, 0, 0), 0, 0, 0))
    return items


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else value  # QGroundControl writes NaN ("unchanged") as null


def to_plan(
    route: Route,
    *,
    home: tuple[float, float, float] | None = None,
    cruise_speed: float | None = None,
    hover_speed: float = 5.0,
    firmware: str = "px4",
    camera: Any = None,
) -> dict[str, Any]:
    """The route as a QGroundControl `.plan` document (a dict; `json.dumps` it). `home` is (lon,
    lat, alt above sea level) of the take-off point; without one the first waypoint stands in.
    `camera` is accepted for the caller's convenience and not written: the trigger distance already
    carries what the camera needs."""
    if firmware not in FIRMWARE:
        raise MissionFileError(f"飞控类型应为 {'/'.join(FIRMWARE)} 之一")
    first = route.waypoints[0] if route.waypoints else None
    if first is None:
        raise MissionFileError("航线没有航点, 无法导出")
    home_lon, home_lat, home_alt = home if home else (first[0], first[1], 0.0)
    plan_items = []
    for seq, item in enumerate(mission_items(route, home=home), start=1):
        entry: dict[str, Any] = {
            "autoContinue": item.autocontinue,
            "command": item.command,
            "doJumpId": seq,
            "frame": item.frame,
            "params": [*(_json_number(p) for p in item.params), item.lat, item.lon, item.alt],
            "type": "SimpleItem",
        }
        if item.command in POSITION_COMMANDS:
            entry |= {"AMSLAltAboveTerrain": None, "Altitude": item.alt, "AltitudeMode": 1}
        plan_items.append(entry)
    return {
        "fileType": "Plan",
        "geoFence": {"circles": [], "polygons": [], "version": 2},
        "groundStation": "QGroundControl",
        "mission": {
            "cruiseSpeed": cruise_speed if cruise_speed is not None else _route_speed(route),
            "firmwareType": FIRMWARE[firmware],
            "globalPlanAltitudeMode": 1,
            "hoverSpeed": hover_speed,
            "items": plan_items,
            "plannedHomePosition": [home_lat, home_lon, home_alt],
            "vehicleType": VEHICLE_MULTIROTOR,
            "version": 2,
        },
        "rallyPoints": {"points": [], "version": 2},
        "version": 1,
    }


def _route_speed(route: Route) -> float:
    if route.duration_s > 0 and route.length_m > 0:
        return round(route.length_m / route.duration_s, 3)
    return 8.0


def _mission_item_message(seq: int, item: MissionItem, *, current: int = 0) -> Any:
    from pymavlink import mavutil

    args: list[Any] = [
        0,
        0,
        seq,
        item.frame,
        item.command,
        current,
        int(item.autocontinue),
        *(0.0 if math.isnan(p) else float(p) for p in item.params),
        float(item.lat),
        float(item.lon),
        float(item.alt),
    ]
    if mavutil.mavlink20():  # MAVLink 2 messages carry the mission type (as mavwp.load does)
        args.append(mavutil.mavlink.MAV_MISSION_TYPE_MISSION)
    return mavutil.mavlink.MAVLink_mission_item_message(*args)


def to_loader(items: Sequence[MissionItem], *, home: tuple[float, float, float] | None) -> Any:
    """A `pymavlink.mavwp.MAVWPLoader` holding the items, with the home position as item 0 (as
    ArduPilot and Mission Planner expect it: frame global, altitude above sea level)."""
    from pymavlink import mavwp

    loader = mavwp.MAVWPLoader()
    first = next((i for i in items if i.command in POSITION_COMMANDS), None)
    if home is not None:
        lon, lat, alt = home
    elif first is not None:
        lon, lat, alt = first.lon, first.lat, 0.0
    else:
        lon = lat = alt = 0.0
    home_item = MissionItem(CMD_WAYPOINT, FRAME_GLOBAL, (0, 0, 0, 0), lat, lon, alt)
    loader.add(_mission_item_message(0, home_item, current=1))
    for seq, item in enumerate(items, start=1):
        loader.add(_mission_item_message(seq, item))
    return loader


def to_waypoints_file(route: Route, *, home: tuple[float, float, float] | None = None) -> str:
    """The route as a `QGC WPL 110` text file, written by pymavlink's MAVWPLoader (which keeps six
    decimals of a degree: about 0.1 m)."""
    loader = to_loader(mission_items(route, home=home), home=home)
    fd, name = tempfile.mkstemp(suffix=".waypoints")
    os.close(fd)
    try:
        loader.save(name)
        with open(name, encoding="utf-8") as f:
            return f.read()
    finally:
        Path(name).unlink()


# --- in -----------------------------------------------------------------------------------------


def _finite(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MissionFileError(f"{where}: 参数应为数字")
    return float(value)


def _position(item: MissionItem, where: str) -> None:
    if not (math.isfinite(item.lat) and math.isfinite(item.lon) and math.isfinite(item.alt)):
        raise MissionFileError(f"{where}: 坐标或高度不是有效的数")
    if not -90 <= item.lat <= 90:
        raise MissionFileError(f"{where}: 纬度 {item.lat:g} 超出范围 (±90)")
    if not -180 <= item.lon <= 180:
        raise MissionFileError(f"{where}: 经度 {item.lon:g} 超出范围 (±180)")
    if not -1000 <= item.alt <= 10000:
        raise MissionFileError(f"{where}: 高度 {item.alt:g} 米不合理")


def _simple_item(raw: Any, where: str) -> MissionItem:
    if not isinstance(raw, dict):
        raise MissionFileError(f"{where}: 应为 JSON 对象")
    command, frame, params = raw.get("command"), raw.get("frame"), raw.get("params")
    if isinstance(command, bool) or not isinstance(command, int):
        raise MissionFileError(f"{where}: 缺少指令编号 (command)")
    if isinstance(frame, bool) or not isinstance(frame, int):
        raise MissionFileError(f"{where}: 缺少坐标系 (frame)")
    if not isinstance(params, list) or len(params) != 7:
        raise MissionFileError(f"{where}: params 应为 7 个数")
    values = [_finite(p, where) for p in params]
    return MissionItem(
        command=command,
        frame=frame,
        params=(values[0], values[1], values[2], values[3]),
        lat=0.0 if math.isnan(values[4]) else values[4],
        lon=0.0 if math.isnan(values[5]) else values[5],
        alt=0.0 if math.isnan(values[6]) else values[6],
        autocontinue=bool(raw.get("autoContinue", True)),
    )


def _plan_items(items: list[Any]) -> list[tuple[MissionItem, str]]:
    out: list[tuple[MissionItem, str]] = []
    for n, raw in enumerate(items, start=1):
        where = f"第 {n} 项"
        kind = raw.get("type") if isinstance(raw, dict) else None
        if kind == "SimpleItem":
            out.append((_simple_item(raw, where), where))
        elif kind == "ComplexItem":
            complex_type = str(raw.get("complexItemType", "?"))
            transect = raw.get("TransectStyleComplexItem")
            inner = transect.get("Items") if isinstance(transect, dict) else None
            if not isinstance(inner, list) or not inner:
                raise MissionFileError(
                    f"{where} 是 QGroundControl 的复杂航线 ({complex_type}), 文件中没有生成的航点: "
                    "请在 QGroundControl 中打开后重新保存, 或改用普通航点"
                )
            for m, sub in enumerate(inner, start=1):
                sub_where = f"{where} ({complex_type}) 的第 {m} 个航点"
                out.append((_simple_item(sub, sub_where), sub_where))
        else:
            raise MissionFileError(f"{where}: 未知的类型 {str(kind)[:40]!r} (应为 SimpleItem 或 ComplexItem)")
        if len(out) > MAX_ITEMS:
            raise MissionFileError(f"航点过多 (最多 {MAX_ITEMS} 项)")
    return out


Position = tuple[float, float, float]


def _collect(
    items: list[tuple[MissionItem, str]], home: Position | None
) -> tuple[list[Position], Position | None, float | None, list[str]]:
    """The positions flown (altitude above take-off), the take-off's position and the trigger
    distance, from the items."""
    waypoints: list[Position] = []
    takeoff: Position | None = None
    spacing: float | None = None
    notes: list[str] = []
    for item, where in items:
        if item.command == CMD_CAM_TRIGG_DIST and spacing is None and item.params[0] > 0:
            spacing = item.params[0]
        if item.command not in POSITION_COMMANDS:
            continue
        if item.lat == 0 and item.lon == 0:
            if item.command in TAKEOFF_COMMANDS or item.command == CMD_LAND:
                continue  # take off / land where the drone is: no position of its own
            raise MissionFileError(f"{where}: 航点没有坐标 (经纬度为 0)")
        _position(item, where)
        alt = item.alt
        if item.frame in MSL_FRAMES:
            if home is None:
                raise MissionFileError(f"{where}: 高度为海拔高度, 但文件没有起飞点 (plannedHomePosition)")
            alt = item.alt - home[2]
            if "msl" not in notes:
                notes.append("msl")
        elif item.frame in TERRAIN_FRAMES:
            if "terrain" not in notes:
                notes.append("terrain")  # height above terrain: taken as height above take-off
        elif item.frame not in RELATIVE_FRAMES:
            raise MissionFileError(f"{where}: 不支持的坐标系 frame={item.frame}")
        if item.command in TAKEOFF_COMMANDS and not waypoints and takeoff is None:
            takeoff = (item.lon, item.lat, alt)
        else:
            waypoints.append((item.lon, item.lat, alt))
    if not waypoints:
        raise MissionFileError("文件中没有带坐标的航点")
    return waypoints, takeoff, spacing, notes


def _parse_json(data: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, bytes | bytearray):
        if len(data) > MAX_FILE_BYTES:
            raise MissionFileError(f"文件过大 (最多 {MAX_FILE_BYTES // (1024 * 1024)} MB)")
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MissionFileError("文件不是 UTF-8 文本, 不是 QGroundControl 的 .plan 文件") from None
    if not isinstance(data, str):
        raise MissionFileError("应为 .plan 文件的内容")
    if len(data) > MAX_FILE_BYTES:
        raise MissionFileError(f"文件过大 (最多 {MAX_FILE_BYTES // (1024 * 1024)} MB)")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise MissionFileError(f"不是有效的 JSON: {str(exc)[:120]}") from None
    if not isinstance(doc, dict):
        raise MissionFileError("不是 QGroundControl 的 .plan 文件 (应为 JSON 对象)")
    return doc


def from_plan(data: bytes | str | dict[str, Any]) -> ImportedPlan:
    """Read a QGroundControl `.plan`: simple items, and the generated items of survey-type complex
    items (`TransectStyleComplexItem.Items`). Raises MissionFileError naming the item at fault."""
    doc = _parse_json(data)
    if doc.get("fileType") != "Plan":
        raise MissionFileError('不是 QGroundControl 的 .plan 文件 (fileType 应为 "Plan")')
    mission = doc.get("mission")
    if not isinstance(mission, dict) or not isinstance(mission.get("items"), list):
        raise MissionFileError("文件缺少 mission.items (航点列表)")
    home: tuple[float, float, float] | None = None
    raw_home = mission.get("plannedHomePosition")
    if raw_home is not None:
        if (
            not isinstance(raw_home, list)
            or len(raw_home) != 3
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in raw_home)
        ):
            raise MissionFileError("plannedHomePosition 应为 [纬度, 经度, 海拔]")
        lat, lon, alt = (float(v) for v in raw_home)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and math.isfinite(alt)):
            raise MissionFileError("plannedHomePosition 的经纬度超出范围")
        home = (lon, lat, alt)
    located = _plan_items(mission["items"])
    waypoints, takeoff, spacing, notes = _collect(located, home)

    def number(key: str) -> float | None:
        value = mission.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)

    firmware = mission.get("firmwareType")
    return ImportedPlan(
        waypoints=waypoints,
        home=home,
        items=[item for item, _ in located],
        cruise_speed=number("cruiseSpeed"),
        hover_speed=number("hoverSpeed"),
        firmware_type=firmware if isinstance(firmware, int) and not isinstance(firmware, bool) else None,
        photo_spacing_m=spacing,
        notes=notes,
        takeoff=takeoff,
    )


def from_waypoints_file(text: str | bytes) -> ImportedPlan:
    """Read a `QGC WPL 110` waypoint file with pymavlink's MAVWPLoader. Item 0 is the home position
    (altitude above sea level), as ArduPilot and Mission Planner write it."""
    from pymavlink import mavwp

    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_FILE_BYTES:
            raise MissionFileError(f"文件过大 (最多 {MAX_FILE_BYTES // (1024 * 1024)} MB)")
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MissionFileError("文件不是文本, 不是航点文件 (QGC WPL 110)") from None
    if len(text) > MAX_FILE_BYTES:
        raise MissionFileError(f"文件过大 (最多 {MAX_FILE_BYTES // (1024 * 1024)} MB)")
    text = text.lstrip("\ufeff \t\r\n")
    if not text.startswith("QGC WPL 110"):
        raise MissionFileError("不是航点文件: 第一行应为 “QGC WPL 110”")
    fd, name = tempfile.mkstemp(suffix=".waypoints")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        loader = mavwp.MAVWPLoader()
        try:
            loader.load(name)
        except (mavwp.MAVWPError, ValueError, IndexError) as exc:
            raise MissionFileError(f"航点文件格式错误: {exc}") from None
    finally:
        Path(name).unlink()
    if loader.count() > MAX_ITEMS:
        raise MissionFileError(f"航点过多 (最多 {MAX_ITEMS} 项)")
    items = [
        MissionItem(
            command=int(w.command),
            frame=int(w.frame),
            params=(float(w.param1), float(w.param2), float(w.param3), float(w.param4)),
            lat=float(w.x),
            lon=float(w.y),
            alt=float(w.z),
            autocontinue=bool(w.autocontinue),
        )
        for w in (loader.wp(i) for i in range(loader.count()))
    ]
    if not items:
        raise MissionFileError("航点文件是空的")
    home_item, rest = items[0], items[1:]
    _position(home_item, "第 0 项 (起飞点)")
    home = (home_item.lon, home_item.lat, home_item.alt)
    located = [(item, f"第 {n} 项") for n, item in enumerate(rest, start=1)]
    waypoints, takeoff, spacing, notes = _collect(located, home)
    return ImportedPlan(
        waypoints=waypoints, home=home, items=rest, photo_spacing_m=spacing, notes=notes, takeoff=takeoff
    )


def read_mission_file(data: bytes | str, *, name: str = "") -> ImportedPlan:
    """A `.plan` or a `.waypoints` file, told apart by its content."""
    head = (
        data[:64].lstrip("\ufeff \t\r\n")
        if isinstance(data, str)
        else bytes(data[:64]).lstrip(b"\xef\xbb\xbf \t\r\n")
    )
    if head.startswith("QGC WPL") if isinstance(head, str) else head.startswith(b"QGC WPL"):
        return from_waypoints_file(data)
    if name.lower().endswith((".waypoints", ".txt")) and not (
        head.startswith("{") if isinstance(head, str) else head.startswith(b"{")
    ):
        return from_waypoints_file(data)
    return from_plan(data)
