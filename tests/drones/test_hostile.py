"""Hostile and careless clients (issue 6 review): each test is a defect found by trying it: an
idempotency key reused for another drone (a 500), a planned flight's retry (409, open), the same
mission file handing out another grid's mission, a track `after` at year 1 or 9999 (a 500), and the
privacy filter (a detector) run while the finding's row is locked."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from shequ.accounts.models import Role
from shequ.cases.models import Case
from shequ.drones.models import Drone, Flight, FlightState, Mission
from shequ.video.services import media as video_media

pytestmark = pytest.mark.django_db


def client(user: Any) -> APIClient:
    c = APIClient(raise_request_exception=False)
    c.force_login(user)
    return c


def test_source_id_reused_for_another_drone(admin_user: Any, drone: Any, dock: Any) -> None:
    other = Drone.objects.create(
        code="UAV-02",
        name="二号",
        dock=dock,
        sensor_width_mm=6.17,
        sensor_height_mm=4.55,
        focal_length_mm=3.61,
        image_width=4000,
        image_height=3000,
    )
    c = client(admin_user)
    r = c.post("/api/drones/flights/", {"drone": drone.code, "source_id": "k1"}, format="json")
    assert r.status_code == 201, r.content
    r = c.post("/api/drones/flights/", {"drone": other.code, "source_id": "k1"}, format="json")
    assert r.status_code == 409, r.content
    assert r.json()["field"] == "source_id"
    assert Flight.objects.filter(drone=other).count() == 0


def test_retry_with_source_id_of_planned_flight(admin_user: Any, drone: Any) -> None:
    Flight.objects.create(drone=drone, state=FlightState.PLANNED, planned_at=timezone.now())
    c = client(admin_user)
    r1 = c.post("/api/drones/flights/", {"drone": drone.code, "source_id": "k2"}, format="json")
    assert r1.status_code == 201, r1.content
    r2 = c.post("/api/drones/flights/", {"drone": drone.code, "source_id": "k2"}, format="json")
    assert r2.status_code in (200, 201), r2.content
    assert r2.json()["id"] == r1.json()["id"]  # the planned flight, started once
    assert Flight.objects.count() == 1


# A short route inside grid1 (west of the split), as a ground station saves it.
WAYPOINTS = "QGC WPL 110\n" + "".join(
    f"{i}\t{1 if i == 0 else 0}\t{0 if i == 0 else 3}\t16\t0\t0\t0\t0\t{lat}\t{lon}\t{alt}\t1\n"
    for i, (lat, lon, alt) in enumerate(
        [(41.5486, -83.7030, 0), (41.5486, -83.7030, 50), (41.5490, -83.7020, 50), (41.5480, -83.7010, 50)]
    )
)


def test_reimport_does_not_hand_out_another_grids_mission(
    admin_user: Any, make_user: Any, grids: Any
) -> None:
    r = client(admin_user).post(
        "/api/drones/missions/import/", {"text": WAYPOINTS, "grids": [grids["grid1"].code]}, format="json"
    )
    assert r.status_code == 201, r.content
    mission = Mission.objects.get()
    operator2 = make_user(Role.COMMAND_OPERATOR, grids=(grids["grid2"],))
    c2 = client(operator2)
    assert c2.get(f"/api/drones/missions/{mission.pk}/").status_code == 404  # out of their scope
    r = c2.post("/api/drones/missions/import/", {"text": WAYPOINTS}, format="json")
    assert r.status_code == 409, r.content[:300]
    assert r.json()["field"] == "file" and "route" not in r.json()


EDGES = [
    "0001-01-01",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59.999999",
    "9999-12-31",
    "1970-01-01T00:00:00Z",
    "2026-02-30",
]


def test_extreme_moments(admin_user: Any, drone: Any) -> None:
    flight = Flight.objects.create(drone=drone, state=FlightState.FLYING, started_at=timezone.now())
    c = client(admin_user)
    bad = []
    for at in EDGES:
        for url, q in [
            (f"/drones/flights/{flight.pk}/track.json", {"after": at}),
            ("/api/drones/photos/", {"since": at}),
            ("/api/drones/photos/", {"until": at}),
            ("/api/drones/flights/", {"date": at}),
        ]:
            r = c.get(url, q)
            if r.status_code >= 500 or (r.status_code == 404 and "track" in url):
                bad.append(f"GET {url} {q} -> {r.status_code}")
        for body in [
            {"at": at, "lat": 41.5486, "lon": -83.70, "alt": 50},
            {"at": at, "lat": 91, "lon": 181, "alt": 50},
            {"at": at, "lat": "41.5", "lon": "-83.7", "alt": "50"},
            [{"at": at, "lat": 41.5486, "lon": -83.70, "alt": 1e308}],
        ]:
            r = c.post(f"/api/drones/drones/{drone.code}/telemetry/", body, format="json")
            if r.status_code >= 500:
                bad.append(f"POST telemetry {body} -> {r.status_code}")
    assert not bad, "\n".join(bad)


@pytest.fixture
def blur_depths(monkeypatch: Any) -> list[int]:
    """The transaction depth at each call of the privacy filter (detection: slow work)."""
    depths: list[int] = []
    real = video_media.blur

    def spy(data: bytes, **kwargs: Any) -> bytes:
        depths.append(len(connection.atomic_blocks))
        return real(data, **kwargs)

    monkeypatch.setattr(video_media, "blur", spy)
    cache.clear()
    return depths


@pytest.mark.parametrize("via", ["api", "page"])
def test_confirm_blurs_the_crop_outside_the_transaction(
    media: dict[str, Any], operator: Any, blur_depths: list[int], via: str
) -> None:
    finding = media["f1"]
    c = client(operator)
    base = len(connection.atomic_blocks)
    if via == "api":
        r = c.post(f"/api/drones/findings/{finding.pk}/confirm/", {}, format="json")
        assert r.status_code == 201, r.content
    else:
        r = c.post(f"/drones/findings/{finding.pk}/confirm/", {"description": ""})
        assert r.status_code in (200, 302), r.content[:300]
    assert Case.objects.filter(source_id=f"finding:{finding.pk}").count() == 1
    assert blur_depths, "the crop was blurred for the case"
    assert max(blur_depths) == base, "the privacy filter ran inside the transaction that locks the finding"
