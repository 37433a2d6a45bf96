"""The drone pages (docs/pages.md, "Drones"): the fleet, a mission with its map, the plan form, a
flight with its track, the findings queue with confirm / dismiss, the photo upload and the images,
per role and scope (403 for a role without drones, 404 for an id out of scope).

Missions, flights and findings are made as rows here (their services are other parts' and are
tested there); the acts the pages perform go through the services, as the pages do.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from shequ.cases.models import Case, Source
from shequ.drones.models import (
    Dock,
    Drone,
    Finding,
    FindingKind,
    FindingState,
    Flight,
    FlightCoverage,
    FlightState,
    Mission,
    Pattern,
    Photo,
    TrackPoint,
)
from shequ.grids.models import Grid
from tests.cases.conftest import case_categories, case_departments  # noqa: F401 (fixtures)
from tests.drones.conftest import GRID_SPLIT_LON, PHOTO_LAT, PHOTO_LON

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def jpeg(size: tuple[int, int] = (320, 240), colour: tuple[int, int, int] = (90, 120, 80)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=85)
    return out.getvalue()


def noisy(size: tuple[int, int] = (64, 64)) -> bytes:
    """Fine random texture: any blur shows as a drop of its variance."""
    import numpy as np

    pixels = np.random.default_rng(7).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


def rect(lon1: float, lat1: float, lon2: float, lat2: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[lon1, lat1], [lon2, lat1], [lon2, lat2], [lon1, lat2], [lon1, lat1]]],
    }


@pytest.fixture
def mission(grids: dict[str, Any], drone: Any) -> Mission:
    """A survey of grid1: three legs west to east, with the coverage of the planner's shape."""
    m = Mission.objects.create(
        code="M-01",
        name="第1网格例行巡查",
        pattern=Pattern.SURVEY,
        drone=drone,
        dock=drone.dock,
        altitude_m=100,
        route=[
            [-83.7055, 41.5445, 100],
            [GRID_SPLIT_LON - 0.0005, 41.5445, 100],
            [GRID_SPLIT_LON - 0.0005, 41.5485, 100],
            [-83.7055, 41.5485, 100],
            [-83.7055, 41.5525, 100],
            [GRID_SPLIT_LON - 0.0005, 41.5525, 100],
        ],
        coverage=rect(-83.706, 41.544, GRID_SPLIT_LON, 41.553),
        length_m=2100.0,
        duration_s=280.0,
        photo_count=42,
    )
    m.grids.set([grids["grid1"]])
    return m


@pytest.fixture
def flight(mission: Mission, drone: Any, grids: dict[str, Any]) -> Flight:
    start = timezone.now() - dt.timedelta(hours=2)
    f = Flight.objects.create(
        mission=mission,
        drone=drone,
        state=FlightState.LANDED,
        started_at=start,
        ended_at=start + dt.timedelta(minutes=5),
        distance_m=2100,
        max_alt_m=101,
        coverage=mission.coverage,
    )
    TrackPoint.objects.bulk_create(
        TrackPoint(flight=f, at=start + dt.timedelta(seconds=10 * i), lon=p[0], lat=p[1], alt_m=100)
        for i, p in enumerate(mission.route)
    )
    FlightCoverage.objects.create(flight=f, grid=grids["grid1"], covered_m2=700_000, share=0.97)
    return f


def make_photo(flight: Flight | None, grid: Any, n: int = 1) -> Photo:
    photo = Photo(
        flight=flight,
        drone=flight.drone if flight else None,
        name=f"DJI_{n:04d}.JPG",
        sha256=f"{n:064x}",
        width=320,
        height=240,
        taken_at=timezone.now() - dt.timedelta(hours=1),
        lon=PHOTO_LON,
        lat=PHOTO_LAT,
        alt_m=100,
        footprint=rect(PHOTO_LON - 0.0008, PHOTO_LAT - 0.0006, PHOTO_LON + 0.0008, PHOTO_LAT + 0.0006),
        grid=grid,
        state="analysed",
    )
    photo.image.save(f"p{n}.jpg", ContentFile(jpeg()), save=False)
    photo.save()
    return photo


def make_finding(photo: Photo, grid: Any, kind: str = FindingKind.DEBRIS, n: int = 1) -> Finding:
    finding = Finding(
        photo=photo,
        kind=kind,
        label="debris",
        confidence=0.8,
        box=[0.4, 0.4, 0.6, 0.6],
        lon=photo.lon,
        lat=photo.lat,
        grid=grid,
    )
    finding.crop.save(f"f{n}.jpg", ContentFile(noisy()), save=False)
    finding.save()
    return finding


