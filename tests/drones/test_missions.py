"""Missions (drones.services.missions and /api/drones/missions/): plan over grids, the height limit
and per-field refusals, scope, change and delete, import of a real `.plan`, the files out, and
routine patrols that become PLANNED flights once per take-off time."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely
from rest_framework.test import APIClient
from shapely.geometry import shape

from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.core.geo import local_projection
from shequ.core.models import AuditEntry
from shequ.drones.models import Flight, FlightState, Mission, Pattern
from shequ.drones.services import missions
from shequ_vision.missionfile import from_plan, from_waypoints_file
from tests.conftest import SHARED_MEDIA
from tests.drones.conftest import _need

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def survey(actor: Any, rows: dict[str, Any], /, **extra: Any) -> Mission:
    fields = {
        "code": "M-01",
        "name": "第1网格例行巡查",
        "pattern": "survey",
        "grids": [rows["grid1"].code],
        "altitude_m": 80,
        "front_overlap": 0.7,
        "side_overlap": 0.6,
    } | extra
    return missions.plan_mission(actor=actor, **fields)


def covers(coverage: dict[str, Any], geometry: dict[str, Any]) -> bool:
    target = shape(geometry)
    c = target.centroid
    proj = local_projection(c.x, c.y)
    return bool(proj.to_local(shape(coverage)).buffer(0.01).covers(proj.to_local(target)))


# --- services -----------------------------------------------------------------------------------


def test_a_survey_is_planned_over_a_grid_and_covers_it(
    operator: Any, grids: dict[str, Any], drone: Any
) -> None:
    mission = survey(operator, grids, drone=drone.code, dock=drone.dock.code)
    assert mission.pattern == Pattern.SURVEY and mission.created_by == operator
    assert [g.code for g in mission.grids.all()] == [grids["grid1"].code]
    assert len(mission.route) >= 4 and all(len(p) == 3 and p[2] == 80 for p in mission.route)
    assert mission.photo_count > 0 and mission.length_m > 0
    assert mission.duration_s == pytest.approx(mission.length_m / 8.0, rel=1e-3)
    # FC350 at 80 m: 137 m × 101 m on the ground; 30 % of the along-track side between photos.
    assert mission.photo_spacing_m == pytest.approx(4.55 * 80 / 3.61 * 0.3, rel=1e-6)
    assert covers(mission.coverage, grids["grid1"].geometry)
    entry = AuditEntry.objects.get(action="drones.mission_plan")
    assert entry.target_id == str(mission.pk) and entry.detail["grids"] == [grids["grid1"].code]


def test_every_refused_field_is_listed_and_nothing_is_written(operator: Any, grids: dict[str, Any]) -> None:
    with pytest.raises(Invalid) as err:
        survey(operator, grids, altitude_m=150, side_overlap=0.99, pattern="spiral")
    fields = {e["field"] for e in err.value.errors}  # type: ignore[attr-defined]
    assert fields == {"altitude_m", "side_overlap", "pattern"}
    message = next(e["message"] for e in err.value.errors if e["field"] == "altitude_m")  # type: ignore[attr-defined]
    assert "120" in message and "SHEQU_DRONE_MAX_ALTITUDE_M" in message
    with pytest.raises(Invalid) as err:
        survey(operator, grids, grids=["99999"])
    assert err.value.field == "grids"
    with pytest.raises(Invalid) as err:
        survey(operator, grids, grids=[])
    assert err.value.field == "grids"
    assert (
        not Mission.objects.exists() and not AuditEntry.objects.filter(action__startswith="drones.").exists()
    )


def test_the_height_limit_is_a_setting(operator: Any, grids: dict[str, Any], settings: Any) -> None:
    settings.DRONE_MAX_ALTITUDE_M = 200
    assert survey(operator, grids, altitude_m=150).altitude_m == 150
    with pytest.raises(Invalid) as err:
        survey(operator, grids, code="M-02", altitude_m=600)
    assert err.value.field == "altitude_m"


def test_only_managers_plan_and_only_over_their_grids(
    grids: dict[str, Any], grid_worker: Any, leader: Any, make_user: Any
) -> None:
    from shequ.accounts.models import Role

    for user in (grid_worker, leader):
        with pytest.raises(Forbidden):
            survey(user, grids)
    operator2 = make_user(Role.COMMAND_OPERATOR, grids=(grids["grid2"],))
    with pytest.raises(Forbidden) as err:
        survey(operator2, grids)
    assert err.value.field == "grids"
    assert survey(operator2, grids, grids=[grids["grid2"].code]).pk
    assert not Mission.objects.filter(grids=grids["grid1"]).exists()


def test_drawn_waypoints_take_the_grids_they_cross(operator: Any, grids: dict[str, Any]) -> None:
    west, east = grids["grid1"], grids["grid2"]
    a = shape(west.geometry).centroid
    b = shape(east.geometry).centroid
    mission = missions.plan_mission(
        actor=operator,
        code="WP-1",
        name="东西穿越",
        pattern="waypoints",
        altitude_m=60,
        waypoints=[[a.x, a.y], [b.x, b.y, 70]],
    )
    assert mission.route == [[round(a.x, 8), round(a.y, 8), 60.0], [round(b.x, 8), round(b.y, 8), 70.0]]
    assert {g.code for g in mission.grids.all()} == {west.code, east.code}
    with pytest.raises(Invalid) as err:
        missions.plan_mission(actor=operator, code="WP-2", name="x", pattern="waypoints", altitude_m=60)
    assert err.value.field == "waypoints"
    with pytest.raises(Invalid) as err:
        missions.plan_mission(
            actor=operator, code="WP-3", name="x", pattern="waypoints", waypoints=[[a.x, a.y, 121]]
        )
    assert err.value.field == "waypoints" and "限高" in err.value.message


def test_a_change_plans_the_route_again(operator: Any, grids: dict[str, Any]) -> None:
    mission = survey(operator, grids)
    before = (mission.photo_spacing_m, mission.photo_count, list(mission.route))
    same = missions.update_mission(mission, actor=operator, name="新名称")
    assert same.route == before[2] and same.name == "新名称"
    higher = missions.update_mission(mission, actor=operator, altitude_m=110, front_overlap=0.8)
    # No drone: planned for the default camera (DJI Mavic 3E wide: 13.0 mm sensor height, 12.29 mm).
    assert higher.altitude_m == 110 and higher.photo_spacing_m == pytest.approx(13.0 * 110 / 12.29 * 0.2)
    assert higher.photo_count < before[1] and all(p[2] == 110 for p in higher.route)
    assert covers(higher.coverage, grids["grid1"].geometry)
    both = missions.update_mission(mission, actor=operator, grids=[grids["grid1"].code, grids["grid2"].code])
    assert covers(both.coverage, grids["community"].geometry)
    assert AuditEntry.objects.filter(action="drones.mission_update").count() == 3
    with pytest.raises(Invalid) as err:
        missions.update_mission(mission, actor=operator, altitude_m=500)
    assert err.value.field == "altitude_m"
    assert Mission.objects.get(pk=mission.pk).altitude_m == 110


def test_a_mission_with_flights_is_not_deleted(operator: Any, grids: dict[str, Any], drone: Any) -> None:
    flown = survey(operator, grids, drone=drone.code)
    Flight.objects.create(mission=flown, drone=drone, state=FlightState.LANDED)
    with pytest.raises(Conflict):
        missions.delete_mission(flown, actor=operator)
    spare = survey(operator, grids, code="M-02")
    missions.delete_mission(spare, actor=operator)
    assert list(Mission.objects.values_list("code", flat=True)) == ["M-01"]


@pytest.fixture
def square_plan() -> bytes:
    return _need(SHARED_MEDIA / "simple_square.plan")


def test_a_real_plan_is_imported_once(operator: Any, square_plan: bytes) -> None:
    mission = missions.import_plan(actor=operator, data=square_plan, filename="simple_square.plan")
    assert mission.pattern == Pattern.IMPORTED and mission.source == "plan"
    assert mission.route == [
        [8.546594, 47.398742, 20.0],
        [8.544594, 47.398742, 20.0],
        [8.544594, 47.396742, 20.0],
        [8.546594, 47.396742, 20.0],
    ]
    assert mission.altitude_m == 20 and mission.speed_m_s == 15  # the file's cruise speed
    assert mission.length_m == pytest.approx(150.6 + 222.4 + 150.6, rel=0.01)
    assert mission.coverage is not None and not mission.grids.exists()  # Zurich: in no grid here
    again = missions.import_plan(actor=operator, data=square_plan, filename="copy.plan")
    assert again.pk == mission.pk and Mission.objects.count() == 1
    with pytest.raises(Invalid) as err:
        missions.update_mission(mission, actor=operator, altitude_m=50)
    assert "重新导入" in err.value.message


def test_broken_or_too_high_plans_are_refused(operator: Any, square_plan: bytes) -> None:
    with pytest.raises(Invalid) as err:
        missions.import_plan(actor=operator, data=b"\x89PNG\r\n", filename="x.plan")
    assert err.value.field == "file"
    doc = json.loads(square_plan)
    for item in doc["mission"]["items"]:
        item["params"][6] = 300
    with pytest.raises(Invalid) as err:
        missions.import_plan(actor=operator, data=json.dumps(doc), filename="high.plan")
    assert err.value.field == "file" and "限高" in err.value.message
    assert not Mission.objects.exists()


def test_files_out_take_off_at_the_dock(operator: Any, grids: dict[str, Any], drone: Any, dock: Any) -> None:
    type(dock).objects.filter(pk=dock.pk).update(elevation_m=190.0)  # ground height above sea
    mission = survey(operator, grids, drone=drone.code, dock=dock.code)
    plan = missions.export_plan(mission)
    assert plan["mission"]["plannedHomePosition"] == [dock.lat, dock.lon, 190.0]
    back = from_plan(json.dumps(plan))
    assert [list(p) for p in back.waypoints] == mission.route
    assert back.photo_spacing_m == pytest.approx(mission.photo_spacing_m)
    text = missions.export_waypoints(mission)
    wp = from_waypoints_file(text)
    assert wp.home == pytest.approx((dock.lon, dock.lat, 190.0), abs=1e-6)
    assert len(wp.waypoints) == len(mission.route)


# --- routine patrols ----------------------------------------------------------------------------


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_a_daily_patrol_becomes_one_planned_flight_per_day(
    operator: Any, grids: dict[str, Any], drone: Any
) -> None:
    mission = survey(operator, grids, drone=drone.code)
    mission = missions.set_schedule(
        mission, actor=operator, repeat="daily", time="09:30", now=at("2026-03-02 10:00")
    )
    assert mission.next_run_at == at("2026-03-03 09:30")  # today's time has passed: tomorrow
    assert mission.next_run_at.astimezone(dt.UTC).hour == 1  # stored in UTC: 01:30
    assert missions.start_scheduled(at("2026-03-03 09:29")) == {"created": 0, "skipped": 0}
    assert missions.start_scheduled(at("2026-03-03 09:31"))["created"] == 1
    assert missions.start_scheduled(at("2026-03-03 09:32"))["created"] == 0  # idempotent
    flight = Flight.objects.get()
    assert flight.state == FlightState.PLANNED and flight.mission == mission and flight.drone == drone
    assert flight.source_id == f"schedule:{mission.pk}:2026-03-03"
    assert flight.planned_at == at("2026-03-03 09:30")
    mission.refresh_from_db()
    assert mission.next_run_at == at("2026-03-04 09:30")
    # Down for three days: one flight, then the next time after now.
    assert missions.start_scheduled(at("2026-03-07 12:00"))["created"] == 1
    mission.refresh_from_db()
    assert mission.next_run_at == at("2026-03-08 09:30")
    assert Flight.objects.count() == 2


def test_a_weekly_patrol_flies_on_its_weekdays(operator: Any, grids: dict[str, Any], drone: Any) -> None:
    mission = survey(operator, grids, drone=drone.code)
    # 2026-03-02 is a Monday; Wednesday and Saturday at 07:00.
    mission = missions.set_schedule(
        mission, actor=operator, repeat="weekly", time="07:00", weekdays=[6, 3], now=at("2026-03-02 08:00")
    )
    assert mission.repeat_weekdays == [3, 6] and mission.next_run_at == at("2026-03-04 07:00")
    missions.start_scheduled(at("2026-03-04 07:00"))
    mission.refresh_from_db()
    assert mission.next_run_at == at("2026-03-07 07:00")
    stopped = missions.set_schedule(mission, actor=operator, repeat="none")
    assert stopped.next_run_at is None and stopped.repeat_time is None
    assert missions.start_scheduled(at("2026-03-09 07:00"))["created"] == 0


def test_schedules_are_checked_field_by_field(operator: Any, grids: dict[str, Any], drone: Any) -> None:
    no_drone = survey(operator, grids)
    with pytest.raises(Invalid) as err:
        missions.set_schedule(no_drone, actor=operator, repeat="weekly", time="25:00", weekdays=[0, 8])
    assert {e["field"] for e in err.value.errors} == {"time", "weekdays", "drone"}  # type: ignore[attr-defined]
    with pytest.raises(Invalid) as err:
        missions.set_schedule(no_drone, actor=operator, repeat="hourly")
    assert err.value.field == "repeat"
    assert Mission.objects.get(pk=no_drone.pk).repeat == "none"


def test_the_periodic_task_starts_scheduled_patrols(operator: Any, grids: dict[str, Any], drone: Any) -> None:
    from shequ.drones.tasks import start_scheduled_task

    mission = survey(operator, grids, drone=drone.code)
    missions.set_schedule(mission, actor=operator, repeat="daily", time="00:00")
    Mission.objects.filter(pk=mission.pk).update(next_run_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert start_scheduled_task.call() == {"created": 1, "skipped": 0}
    assert Flight.objects.filter(mission=mission, state=FlightState.PLANNED).count() == 1


# --- API ----------------------------------------------------------------------------------------

BODY = {"code": "API-1", "name": "接口航线", "pattern": "survey", "altitude_m": 80, "front_overlap": 0.7}


def test_api_plans_lists_and_shows_missions(operator: Any, grids: dict[str, Any], drone: Any) -> None:
    client = client_for(operator)
    created = client.post(
        "/api/drones/missions/", BODY | {"grids": [grids["grid1"].code], "drone": drone.code}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["route"]["type"] == "LineString" and body["coverage"]["type"] in ("Polygon", "MultiPolygon")
    assert body["grids"] == [grids["grid1"].code] and body["drone"] == drone.code
    listed = client.get("/api/drones/missions/", {"grid": grids["grid1"].code, "pattern": "survey"})
    assert [m["code"] for m in listed.json()["results"]] == ["API-1"]
    assert client.get("/api/drones/missions/", {"pattern": "perimeter"}).json()["results"] == []
    detail = client.get(f"/api/drones/missions/{body['id']}/")
    assert detail.status_code == 200 and detail.json()["photo_count"] == body["photo_count"]
    patched = client.patch(f"/api/drones/missions/{body['id']}/", {"altitude_m": 100}, format="json")
    assert patched.status_code == 200 and patched.json()["altitude_m"] == 100


def test_api_refuses_clearly(operator: Any, grids: dict[str, Any], grid_worker2: Any, resident: Any) -> None:
    client = client_for(operator)
    high = client.post(
        "/api/drones/missions/", BODY | {"grids": [grids["grid1"].code], "altitude_m": 300}, format="json"
    )
    assert high.status_code == 422 and high.json()["errors"][0]["field"] == "altitude_m"
    typo = client.post("/api/drones/missions/", BODY | {"altitud": 80}, format="json")
    assert typo.status_code == 400
    junk = client.post("/api/drones/missions/", b"{not json", content_type="application/json")
    assert junk.status_code == 400
    mission = survey(operator, grids)
    assert (
        client.post(
            "/api/drones/missions/", BODY | {"code": "M-01", "grids": [grids["grid1"].code]}, format="json"
        ).status_code
        == 409
    )
    # Out of scope: not found; no drone role at all: forbidden.
    assert client_for(grid_worker2).get(f"/api/drones/missions/{mission.pk}/").status_code == 404
    assert client_for(resident).get("/api/drones/missions/").status_code == 403
    assert client_for(grid_worker2).post("/api/drones/missions/", BODY, format="json").status_code == 403
    assert client.get("/api/drones/missions/abc/").status_code == 404


def test_api_preview_saves_nothing(operator: Any, grids: dict[str, Any]) -> None:
    response = client_for(operator).post(
        "/api/drones/missions/preview/",
        {"pattern": "survey", "grids": [grids["grid1"].code], "altitude_m": 60, "side_overlap": 0.5},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["coverage_share"] == pytest.approx(1.0, abs=1e-6)
    assert body["summary"]["lines"] >= 2 and body["summary"]["photo_count"] > 0
    assert body["route"]["type"] == "LineString"
    assert not Mission.objects.exists()


def test_api_files_download_and_delete(operator: Any, grids: dict[str, Any], drone: Any) -> None:
    client = client_for(operator)
    mission = survey(operator, grids, drone=drone.code, dock=drone.dock.code)
    plan = client.get(f"/api/drones/missions/{mission.pk}/plan")
    assert plan.status_code == 200 and plan["Content-Type"] == "application/json"
    assert plan["Content-Disposition"] == 'attachment; filename="M-01.plan"'
    assert from_plan(plan.content).waypoints == [tuple(p) for p in mission.route]
    assert (
        client.get(f"/api/drones/missions/{mission.pk}/plan", {"firmware": "ardupilot"}).json()["mission"][
            "firmwareType"
        ]
        == 3
    )
    wp = client.get(f"/api/drones/missions/{mission.pk}/waypoints")
    assert wp.status_code == 200 and wp.content.startswith(b"QGC WPL 110\n")
    assert 'filename="M-01.waypoints"' in wp["Content-Disposition"]
    Flight.objects.create(mission=mission, drone=drone)
    assert client.delete(f"/api/drones/missions/{mission.pk}/").status_code == 409
    Flight.objects.all().delete()
    assert client.delete(f"/api/drones/missions/{mission.pk}/").status_code == 204
    assert not Mission.objects.exists()


def test_api_imports_a_plan_file_or_json(operator: Any, square_plan: bytes) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(operator)
    upload = SimpleUploadedFile("simple_square.plan", square_plan, content_type="application/json")
    response = client.post(
        "/api/drones/missions/import/", {"file": upload, "name": "苏黎世方形"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert response.json()["pattern"] == "imported" and len(response.json()["route"]["coordinates"]) == 4
    doc = json.loads(square_plan)
    doc["mission"]["cruiseSpeed"] = 10  # another file
    response = client.post("/api/drones/missions/import/", {"plan": doc, "code": "ZRH-2"}, format="json")
    assert response.status_code == 201 and response.json()["code"] == "ZRH-2"
    bad = SimpleUploadedFile("bad.plan", b'{"fileType": "Plan", "mission": {"items": []}}')
    refused = client.post("/api/drones/missions/import/", {"file": bad}, format="multipart")
    assert refused.status_code == 422 and refused.json()["field"] == "file"
    assert "没有带坐标的航点" in refused.json()["detail"]
    assert client.post("/api/drones/missions/import/", {"name": "x"}, format="json").status_code == 400


def test_api_schedules_a_patrol(operator: Any, grids: dict[str, Any], drone: Any) -> None:
    client = client_for(operator)
    mission = survey(operator, grids, drone=drone.code)
    url = f"/api/drones/missions/{mission.pk}/schedule/"
    response = client.put(url, {"repeat": "weekly", "time": "08:15", "weekdays": [1, 5]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["repeat_time"] == "08:15" and response.json()["repeat_weekdays"] == [1, 5]
    local = dt.datetime.fromisoformat(response.json()["next_run_at"]).astimezone(SHANGHAI)
    assert (local.hour, local.minute) == (8, 15) and local.isoweekday() in (1, 5)
    bad = client.put(url, {"repeat": "weekly", "time": "8h", "weekdays": []}, format="json")
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"time", "weekdays"}


def test_coverage_geometry_is_valid_geojson(operator: Any, grids: dict[str, Any]) -> None:
    mission = survey(operator, grids, pattern="perimeter")
    geom = shape(mission.coverage)
    assert geom.is_valid and not geom.is_empty
    assert shapely.get_num_coordinates(geom) > 4
    assert mission.route[0] == mission.route[-1]  # round the grid, back to the start
