"""The drone patrol measures (analytics.patrols; docs/measures.md "Drone patrols"): coverage per
grid is the UNION of the flights' ground coverage (two flights over the two halves of a grid
cover all of it; two over the same half, half), findings per flight, and the drone share of the
proactively found cases, in the viewer's scope; and the dashboard shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from shequ.analytics.patrols import drone_share, grid_coverage, patrol_measures
from shequ.cases.models import Source
from shequ.cases.services.intake import report_case
from shequ.drones.models import Flight, FlightCoverage, FlightState
from tests.cases.conftest import case_categories, case_departments  # noqa: F401 (fixtures)
from tests.drones.conftest import GRID_SPLIT_LON
from tests.drones.test_pages import make_finding, make_photo, rect

pytestmark = pytest.mark.django_db

# grid1 spans -83.706 .. GRID_SPLIT_LON (-83.698) in longitude, 41.544 .. 41.553 in latitude.
WEST, MID, EAST = -83.706, (-83.706 + GRID_SPLIT_LON) / 2, GRID_SPLIT_LON
SOUTH, NORTH = 41.544, 41.553


def landed(drone: Any, grid: Any, coverage: dict[str, Any], share: float, *, days_ago: int = 1) -> Flight:
    start = timezone.now() - dt.timedelta(days=days_ago)
    flight = Flight.objects.create(
        drone=drone, state=FlightState.LANDED, started_at=start, ended_at=start, coverage=coverage
    )
    FlightCoverage.objects.create(flight=flight, grid=grid, covered_m2=1.0, share=share)
    return flight


def period() -> dict[str, dt.date]:
    today = timezone.localdate()
    return {"start": today - dt.timedelta(days=6), "end": today}


def test_coverage_is_the_union_of_the_flights(operator, drone, grids):
    g1 = grids["grid1"]
    landed(drone, g1, rect(WEST, SOUTH, MID, NORTH), 0.5)
    landed(drone, g1, rect(MID, SOUTH, EAST, NORTH), 0.5, days_ago=2)
    [row] = grid_coverage(operator, **period())
    assert row["code"] == g1.code
    assert row["flights"] == 2
    assert row["share"] == pytest.approx(1.0, abs=1e-6)  # the two halves: all of it
    assert row["best_flight_share"] == 0.5


def test_the_same_half_twice_is_half(operator, drone, grids):
    g1 = grids["grid1"]
    for days_ago in (1, 2, 3):
        landed(drone, g1, rect(WEST, SOUTH, MID, NORTH), 0.5, days_ago=days_ago)
    [row] = grid_coverage(operator, **period())
    assert row["flights"] == 3
    assert row["share"] == pytest.approx(0.5, abs=1e-3)


def test_flights_outside_the_period_or_not_landed_do_not_count(operator, drone, grids):
    g1 = grids["grid1"]
    landed(drone, g1, rect(WEST, SOUTH, MID, NORTH), 0.5, days_ago=10)
    flying = landed(drone, g1, rect(MID, SOUTH, EAST, NORTH), 0.5)
    Flight.objects.filter(pk=flying.pk).update(state=FlightState.FLYING)
    assert grid_coverage(operator, **period()) == []
    assert patrol_measures(operator, **period())["flights"] == 0


def test_scope_a_grid_worker_sees_their_grids_only(grid_worker, grid_worker2, drone, grids):
    landed(drone, grids["grid1"], rect(WEST, SOUTH, MID, NORTH), 0.5)
    assert [r["code"] for r in grid_coverage(grid_worker, **period())] == [grids["grid1"].code]
    assert grid_coverage(grid_worker2, **period()) == []


def test_findings_per_flight(operator, drone, grids):
    g1 = grids["grid1"]
    first = landed(drone, g1, rect(WEST, SOUTH, MID, NORTH), 0.5)
    landed(drone, g1, rect(MID, SOUTH, EAST, NORTH), 0.5)
    photo = make_photo(first, g1)
    for n in range(3):
        make_finding(photo, g1, n=n)
    figures = patrol_measures(operator, **period())
    assert figures["flights"] == 2
    assert figures["findings"] == 3
    assert figures["findings_per_flight"] == 1.5
    assert figures["findings_by_kind"] == {"debris": 3}


def test_drone_share_of_proactive_cases(operator, system_user, grids, case_categories):  # noqa: F811
    from shequ.analytics.rollups import rebuild_rollups

    here = (-83.702, 41.548)
    sources = [Source.DRONE, Source.CAMERA, Source.GRID_WORKER, Source.DRONE, Source.RESIDENT]
    for n, source in enumerate(sources):
        report_case(
            actor=system_user,
            source=source,
            description=f"测试案件 {n}",
            lon=here[0] + n * 0.0005,
            lat=here[1],
            source_id=f"t{n}" if source != Source.RESIDENT else "",
        )
    rebuild_rollups()
    share = drone_share(operator, **period())
    assert share == {"drone": 2, "proactive": 4, "share": 0.5}  # the resident's is not proactive


def test_dashboard_shows_the_drone_measures(operator, drone, grids):
    landed(drone, grids["grid1"], rect(WEST, SOUTH, MID, NORTH), 0.5)
    client = Client()
    client.force_login(operator)
    html = client.get("/cases/dashboard/").content.decode()
    assert 'id="drone-measures"' in html
    assert 'data-kpi="drone_flights">1<' in html
    assert f'<tr data-grid="{grids["grid1"].code}">' in html
    assert 'data-kpi="drone_coverage">50%<' in html


def test_big_screen_shows_the_week_of_patrols(operator, drone, grids):
    landed(drone, grids["grid1"], rect(WEST, SOUTH, MID, NORTH), 0.5)
    client = Client()
    client.force_login(operator)
    data = client.get("/onemap/screen/data/").json()
    assert data["drones"]["flights"] == 1
    assert data["drones"]["coverage"] == pytest.approx(0.5, abs=1e-3)
    assert data["drones"]["share"] is None  # no proactive case this month
    assert 'data-kpi="drones.share"' in client.get("/onemap/screen/").content.decode()
