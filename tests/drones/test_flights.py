"""Flights and their telemetry through the services and the API: flights open and land as the drone
flies, the track is stored once however often it is sent, the live position is throttled, and the
coverage of each grid comes from the track and the camera (checked against the geometry)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from shapely.geometry import shape

from shequ.core.errors import Conflict, Forbidden
from shequ.core.geo import area_m2, offset
from shequ.core.models import AuditEntry, Event
from shequ.drones.models import Drone, DroneStatus, Flight, FlightCoverage, FlightState, Mission, TrackPoint
from shequ.drones.services import fleet
from shequ.drones.services.flights import (
    LAND_AFTER,
    abort_flight,
    land_flight,
    record_telemetry,
    start_flight,
    thin_track,
)
from shequ_vision.telemetry import TelemetrySample

pytestmark = pytest.mark.django_db

# A line over grid1 (west of GRID_SPLIT_LON), well inside it.
START = (-83.7040, 41.5470)
T0 = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)


def sample(
    i: int, east_m: float = 0.0, alt: float | None = 50.0, armed: bool | None = True, **kw: Any
) -> TelemetrySample:
    lon, lat = offset(*START, east_m, 0.0)
    return TelemetrySample(
        system_id=1,
        at=T0 + dt.timedelta(seconds=i * 0.1),
        lon=lon,
        lat=lat,
        alt_m=alt,
        alt_msl_m=None if alt is None else 190 + alt,
        heading=90.0,
        speed_m_s=10.0,
        battery=kw.pop("battery", 90),
        armed=armed,
        **kw,
    )


def patrol(length_m: float = 300.0, alt: float = 50.0) -> list[TelemetrySample]:
    """Arm on the ground, climb, fly east `length_m` at 10 m/s (10 Hz), descend, disarm."""
    out = [sample(0, 0, 0.0, armed=False), sample(1, 0, 0.0, armed=True)]
    out += [sample(2 + k, 0, alt * k / 10) for k in range(1, 11)]  # climb
    n = int(length_m)  # 1 m per sample
    out += [sample(12 + k, float(k), alt) for k in range(1, n + 1)]
    out += [sample(12 + n + k, float(n), alt * (10 - k) / 10) for k in range(1, 11)]  # descend
    out.append(sample(23 + n, float(n), 0.0, armed=False))
    return out


def test_a_patrol_opens_a_flight_stores_its_track_and_lands_with_coverage(
    drone: Drone, grids: dict[str, Any]
) -> None:
    stream = patrol()
    recorded = [record_telemetry(drone, stream[i : i + 5]) for i in range(0, len(stream), 5)]  # 0.5 s batches
    flight = Flight.objects.get(drone=drone)
    assert sum(1 for r in recorded if r.opened) == 1 and sum(1 for r in recorded if r.landed) == 1
    assert flight.state == FlightState.LANDED and flight.source == "telemetry"
    assert flight.started_at == stream[1].at and flight.ended_at == stream[-1].at
    track = list(flight.track.order_by("at"))
    assert len(track) == len(stream) - 1  # all but the disarmed sample before arming
    assert [p.at for p in track] == sorted(p.at for p in track)
    assert flight.distance_m == pytest.approx(300, rel=0.01)
    assert flight.max_alt_m == 50
    drone.refresh_from_db()
    assert drone.status == DroneStatus.IDLE
    assert (drone.lon, drone.lat, drone.position_at) == (stream[-1].lon, stream[-1].lat, stream[-1].at)

    # Coverage: a 300 m line seen from 50 m by the FC350 (85.5 m × 63 m footprints, long side across
    # the track: the planner's convention) is about 300 × 85.5 plus a footprint's length.
    width, height = fleet.camera_of(drone).ground_size(50)
    expected = 300 * width + width * height
    grid1 = FlightCoverage.objects.get(flight=flight, grid=grids["grid1"])
    assert grid1.covered_m2 == pytest.approx(expected, rel=0.05)
    assert grid1.share == pytest.approx(grid1.covered_m2 / area_m2(shape(grids["grid1"].geometry)), rel=1e-3)
    assert not FlightCoverage.objects.filter(flight=flight, grid=grids["grid2"]).exists()  # 500 m away
    seen = shape(flight.coverage)
    assert area_m2(seen) == pytest.approx(grid1.covered_m2, rel=0.02)
    assert seen.contains(shape({"type": "Point", "coordinates": offset(*START, 150, 20)}))

    events = Event.objects.filter(type="drones.flight_state").order_by("seq")
    assert [e.payload["state"] for e in events] == ["flying", "landed"]
    assert AuditEntry.objects.filter(action="drones.flight_start", actor_name="telemetry").count() == 1
    assert AuditEntry.objects.filter(action="drones.flight_land").count() == 1


def test_a_replayed_stream_adds_nothing(drone: Drone, grids: dict[str, Any]) -> None:
    stream = patrol(100)
    record_telemetry(drone, stream)
    points = TrackPoint.objects.count()
    again = record_telemetry(drone, stream)
    assert again.opened is None and again.points == 0 and again.skipped == len(stream)
    assert Flight.objects.count() == 1 and TrackPoint.objects.count() == points
    # Half a batch sent twice while flying: stored once.
    airborne = [sample(1000 + k, k, 40) for k in range(20)]
    record_telemetry(drone, airborne[:15])
    record_telemetry(drone, airborne[5:])
    second = Flight.objects.get(state=FlightState.FLYING)
    assert second.track.count() == 20


def test_the_live_position_is_sent_at_most_every_two_seconds_of_data_time(drone: Drone, grids: Any) -> None:
    airborne = [sample(k, k, 40) for k in range(100)]  # 10 s at 10 Hz
    for i in range(0, 100, 5):
        record_telemetry(drone, airborne[i : i + 5])
    positions = Event.objects.filter(type="drones.position")
    assert 5 <= positions.count() <= 6
    last = positions.order_by("-seq").first()
    assert last is not None and last.payload["grid_id"] == grids["grid1"].pk
    assert last.payload["flight_id"] == Flight.objects.get().pk


def test_without_an_armed_flag_altitude_opens_and_time_on_the_ground_lands(drone: Drone, grids: Any) -> None:
    on_ground = [sample(k, 0, 0.5, armed=None) for k in range(5)]
    assert record_telemetry(drone, on_ground).opened is None
    flying = [sample(5 + k, k, 30, armed=None) for k in range(50)]
    assert record_telemetry(drone, flying).opened is not None
    settle = int(LAND_AFTER.total_seconds() * 10)
    # Down for less than LAND_AFTER: still flying.
    record_telemetry(drone, [sample(55 + k, 50, 0.2, armed=None) for k in range(settle - 10)])
    assert Flight.objects.get().state == FlightState.FLYING
    landed = record_telemetry(
        drone, [sample(55 + k, 50, 0.2, armed=None) for k in range(settle - 10, settle + 5)]
    )
    assert landed.landed is not None and Flight.objects.get().state == FlightState.LANDED


def test_the_drones_planned_flight_of_the_day_is_the_one_that_takes_off(drone: Drone, grids: Any) -> None:
    mission = Mission.objects.create(code="M-1", name="例行", pattern="survey", altitude_m=50, drone=drone)
    planned = Flight.objects.create(drone=drone, mission=mission, planned_at=T0, source_id="schedule:x")
    yesterday = Flight.objects.create(drone=drone, mission=mission, planned_at=T0 - dt.timedelta(days=1))
    result = record_telemetry(drone, [sample(0, 0, 10)])
    assert result.opened is not None and result.opened.pk == planned.pk
    planned.refresh_from_db()
    yesterday.refresh_from_db()
    assert (planned.state, yesterday.state) == (FlightState.FLYING, FlightState.PLANNED)


def test_an_operator_starts_lands_and_aborts_flights(operator: Any, grid_worker: Any, drone: Drone) -> None:
    flight = start_flight(drone=drone, actor=operator, source_id="ops-1")
    assert flight.state == FlightState.FLYING and flight.source == "manual"
    assert start_flight(drone=drone, actor=operator, source_id="ops-1").pk == flight.pk  # idempotent
    with pytest.raises(Conflict):
        start_flight(drone=drone, actor=operator)  # already flying
    # Disarmed on the ground before take-off: the started flight waits, it does not land.
    record_telemetry(drone, [sample(k, 0, 0, armed=False) for k in range(3)])
    assert Flight.objects.get(pk=flight.pk).state == FlightState.FLYING
    with pytest.raises(Forbidden):
        land_flight(flight, actor=grid_worker)
    landed = land_flight(flight, actor=operator)
    assert landed.state == FlightState.LANDED and landed.coverage is None  # nothing flown
    with pytest.raises(Conflict):
        land_flight(flight, actor=operator)
    with pytest.raises(Conflict):
        abort_flight(flight, actor=operator)

    planned = Flight.objects.create(drone=drone, planned_at=timezone.now())
    aborted = abort_flight(planned, actor=operator, reason="大风")
    assert (aborted.state, aborted.note) == (FlightState.ABORTED, "大风")
    drone.refresh_from_db()
    assert drone.status == DroneStatus.IDLE
    fleet.update_drone(drone, actor=operator, status="maintenance")
    with pytest.raises(Conflict):
        start_flight(drone=drone, actor=operator)


def test_thin_track_keeps_movement_and_the_last_point() -> None:
    hover = [(103.6, 36.5, 50.0)] * 50 + [(103.6001, 36.5, 50.0)]
    assert thin_track(hover) == [(103.6, 36.5, 50.0), (103.6001, 36.5, 50.0)]
    assert thin_track([]) == []


# --- API -----------------------------------------------------------------------------------------


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def test_flights_over_the_api(
    operator: Any,
    grid_worker2: Any,
    resident: Any,
    make_user: Any,
    system_user: Any,
    drone: Drone,
    grids: Any,
) -> None:
    client = client_for(operator)
    stream = patrol(120)
    body = [
        {"at": iso(s.at), "lat": s.lat, "lon": s.lon, "alt": s.alt_m, "armed": s.armed, "battery": s.battery}
        for s in stream
    ]
    answer = client.post("/api/drones/drones/UAV-01/telemetry/", body, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["opened"] == answer.json()["landed"] != None  # noqa: E711
    flight_id = answer.json()["landed"]
    again = client.post("/api/drones/drones/UAV-01/telemetry/", body[10], format="json").json()
    assert again["points"] == 0 and again["skipped"] == 1

    listed = client.get("/api/drones/flights/?drone=UAV-01&state=landed").json()["results"]
    assert [f["id"] for f in listed] == [flight_id]
    day = T0.astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    assert len(client.get(f"/api/drones/flights/?date={day}").json()["results"]) == 1
    assert client.get("/api/drones/flights/?date=2000-01-01").json()["results"] == []
    detail = client.get(f"/api/drones/flights/{flight_id}/").json()
    assert detail["track"]["type"] == "LineString" and len(detail["track"]["coordinates"]) == len(stream) - 1
    assert detail["coverage"]["type"] in ("Polygon", "MultiPolygon")
    [share] = detail["grid_coverage"]
    assert share["grid"] == grids["grid1"].code and 0 < share["share"] < 0.2

    started = client.post("/api/drones/flights/", {"drone": "UAV-01"}, format="json")
    assert started.status_code == 201 and started.json()["state"] == "flying"
    again_started = client.post("/api/drones/flights/", {"drone": "UAV-01"}, format="json")
    assert again_started.status_code == 409
    flying_id = started.json()["id"]
    assert client.get("/api/drones/drones/UAV-01/").json()["flight"] == flying_id
    assert client.post(f"/api/drones/flights/{flying_id}/land/").json()["state"] == "landed"
    assert client.post(f"/api/drones/flights/{flying_id}/abort/", {}, format="json").status_code == 409
    planned = Flight.objects.create(drone=drone, planned_at=timezone.now())
    assert client.post(f"/api/drones/flights/{planned.pk}/start/").json()["state"] == "flying"
    aborted = client.post(f"/api/drones/flights/{planned.pk}/abort/", {"reason": "电量低"}, format="json")
    assert aborted.json()["state"] == "aborted" and aborted.json()["note"] == "电量低"

    # grid2's worker sees the flight (the drone's dock covers grid2) but acts on nothing; an
    # operator of another street does not see it at all.
    from shequ.accounts.models import Role
    from shequ.grids.services import save_grid

    elsewhere = save_grid(code="390950002", name="别的街道", actor=system_user)
    stranger = client_for(make_user(Role.COMMAND_OPERATOR, grids=(elsewhere,)))
    assert stranger.get(f"/api/drones/flights/{flight_id}/").status_code == 404
    assert stranger.post(f"/api/drones/flights/{flight_id}/abort/", {}, format="json").status_code == 404
    assert stranger.post("/api/drones/drones/UAV-01/telemetry/", body[0], format="json").status_code == 404
    assert stranger.get("/api/drones/flights/").json()["results"] == []
    worker = client_for(grid_worker2)
    assert worker.get(f"/api/drones/flights/{flight_id}/").status_code == 200
    assert worker.post(f"/api/drones/flights/{flight_id}/land/").status_code == 403
    assert worker.post("/api/drones/drones/UAV-01/telemetry/", body[0], format="json").status_code == 403
    assert client_for(resident).get("/api/drones/flights/").status_code == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ([], 422),
        ("text", 422),
        (None, 422),
        ({"at": "2026-01-01T00:00:00Z", "lat": 999, "lon": 0}, 422),
        ([{"at": "2026-01-01T00:00:00Z", "lat": 1, "lon": 1}, {"lat": "x"}], 422),
        ({"at": "2026-01-01T00:00:00Z", "lat": 1, "lon": 1, "extra": {"deep": [1]}}, 422),
        ({"at": "9999-12-31T23:59:59+14:00", "lat": 1, "lon": 1}, 422),
        ({"at": "0001-01-01T00:00:00-12:00", "lat": 1, "lon": 1}, 422),
    ],
)
def test_hostile_telemetry_is_refused_never_500(operator: Any, drone: Drone, body: Any, status: int) -> None:
    response = client_for(operator).post("/api/drones/drones/UAV-01/telemetry/", body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert not TrackPoint.objects.exists()


def test_hostile_flight_requests(operator: Any, drone: Drone) -> None:
    client = client_for(operator)
    assert client.get("/api/drones/flights/abc/").status_code == 404
    assert client.get("/api/drones/flights/99999999999999999999999/").status_code == 404
    assert client.post("/api/drones/flights/12345/land/").status_code == 404
    assert client.get("/api/drones/flights/?date=2026-02-30").status_code == 400
    assert client.get("/api/drones/flights/?state=crashed").status_code == 400
    assert client.post("/api/drones/flights/", {"drone": "UAV-404"}, format="json").status_code == 422
    assert (
        client.post("/api/drones/flights/", {"drone": "UAV-01", "mission": "nope"}, format="json").status_code
        == 422
    )
    assert client.post("/api/drones/flights/", {"drone": ["UAV-01"]}, format="json").status_code == 400
    assert client.post("/api/drones/flights/", {"drone": "UAV-01", "x": 1}, format="json").status_code == 400
    drone.is_active = False
    drone.save()
    late = {"at": timezone.now().isoformat(), "lat": 41.5, "lon": -83.7, "alt": 20, "armed": True}
    assert client.post("/api/drones/drones/UAV-01/telemetry/", late, format="json").status_code == 409