@pytest.fixture
def finding(flight: Flight, grids: dict[str, Any]) -> Finding:
    return make_finding(make_photo(flight, grids["grid1"]), grids["grid1"])


# --- who opens what ----------------------------------------------------------------------------------

PAGES = ["/drones/", "/drones/findings/"]


@pytest.mark.parametrize("path", PAGES)
def test_roles_without_drones_are_refused(path, handler, resident, grids):
    for user in (handler, resident):
        assert client_for(user).get(path).status_code == 403
    assert Client().get(path).status_code == 302  # to the login page


def test_planning_and_upload_are_for_operators(grid_worker, leader, operator, drone):
    for user in (grid_worker, leader):
        assert client_for(user).get("/drones/missions/new/").status_code == 403
        assert client_for(user).get("/drones/photos/upload/").status_code == 403
    assert client_for(operator).get("/drones/missions/new/").status_code == 200
    assert client_for(operator).get("/drones/photos/upload/").status_code == 200


def test_fleet_lists_drones_missions_flights(operator, flight, finding, drone):
    answer = client_for(operator).get("/drones/")
    assert answer.status_code == 200
    html = answer.content.decode()
    assert 'data-drone="UAV-01"' in html
    assert "第1网格例行巡查" in html
    assert f'data-flight="{flight.pk}"' in html
    assert 'data-new-findings="1"' in html


def test_out_of_scope_ids_answer_404(grid_worker2, make_user, grids, mission, flight, finding):
    # grid_worker2 sees grid2 only: the mission, flight and finding are all in grid1. The flight
    # is in scope through its drone (the dock covers both grids), so an outsider is made instead.
    from shequ.accounts.models import Role
    from shequ.grids.services import save_grid

    far = save_grid(code="39095000100199", name="远处网格", parent=grids["community"], actor=None)
    outsider = make_user(Role.GRID_WORKER, grids=(far,))
    c = client_for(outsider)
    for path in (
        f"/drones/missions/{mission.pk}/",
        f"/drones/flights/{flight.pk}/",
        f"/drones/flights/{flight.pk}/track.json",
        f"/drones/findings/{finding.pk}/crop.jpg",
        f"/drones/photos/{finding.photo_id}/image.jpg",
    ):
        assert c.get(path).status_code == 404, path
    assert c.post(f"/drones/findings/{finding.pk}/confirm/").status_code == 404
    assert client_for(grid_worker2).get(f"/drones/missions/{mission.pk}/").status_code == 404


# --- the mission page ------------------------------------------------------------------------------


