"""The demo's drone patrols (shequ.demo.drones) over the two grids of the drone tests: docks,
drones with real products' optics, a routine survey per grid planned by the planner, a week of
landed flights whose tracks follow the routes and whose coverage is stored per grid, and findings
with drawn (DEMO-stamped) photos waiting in the queue, one dismissed already."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone
from PIL import Image

from shequ.analytics.patrols import grid_coverage
from shequ.demo.drones import MODELS, write_drones
from shequ.drones.models import (
    Dock,
    Drone,
    Finding,
    FindingState,
    Flight,
    FlightCoverage,
    FlightState,
    Mission,
    Repeat,
    TrackPoint,
)

pytestmark = pytest.mark.django_db
REFERENCE = timezone.make_aware(dt.datetime(2026, 6, 10, 18, 0))


@pytest.fixture
def demo(grids):
    return write_drones(seed=3, reference=REFERENCE, actor="demo")


def test_fleet_and_missions(demo, grids):
    assert demo["drone_docks"] == Dock.objects.count() == 1
    assert demo["drones"] == Drone.objects.count() == 2
    models = set(Drone.objects.values_list("model", flat=True))
    assert models == {m["model"] for m in MODELS}
    mavic = Drone.objects.get(model="DJI Mavic 3 Enterprise")
    assert (mavic.sensor_width_mm, mavic.focal_length_mm, mavic.image_width) == (17.3, 12.29, 5280)
    assert demo["drone_missions"] == Mission.objects.count() == 2
    for mission in Mission.objects.all():
        assert mission.repeat in (Repeat.DAILY, Repeat.WEEKLY)
        assert mission.next_run_at is not None and mission.next_run_at > REFERENCE
        assert len(mission.route) >= 4 and mission.coverage
        assert mission.grids.count() == 1


def test_a_week_of_flights_along_the_routes(demo, grids):
    flights = Flight.objects.all()
    assert demo["drone_flights"] == flights.count() > 0
    assert all(f.state == FlightState.LANDED for f in flights)
    week_ago = REFERENCE - dt.timedelta(days=8)  # the 7 days before the reference day
    assert all(week_ago <= f.started_at < REFERENCE for f in flights)
    # Daily missions fly every day of the week.
    daily = Mission.objects.filter(repeat=Repeat.DAILY).first()
    if daily is not None:
        assert Flight.objects.filter(mission=daily).count() == 7
    flight = flights.select_related("mission").first()
    track = list(TrackPoint.objects.filter(flight=flight).order_by("at"))
    route = flight.mission.route
    assert (track[0].lon, track[0].lat) == pytest.approx((route[0][0], route[0][1]), abs=1e-6)
    assert (track[-1].lon, track[-1].lat) == pytest.approx((route[-1][0], route[-1][1]), abs=1e-6)
    assert demo["drone_track_points"] == TrackPoint.objects.count()
    # Coverage rows: one per flight, a share of the grid like the planner's route gives.
    assert FlightCoverage.objects.count() == flights.count()
    assert all(0.5 < c.share <= 1.0 for c in FlightCoverage.objects.all())


def test_findings_with_drawn_photos(demo, grids):
    findings = Finding.objects.select_related("photo", "case")
    assert demo["drone_findings"] == findings.count() == min(8, Flight.objects.count())
    for f in findings:
        with f.crop.open("rb") as crop:
            assert Image.open(io.BytesIO(crop.read())).size[0] > 10
        assert f.photo.name.startswith("DEMO_")
        assert f.photo.footprint["type"] == "Polygon"
    assert findings.filter(state=FindingState.DISMISSED).count() == 1
    assert findings.filter(state=FindingState.NEW).count() == findings.count() - 1


def test_measures_see_the_demo_week(demo, operator, grids):
    rows = grid_coverage(operator, start=REFERENCE.date() - dt.timedelta(days=7), end=REFERENCE.date())
    assert {r["code"] for r in rows} == {grids["grid1"].code, grids["grid2"].code}
    assert all(r["share"] is not None and r["share"] > 0.5 for r in rows)
