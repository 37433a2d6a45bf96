"""Mission files (shequ_vision.missionfile): QGroundControl `.plan` out and back in, a real `.plan`
from QGroundControl, the `QGC WPL 110` file written and read by pymavlink's own mission tools, and
clear refusals of broken files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pymavlink import mavutil, mavwp
from shapely.geometry import box

from shequ.core.geo import local_projection
from shequ_vision.missionfile import (
    CMD_CAM_TRIGG_DIST,
    CMD_RTL,
    CMD_TAKEOFF,
    CMD_WAYPOINT,
    MissionFileError,
    from_plan,
    from_waypoints_file,
    read_mission_file,
    to_loader,
    to_plan,
    to_waypoints_file,
)
from shequ_vision.optics import CameraModel
from shequ_vision.survey import plan_survey
from tests.conftest import SHARED_MEDIA
from tests.vision.conftest import _need

FC350 = CameraModel(6.17, 4.55, 3.61, 4000, 3000)
HOME = (103.6895, 36.5045, 1820.0)  # a dock in the demo community, ground 1,820 m above sea level

# The real file's waypoints (QGroundControl, PX4 SITL at Zurich): a 20 m square around home.
SQUARE = [
    (8.546594, 47.398742, 20.0),
    (8.544594, 47.398742, 20.0),
    (8.544594, 47.396742, 20.0),
    (8.546594, 47.396742, 20.0),
]


@pytest.fixture(scope="module")
def route():  # type: ignore[no-untyped-def]
    area = local_projection(103.690, 36.505).from_local(box(0, 0, 300, 200))
    return plan_survey(area, FC350, 60, front_overlap=0.75, side_overlap=0.65)


@pytest.fixture(scope="module")
def square_plan() -> bytes:
    return _need(SHARED_MEDIA / "simple_square.plan", "simple_square.plan").read_bytes()


def test_plan_export_is_a_qgroundcontrol_plan(route) -> None:  # type: ignore[no-untyped-def]
    plan = json.loads(json.dumps(to_plan(route, home=HOME)))  # JSON-safe: NaN written as null
    assert plan["fileType"] == "Plan" and plan["version"] == 1 and plan["groundStation"] == "QGroundControl"
    assert plan["geoFence"]["polygons"] == [] and plan["rallyPoints"]["points"] == []
    mission = plan["mission"]
    assert mission["firmwareType"] == 12 and mission["plannedHomePosition"] == [HOME[1], HOME[0], HOME[2]]
    assert mission["cruiseSpeed"] == pytest.approx(8.0)
    commands = [item["command"] for item in mission["items"]]
    assert commands[0] == CMD_TAKEOFF and commands[-1] == CMD_RTL
    # The camera starts at the first survey waypoint and stops after the last.
    assert commands[1:3] == [CMD_WAYPOINT, CMD_CAM_TRIGG_DIST] and commands[-2] == CMD_CAM_TRIGG_DIST
    trigger = mission["items"][2]["params"]
    assert trigger[0] == pytest.approx(route.photo_spacing_m) and mission["items"][-2]["params"][0] == 0
    assert commands.count(CMD_WAYPOINT) == len(route.waypoints)
    for item in mission["items"]:
        if item["command"] == CMD_WAYPOINT:
            assert item["frame"] == 3 and item["Altitude"] == 60
    assert [i["doJumpId"] for i in mission["items"]] == list(range(1, len(commands) + 1))
    assert to_plan(route, firmware="ardupilot")["mission"]["firmwareType"] == 3


def test_plan_export_round_trips(route) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps(to_plan(route, home=HOME), indent=4)
    back = from_plan(text)
    assert len(back.waypoints) == len(route.waypoints)
    for (lon, lat, alt), (lon2, lat2, alt2) in zip(back.waypoints, route.waypoints, strict=True):
        assert abs(lon - lon2) < 1e-7 and abs(lat - lat2) < 1e-7 and alt == pytest.approx(alt2)
    assert back.home == HOME
    assert back.takeoff == (HOME[0], HOME[1], 60.0)
    assert back.photo_spacing_m == pytest.approx(route.photo_spacing_m)
    assert back.firmware_type == 12 and back.cruise_speed == pytest.approx(8.0)
    # Once more, through bytes and the dispatcher: the same.
    assert read_mission_file(text.encode()).waypoints == back.waypoints


def test_a_real_qgroundcontrol_plan_is_imported(square_plan: bytes) -> None:
    plan = from_plan(square_plan)
    assert plan.waypoints == SQUARE
    assert plan.home == (8.545594, 47.397742, 488.0)
    assert plan.takeoff == (8.545594, 47.397742, 20.0)
    assert plan.cruise_speed == 15 and plan.hover_speed == 5 and plan.firmware_type == 12
    assert [i.command for i in plan.items] == [CMD_TAKEOFF] + [CMD_WAYPOINT] * 4


def test_waypoints_file_is_read_by_pymavlink(route, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = to_waypoints_file(route, home=HOME)
    path = tmp_path / "survey.waypoints"
    path.write_text(text)
    loader = mavwp.MAVWPLoader()
    count = loader.load(str(path))
    # home, take-off, waypoints, trigger start and stop, return to launch
    assert count == 1 + 1 + len(route.waypoints) + 2 + 1
    items = [loader.wp(i) for i in range(count)]
    assert items[0].frame == mavutil.mavlink.MAV_FRAME_GLOBAL and items[0].z == pytest.approx(HOME[2])
    assert (items[0].x, items[0].y) == pytest.approx((HOME[1], HOME[0]), abs=1e-6)
    assert items[1].command == mavutil.mavlink.MAV_CMD_NAV_TAKEOFF
    assert items[3].command == mavutil.mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST
    assert items[3].param1 == pytest.approx(route.photo_spacing_m, abs=1e-5)
    assert items[-1].command == mavutil.mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
    flown = [w for w in items[2:] if w.command == mavutil.mavlink.MAV_CMD_NAV_WAYPOINT]
    assert len(flown) == len(route.waypoints)
    for w, (lon, lat, alt) in zip(flown, route.waypoints, strict=True):
        assert w.frame == mavutil.mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
        assert w.x == pytest.approx(lat, abs=1e-6) and w.y == pytest.approx(lon, abs=1e-6) and w.z == alt
    # pymavlink's own view of the mission: every location in flying order.
    assert len(loader.polygon()) >= len(route.waypoints)
    # And our reader gives the same waypoints back (six decimals of a degree in this format).
    back = from_waypoints_file(text)
    assert len(back.waypoints) == len(route.waypoints)
    for (lon, lat, _), (lon2, lat2, _) in zip(back.waypoints, route.waypoints, strict=True):
        assert abs(lon - lon2) < 1e-6 and abs(lat - lat2) < 1e-6
    assert back.home == pytest.approx(HOME)


def test_an_imported_plan_loads_into_pymavlink(square_plan: bytes, tmp_path: Path) -> None:
    plan = from_plan(square_plan)
    loader = to_loader(plan.items, home=plan.home)
    assert loader.count() == 1 + len(plan.items)
    path = tmp_path / "square.waypoints"
    loader.save(str(path))
    again = mavwp.MAVWPLoader()
    assert again.load(str(path)) == 6
    assert [again.wp(i).command for i in range(6)] == [16, 22, 16, 16, 16, 16]
    assert (again.wp(2).x, again.wp(2).y, again.wp(2).z) == pytest.approx((47.398742, 8.546594, 20.0))
    assert from_waypoints_file(path.read_text()).waypoints == SQUARE


def test_a_survey_complex_item_is_read_from_its_generated_items(square_plan: bytes) -> None:
    doc = json.loads(square_plan)
    simple = doc["mission"]["items"][1:]
    doc["mission"]["items"] = [
        doc["mission"]["items"][0],
        {
            "type": "ComplexItem",
            "complexItemType": "survey",
            "version": 5,
            "TransectStyleComplexItem": {"Items": simple, "CameraCalc": {}},
        },
    ]
    assert from_plan(doc).waypoints == SQUARE
    without = copy.deepcopy(doc)
    del without["mission"]["items"][1]["TransectStyleComplexItem"]["Items"]
    with pytest.raises(MissionFileError) as err:
        from_plan(without)
    assert "第 2 项" in err.value.message and "survey" in err.value.message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(fileType="Mission"), "fileType"),
        (lambda d: d.pop("mission"), "mission.items"),
        (lambda d: d["mission"]["items"][1]["params"].__setitem__(4, 95.0), "纬度 95"),
        (lambda d: d["mission"]["items"][2]["params"].__setitem__(5, -190.0), "经度 -190"),
        (lambda d: d["mission"]["items"][2].__setitem__("params", [0, 0]), "params 应为 7 个数"),
        (lambda d: d["mission"]["items"][3].__setitem__("type", "Fancy"), "未知的类型"),
        (lambda d: d["mission"]["items"][3]["params"].__setitem__(4, "north"), "应为数字"),
        (lambda d: d["mission"].update(items=d["mission"]["items"][:1]), "没有带坐标的航点"),
        (lambda d: d["mission"]["items"][2].__setitem__("frame", 1), "不支持的坐标系"),
        (lambda d: d["mission"].update(plannedHomePosition=[1, 2]), "plannedHomePosition"),
    ],
)
def test_broken_plans_are_refused_clearly(square_plan: bytes, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(square_plan)
    mutate(doc)
    with pytest.raises(MissionFileError) as err:
        from_plan(json.dumps(doc))
    assert expected in err.value.message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0 not json", "UTF-8"),
        (b"{not json", "JSON"),
        (b"[1, 2]", "JSON 对象"),
        (b"", "JSON"),
    ],
)
def test_files_that_are_no_plan_are_refused(data: bytes, expected: str) -> None:
    with pytest.raises(MissionFileError) as err:
        from_plan(data)
    assert expected in err.value.message


def test_broken_waypoint_files_are_refused() -> None:
    with pytest.raises(MissionFileError, match="QGC WPL 110"):
        from_waypoints_file("QGC WPL 999\n")
    with pytest.raises(MissionFileError, match="格式错误"):
        from_waypoints_file("QGC WPL 110\n0\t1\t0\t16\n")
    with pytest.raises(MissionFileError, match="空的"):
        from_waypoints_file("QGC WPL 110\n")
    bad_lat = (
        "QGC WPL 110\n"
        "0\t1\t0\t16\t0\t0\t0\t0\t36.5\t103.69\t1800\t1\n"
        "1\t0\t3\t16\t0\t0\t0\t0\t136.5\t103.69\t50\t1\n"
    )
    with pytest.raises(MissionFileError, match="纬度"):
        from_waypoints_file(bad_lat)