def map_data(html: str) -> dict[str, Any]:
    start = html.index('<script id="drones-map-data" type="application/json">') + len(
        '<script id="drones-map-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_mission_page_draws_grids_route_and_coverage(operator, mission):
    answer = client_for(operator).get(f"/drones/missions/{mission.pk}/")
    assert answer.status_code == 200
    html = answer.content.decode()
    kinds = [f["properties"]["kind"] for f in map_data(html)["features"]["features"]]
    assert kinds.count("grid") == 1
    assert kinds.count("coverage") == 1
    assert kinds.count("route") == 1
    assert kinds.count("waypoint") == len(mission.route)
    # The coverage is the whole of grid1: 100 %.
    assert 'data-figure="coverage">100.0%' in html
    assert 'data-figure="photos">42' in html
    assert f"/drones/missions/{mission.pk}/route.plan" in html


def test_mission_downloads_plan_and_waypoints(operator, mission):
    pytest.importorskip("shequ.drones.services.missions")
    c = client_for(operator)
    plan = c.get(f"/drones/missions/{mission.pk}/route.plan")
    assert plan.status_code == 200
    assert plan["Content-Disposition"] == 'attachment; filename="M-01.plan"'
    data = json.loads(plan.content)
    assert data["fileType"] == "Plan"
    waypoints = c.get(f"/drones/missions/{mission.pk}/route.waypoints")
    assert waypoints.status_code == 200
    assert waypoints.content.decode().startswith("QGC WPL 110")


def test_schedule_form_refuses_weekly_without_days(operator, mission):
    answer = client_for(operator).post(
        f"/drones/missions/{mission.pk}/schedule/", {"repeat": "weekly", "time": "09:30"}
    )
    assert answer.status_code == 422
    assert "每周巡查请选择星期" in answer.content.decode()
    mission.refresh_from_db()
    assert mission.repeat == "none"


def test_schedule_saves_a_daily_patrol(operator, mission):
    pytest.importorskip("shequ.drones.services.missions")
    answer = client_for(operator).post(
        f"/drones/missions/{mission.pk}/schedule/", {"repeat": "daily", "time": "09:30"}
    )
    assert answer.status_code == 302
    mission.refresh_from_db()
    assert mission.repeat == "daily"
    assert mission.repeat_time == dt.time(9, 30)
    assert mission.next_run_at is not None


# --- the plan form -----------------------------------------------------------------------------------


def test_plan_form_plans_a_survey(operator, grids, drone):
    pytest.importorskip("shequ.drones.services.missions")
    answer = client_for(operator).post(
        "/drones/missions/new/",
        {
            "code": "M-NEW",
            "name": "新航线",
            "pattern": "survey",
            "grids": [grids["grid2"].pk],
            "drone": drone.pk,
            "altitude_m": "90",
            "front_overlap": "75",
            "side_overlap": "65",
            "speed_m_s": "8",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    mission = Mission.objects.get(code="M-NEW")
    assert answer["Location"] == f"/drones/missions/{mission.pk}/"
    assert mission.front_overlap == pytest.approx(0.75)
    assert len(mission.route) >= 4
    assert list(mission.grids.all()) == [grids["grid2"]]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"pattern": "survey"}, "grids", "请选择至少一个网格"),
        ({"pattern": "waypoints", "waypoints": "[[1, 2]]"}, "waypoints", "请在地图上单击绘制至少 2 个航点"),
        ({"pattern": "waypoints", "waypoints": "not json"}, "waypoints", "航点不是有效的 JSON"),
        ({"pattern": "waypoints", "waypoints": "[[500, 2, 3], [1, 2, 3]]"}, "waypoints", "航点应为"),
        ({"pattern": "survey", "altitude_m": "-5"}, "altitude_m", ""),
        ({"pattern": "survey", "front_overlap": "120"}, "front_overlap", ""),
    ],
)
def test_plan_form_rejects_bad_input_without_writing(operator, drone, grids, fields, field, message):
    data = {
        "code": "M-BAD",
        "name": "坏航线",
        "drone": drone.pk,
        "altitude_m": "100",
        "front_overlap": "70",
        "side_overlap": "60",
        "speed_m_s": "8",
        **fields,
    }
    answer = client_for(operator).post("/drones/missions/new/", data)
    assert answer.status_code == 422
    html = answer.content.decode()
    assert f'data-field="{field}"' in html
    assert message in html
    assert not Mission.objects.filter(code="M-BAD").exists()


def test_import_of_a_file_that_is_no_plan_says_why(operator, drone):
    pytest.importorskip("shequ.drones.services.missions")
    from django.core.files.uploadedfile import SimpleUploadedFile

    c = client_for(operator)
    answer = c.post(
        "/drones/missions/import/",
        {"file": SimpleUploadedFile("x.plan", b"\x00\x01 not a plan"), "name": "坏文件"},
        follow=True,
    )
    assert answer.status_code == 200
    assert "导入失败" in answer.content.decode()
    assert not Mission.objects.filter(name="坏文件").exists()


def test_import_of_a_real_plan(operator, drone):
    pytest.importorskip("shequ.drones.services.missions")
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.conftest import SHARED_MEDIA

    path = SHARED_MEDIA / "simple_square.plan"
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"real media missing: {path} — CI must run the real-media tests")
        pytest.skip(f"real media missing: {path}")
    answer = client_for(operator).post(
        "/drones/missions/import/", {"file": SimpleUploadedFile("simple_square.plan", path.read_bytes())}
    )
    assert answer.status_code == 302
    mission = Mission.objects.get(pattern=Pattern.IMPORTED)
    assert answer["Location"] == f"/drones/missions/{mission.pk}/"
    assert len(mission.route) >= 4


# --- the flight page -----------------------------------------------------------------------------------


def test_flight_page_shows_track_coverage_photos_findings(operator, flight, finding):
    answer = client_for(operator).get(f"/drones/flights/{flight.pk}/")
    assert answer.status_code == 200
    html = answer.content.decode()
    data = map_data(html)
    assert len(data["track"]) == len(flight.mission.route)  # type: ignore[union-attr]
    assert data["flying"] is False
    kinds = {f["properties"]["kind"] for f in data["features"]["features"]}
    assert {"grid", "coverage", "footprint", "finding"} <= kinds
    assert 'data-grid="39095000100101"' in html
    assert "97%" in html
    assert f"/drones/photos/{finding.photo_id}/image.jpg?w=240" in html


