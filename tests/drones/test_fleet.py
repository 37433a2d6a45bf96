"""The fleet register: drones with their cameras and docks with their grids, through the services and
the API; every refused field named, hostile bodies answered 400/404/409/422 and never 500."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from shequ.core.errors import Conflict, Forbidden
from shequ.core.models import AuditEntry
from shequ.drones.models import Dock, Drone, DroneStatus, Flight, FlightState
from shequ.drones.services import fleet
from shequ.video.services.cameras import Refused
from tests.drones.conftest import PHOTO_LAT, PHOTO_LON

pytestmark = pytest.mark.django_db

FC350 = {
    "sensor_width_mm": 6.17,
    "sensor_height_mm": 4.55,
    "focal_length_mm": 3.61,
    "image_width": 4000,
    "image_height": 3000,
}


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_drone_is_registered_with_its_camera_and_audited(operator: Any, dock: Dock) -> None:
    drone = fleet.register_drone(
        actor=operator, code="UAV-07", name="巡查七号", dock="JC-01", mavlink_system_id=7, **FC350
    )
    assert (drone.dock, drone.mavlink_system_id, drone.status) == (dock, 7, DroneStatus.IDLE)
    camera = fleet.camera_of(drone)
    assert camera.fov_x_deg == pytest.approx(81.0, abs=0.5)  # the Phantom 3's ~81° (94° diagonal)
    assert camera.ground_size(100) == pytest.approx((170.9, 126.0), abs=0.2)
    entry = AuditEntry.objects.get(action="drones.drone_register")
    assert entry.target_id == str(drone.pk) and entry.detail["dock"] == "JC-01"

    fleet.update_drone(drone, actor=operator, name="巡查七号(新)", mavlink_system_id=None)
    drone.refresh_from_db()
    assert (drone.name, drone.mavlink_system_id) == ("巡查七号(新)", None)
    assert AuditEntry.objects.filter(action="drones.drone_update", target_id=str(drone.pk)).count() == 1
    # No change, no write.
    fleet.update_drone(drone, actor=operator, name="巡查七号(新)")
    assert AuditEntry.objects.filter(action="drones.drone_update").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sensor_width_mm": 0}, "sensor_width_mm"),
        ({"sensor_width_mm": -6}, "sensor_width_mm"),
        ({"sensor_width_mm": float("nan")}, "sensor_width_mm"),
        ({"focal_length_mm": "3.6mm"}, "focal_length_mm"),
        ({"focal_length_mm": 0.5}, "focal_length_mm"),
        ({"focal_length_mm": 100}, "focal_length_mm"),  # 3.5°: a telescope, not a survey camera
        ({"focal_length_mm": 1.0}, "focal_length_mm"),  # 144°: no drone camera
        ({"image_width": 4000.5}, "image_width"),
        ({"image_width": 10**9}, "image_width"),
        ({"image_height": 2250}, "sensor_height_mm"),  # 16:9 image on a 4:3 sensor height
        ({"sensor_width_mm": 4.0, "sensor_height_mm": 6.0}, "sensor_width_mm"),  # portrait
        ({"mavlink_system_id": 0}, "mavlink_system_id"),
        ({"mavlink_system_id": 256}, "mavlink_system_id"),
        ({"mavlink_system_id": True}, "mavlink_system_id"),
        ({"dock": "JC-404"}, "dock"),
        ({"code": "无人机 1"}, "code"),
        ({"name": ""}, "name"),
        ({"status": "flying"}, "status"),
        ({"wings": 4}, "wings"),
    ],
)
def test_a_refused_drone_names_the_field(
    operator: Any, dock: Dock, change: dict[str, Any], field: str
) -> None:
    values = {"code": "UAV-08", "name": "八号", **FC350, **change}
    with pytest.raises((Refused, fleet.Invalid)) as refused:
        fleet.register_drone(actor=operator, **values)
    fields = [e["field"] for e in getattr(refused.value, "errors", [{"field": refused.value.field}])]
    assert field in fields
    assert not Drone.objects.filter(code="UAV-08").exists()


def test_every_refused_field_is_listed(operator: Any) -> None:
    with pytest.raises(Refused) as refused:
        fleet.register_drone(actor=operator, code="UAV-09", name="", sensor_width_mm=0, focal_length_mm="x")
    assert {e["field"] for e in refused.value.errors} >= {
        "name",
        "sensor_width_mm",
        "focal_length_mm",
        "sensor_height_mm",
        "image_width",
        "image_height",
    }


def test_codes_and_system_ids_are_unique(operator: Any, drone: Drone) -> None:
    fleet.update_drone(drone, actor=operator, mavlink_system_id=1)
    with pytest.raises(Conflict) as taken:
        fleet.register_drone(actor=operator, code="UAV-02", name="二号", mavlink_system_id=1, **FC350)
    assert taken.value.field == "mavlink_system_id" and "UAV-01" in taken.value.message
    with pytest.raises(Conflict):
        fleet.register_drone(actor=operator, code="UAV-01", name="又一号", **FC350)
    other = fleet.register_drone(actor=operator, code="UAV-02", name="二号", **FC350)
    with pytest.raises(Conflict):
        fleet.update_drone(other, actor=operator, code="UAV-01")


def test_a_flying_drone_is_not_deactivated_or_put_into_maintenance(operator: Any, drone: Drone) -> None:
    Flight.objects.create(drone=drone, state=FlightState.FLYING)
    with pytest.raises(Conflict):
        fleet.deactivate_drone(drone, actor=operator)
    with pytest.raises(Conflict):
        fleet.update_drone(drone, actor=operator, status="maintenance")
    Flight.objects.update(state=FlightState.LANDED)
    fleet.deactivate_drone(drone, actor=operator)
    drone.refresh_from_db()
    assert (drone.is_active, drone.status) == (False, DroneStatus.OFFLINE)


def test_docks_cover_existing_grids_in_the_writers_scope(
    operator: Any, make_user: Any, grids: dict[str, Any], system_user: Any
) -> None:
    dock = fleet.register_dock(
        actor=operator,
        code="JC-02",
        name="二号机巢",
        lon=PHOTO_LON,
        lat=PHOTO_LAT,
        elevation_m=190,
        grids=[grids["grid1"].code, grids["grid2"].code],
    )
    assert sorted(g.code for g in dock.grids.all()) == sorted([grids["grid1"].code, grids["grid2"].code])
    assert AuditEntry.objects.get(action="drones.dock_register").detail["grids"] == [
        grids["grid1"].code,
        grids["grid2"].code,
    ]
    fleet.update_dock(dock, actor=operator, grids=[grids["grid1"].code], range_m=5000)
    dock.refresh_from_db()
    assert [g.code for g in dock.grids.all()] == [grids["grid1"].code] and dock.range_m == 5000

    for change, field in (
        ({"lon": 181}, "lon"),
        ({"lat": "north"}, "lat"),
        ({"grids": ["99999999999999"]}, "grids"),
        ({"grids": "390950001001"}, "grids"),
        ({"range_m": 0}, "range_m"),
        ({"elevation_m": 1e6}, "elevation_m"),
    ):
        with pytest.raises(Refused) as refused:
            fleet.update_dock(dock, actor=operator, **change)
        assert [e["field"] for e in refused.value.errors] == [field]

    # An operator of another street may not place a dock over these grids; workers write nothing.
    from shequ.accounts.models import Role
    from shequ.grids.services import save_grid

    elsewhere = save_grid(code="390950002", name="别的街道", actor=system_user)
    stranger = make_user(Role.COMMAND_OPERATOR, grids=(elsewhere,))
    with pytest.raises(Forbidden):
        fleet.register_dock(
            actor=stranger,
            code="JC-03",
            name="三号",
            lon=PHOTO_LON,
            lat=PHOTO_LAT,
            grids=[grids["grid1"].code],
        )
    worker = make_user(Role.GRID_WORKER, grids=(grids["grid1"],))
    with pytest.raises(Forbidden):
        fleet.register_dock(actor=worker, code="JC-04", name="四号", lon=PHOTO_LON, lat=PHOTO_LAT)


# --- API -----------------------------------------------------------------------------------------


def test_the_fleet_over_the_api(operator: Any, grid_worker: Any, resident: Any, dock: Dock) -> None:
    client = client_for(operator)
    created = client.post(
        "/api/drones/drones/",
        {"code": "UAV-11", "name": "十一号", "dock": "JC-01", "mavlink_system_id": 11, **FC350},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["dock"] == "JC-01" and body["camera"]["fov_x_deg"] == pytest.approx(81.0, abs=0.5)
    assert body["flight"] is None and body["status"] == "idle"

    assert [d["code"] for d in results(client.get("/api/drones/drones/"))] == ["UAV-11"]
    assert results(client.get("/api/drones/drones/?status=flying")) == []
    changed = client.patch("/api/drones/drones/UAV-11/", {"battery": 50}, format="json")
    assert changed.status_code == 400  # the battery is telemetry's
    changed = client.patch("/api/drones/drones/UAV-11/", {"status": "maintenance"}, format="json")
    assert changed.status_code == 200 and changed.json()["status"] == "maintenance"

    dock_body = client.get("/api/drones/docks/JC-01/").json()
    assert dock_body["code"] == "JC-01" and len(dock_body["grids"]) == 2
    new_dock = client.post(
        "/api/drones/docks/",
        {"code": "JC-05", "name": "五号", "lon": PHOTO_LON, "lat": PHOTO_LAT},
        format="json",
    )
    assert new_dock.status_code == 201, new_dock.content
    assert client.delete("/api/drones/docks/JC-05/").json()["is_active"] is False

    # The grid worker of grid1 sees the drone of the dock over grid1, but writes nothing.
    worker = client_for(grid_worker)
    assert [d["code"] for d in results(worker.get("/api/drones/drones/"))] == ["UAV-11"]
    assert worker.patch("/api/drones/drones/UAV-11/", {"name": "x"}, format="json").status_code == 403
    assert worker.post("/api/drones/docks/", {"code": "JC-06"}, format="json").status_code == 403
    # A resident sees nothing.
    assert client_for(resident).get("/api/drones/drones/").status_code == 403
    assert client_for(resident).get("/api/drones/drones/UAV-11/").status_code == 403
    assert client.delete("/api/drones/drones/UAV-11/").json()["is_active"] is False


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"code": "UAV-12"},
        {"code": ["x"], "name": "x", **FC350},
        {"code": "UAV-12", "name": "x", **FC350, "sensor_width_mm": "NaN"},
        {"code": "UAV-12", "name": "x", **FC350, "focal_length_mm": "Infinity"},
        {"code": "UAV-12", "name": "x", **FC350, "image_width": 1e300},
        {"code": "UAV-12", "name": "x", **FC350, "image_width": -5},
        {"code": "UAV-12", "name": "x", **FC350, "mavlink_system_id": 99999999999999999999},
        {"code": "UAV-12", "name": "x\x00", **FC350},
        {"code": "UAV-12", "name": "x", **FC350, "dock": {"code": "JC-01"}},
        {"code": "UAV-12", "name": "x", **FC350, "is_active": "maybe"},
        {"code": "UAV-12", "name": "x" * 101, **FC350},
    ],
)
def test_hostile_drone_bodies_are_refused_never_500(operator: Any, body: Any) -> None:
    response = client_for(operator).post("/api/drones/drones/", body, format="json")
    assert response.status_code in (400, 409, 422), (response.status_code, response.content)
    assert "detail" in response.json()
    assert not Drone.objects.filter(code="UAV-12").exists()


def test_hostile_paths_and_params(operator: Any, drone: Drone) -> None:
    client = client_for(operator)
    for url in (
        "/api/drones/drones/%00/",
        "/api/drones/drones/" + "x" * 300 + "/",
        "/api/drones/docks/nope/",
        "/api/drones/drones/UAV-404/telemetry/",
    ):
        assert client.get(url).status_code in (404, 405), url
    assert client.get("/api/drones/drones/?status=sleeping").status_code == 400
    assert client.get("/api/drones/drones/?limit=-1").status_code == 400
    broken = client.post("/api/drones/docks/", b"{not json", content_type="application/json")
    assert broken.status_code == 400
    deep = client.post("/api/drones/docks/", b"[" * 100000, content_type="application/json")
    assert deep.status_code == 400