def test_track_json_gives_points_after_a_time(operator, flight):
    c = client_for(operator)
    whole = c.get(f"/drones/flights/{flight.pk}/track.json").json()
    assert len(whole["track"]) == 6
    assert whole["state"] == "landed"
    after = whole["track"][3][3]
    rest = c.get(f"/drones/flights/{flight.pk}/track.json", {"after": after}).json()
    assert [p[3] for p in rest["track"]] == [p[3] for p in whole["track"][4:]]
    # A malformed time is ignored (the whole track), never a 500.
    assert len(c.get(f"/drones/flights/{flight.pk}/track.json", {"after": "x" * 5000}).json()["track"]) == 6


def test_long_tracks_are_thinned_keeping_the_ends():
    from shequ.drones.views import thinned

    points = list(range(10_000))
    out = thinned(points, 100)
    assert len(out) == 100
    assert out[0] == 0 and out[-1] == 9_999


# --- the findings queue ------------------------------------------------------------------------------


def test_queue_shows_new_findings_with_crop_box_and_map(operator, finding):
    answer = client_for(operator).get("/drones/findings/")
    assert answer.status_code == 200
    html = answer.content.decode()
    assert f'data-alert="{finding.pk}"' in html  # video.js gives the queue its keys
    assert "data-alert-queue" in html
    assert f"/drones/findings/{finding.pk}/crop.jpg" in html
    assert 'class="drones-box" style="left:40%;top:40%' in html
    assert f'data-map="finding-map-{finding.pk}"' in html
    assert 'data-live="drones.finding_raised"' in html


def test_confirm_makes_a_drone_case(operator, finding, case_categories):  # noqa: F811
    answer = client_for(operator).post(
        f"/drones/findings/{finding.pk}/confirm/", {"description": ""}, HTTP_HX_REQUEST="true"
    )
    assert answer.status_code == 200
    finding.refresh_from_db()
    assert finding.state == FindingState.CONFIRMED
    case = Case.objects.get(pk=finding.case_id)
    assert case.source == Source.DRONE
    assert case.number in answer.content.decode()


def test_dismiss_without_script_goes_back_to_the_queue(operator, finding):
    answer = client_for(operator).post(
        f"/drones/findings/{finding.pk}/dismiss/", {"reason": "阴影", "next": "/drones/findings/?state=all"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == "/drones/findings/?state=all"
    finding.refresh_from_db()
    assert finding.state == FindingState.DISMISSED
    assert finding.dismiss_reason == "阴影"


def test_leader_reads_the_queue_but_may_not_act(leader, finding):
    c = client_for(leader)
    html = c.get("/drones/findings/").content.decode()
    assert f'data-alert="{finding.pk}"' in html
    assert "data-act=" not in html
    assert c.post(f"/drones/findings/{finding.pk}/confirm/").status_code == 403
    finding.refresh_from_db()
    assert finding.state == FindingState.NEW


def test_grid_worker_sees_blurred_crops_the_command_center_originals(grid_worker, operator, finding):
    original = client_for(operator).get(f"/drones/findings/{finding.pk}/crop.jpg")
    assert original.status_code == 200
    with finding.crop.open("rb") as f:
        assert original.content == f.read()
    blurred = client_for(grid_worker).get(f"/drones/findings/{finding.pk}/crop.jpg")
    assert blurred.status_code == 200
    import numpy as np

    shown = Image.open(io.BytesIO(blurred.content))
    assert shown.size == (64, 64)
    before = np.asarray(Image.open(io.BytesIO(original.content)), dtype=float).std()
    assert np.asarray(shown, dtype=float).std() < 0.75 * before
    assert "no-store" in blurred["Cache-Control"]


def test_unknown_act_and_thumbnail_widths(operator, finding):
    c = client_for(operator)
    assert c.post(f"/drones/findings/{finding.pk}/explode/").status_code == 404
    small = c.get(f"/drones/photos/{finding.photo_id}/image.jpg", {"w": "160"})
    assert Image.open(io.BytesIO(small.content)).size[0] == 160
    # A width of thousands of digits is ignored (the whole image), not a 500.
    whole = c.get(f"/drones/photos/{finding.photo_id}/image.jpg", {"w": "9" * 5000})
    assert Image.open(io.BytesIO(whole.content)).size == (320, 240)


# --- the upload page -------------------------------------------------------------------------------------


def test_upload_reports_each_file(operator, flight, dji_0061):
    pytest.importorskip("shequ.drones.services.photos")
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [
        SimpleUploadedFile("DJI_0061.JPG", dji_0061, content_type="image/jpeg"),
        SimpleUploadedFile("notes.txt", b"not an image", content_type="text/plain"),
        SimpleUploadedFile("cut.jpg", dji_0061[: len(dji_0061) // 3], content_type="image/jpeg"),
    ]
    answer = client_for(operator).post("/drones/photos/upload/", {"photos": files})
    assert answer.status_code == 200
    html = answer.content.decode()
    assert 'id="upload-report"' in html
    assert html.count("<tr data-status=") == 3
    assert "DJI_0061.JPG" in html and "notes.txt" in html and "cut.jpg" in html
    assert Photo.objects.filter(name="DJI_0061.JPG").exists()
    assert Photo.objects.count() == 1


def test_upload_without_files_is_refused(operator):
    answer = client_for(operator).post("/drones/photos/upload/", {})
    assert answer.status_code == 422
    assert not Photo.objects.exists()


# --- the one map and the live feed ---------------------------------------------------------------------


def test_one_map_layers_of_drones_and_missions(operator, handler, mission, drone):
    drone.lon, drone.lat, drone.heading, drone.battery = -83.70, 41.548, 90.0, 77
    drone.position_at = timezone.now()
    drone.save()
    c = client_for(operator)
    layer = c.get("/api/onemap/drones/").json()
    kinds = {f["properties"]["kind"]: f for f in layer["features"]}
    assert kinds["drone"]["properties"]["code"] == "UAV-01"
    assert kinds["drone"]["properties"]["battery"] == 77
    assert kinds["drone"]["geometry"]["coordinates"] == [-83.7, 41.548]
    assert kinds["dock"]["properties"]["code"] == "JC-01"
    routes = c.get("/api/onemap/missions/").json()["features"]
    assert {f["properties"]["kind"] for f in routes} == {"route", "coverage"}
    assert routes[0]["properties"]["url"] == f"/drones/missions/{mission.pk}/"
    assert client_for(handler).get("/api/onemap/drones/").status_code == 403
    # An old position is not drawn: the drone is home.
    drone.position_at = timezone.now() - dt.timedelta(hours=2)
    drone.save()
    assert [f["properties"]["kind"] for f in c.get("/api/onemap/drones/").json()["features"]] == ["dock"]


def test_feed_messages_of_drones(drone, grids, finding):
    from shequ.live.messages import to_items

    now = timezone.now()
    rows = [
        (
            1,
            "drones.position",
            {"drone_id": drone.pk, "flight_id": None, "lon": 1.0, "lat": 2.0, "grid_id": grids["grid1"].pk},
            now,
        ),
        (
            2,
            "drones.finding_raised",
            {
                "finding_id": finding.pk,
                "photo_id": finding.photo_id,
                "kind": "crowd",
                "grid_id": grids["grid1"].pk,
            },
            now,
        ),
    ]
    position, raised = to_items(rows)
    first, second = json.loads(position.data), json.loads(raised.data)
    assert first["title"] == "无人机 UAV-01 位置" and not first["urgent"]
    assert second["title"] == "航拍发现: 人员聚集" and second["urgent"]
    assert position.grid_id == raised.grid_id == grids["grid1"].pk


@pytest.mark.parametrize(
    "url",
    [
        "/drones/",
        "/drones/missions/new/",
        "/drones/findings/?state=all",
        "/drones/photos/upload/",
        "MISSION",
        "FLIGHT",
    ],
)
def test_drone_pages_render_fully_in_english(url, operator, mission, flight, finding):
    """Every word of UI text is translated; names of grids, drones and missions are data (the
    fixtures' are Chinese), so they are set aside before looking."""
    import re

    from tests.web.test_i18n import switch_to_english, untranslated

    operator.display_name = ""
    operator.save(update_fields=["display_name"])
    c = client_for(operator)
    switch_to_english(c)
    url = {"MISSION": f"/drones/missions/{mission.pk}/", "FLIGHT": f"/drones/flights/{flight.pk}/"}.get(
        url, url
    )
    response = c.get(url)
    assert response.status_code == 200 and 'lang="en"' in response.text
    page = re.sub(r"<option[^>]*>[^<]*</option>", "", response.content.decode())
    page = re.sub(r'<script id="[^"]*" type="application/json">.*?</script>', "", page, flags=re.S)
    data = {
        *(g.name for g in Grid.objects.all()),
        *(str(d) for d in Drone.objects.all()),
        *(d.name for d in Drone.objects.all()),
        *(d.name for d in Dock.objects.all()),
        mission.name,
        "航拍社区",
    }
    for name in sorted(data, key=len, reverse=True):
        page = page.replace(name, "")
    assert untranslated(page) == []
