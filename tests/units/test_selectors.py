"""Reads of units through the scope: the map's last positions, the nearest available units for a
case (real distances), a unit's track (audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from shequ.cases.services import intake
from shequ.core.geo import distance_m, offset
from shequ.core.models import AuditEntry
from shequ.units import selectors, services
from tests.cases.conftest import IN_GRID11, IN_GRID12, IN_GRID21, OUTSIDE
from tests.units.conftest import T0

pytestmark = pytest.mark.django_db


def names(rows: list[dict[str, Any]]) -> set[str]:
    return {r["name"] for r in rows}


def report(actor: Any, lon: float, lat: float, category: Any) -> Any:
    case, _ = intake.report_case(
        actor=actor, source="hotline", description="路面堆物", category=category, lon=lon, lat=lat
    )
    return case


@pytest.fixture
def category(case_categories):
    return case_categories["暴露垃圾"]


def test_last_positions_by_scope(units, on_duty):
    on_duty(units["worker11"], *IN_GRID11)
    on_duty(units["worker21"], *IN_GRID21)
    on_duty(units["handler"], *IN_GRID12)
    on_duty(units["handler_other"], *OUTSIDE)
    services.set_status(units["worker12"], "off_duty", consent=True)  # off duty: not on the map
    worker21, handler = units["worker21"].username, str(units["handler"])
    # The street's operator: the units in its grids (the sanitation worker is outside every grid).
    assert names(selectors.last_positions(units["operator"])) == {"网格员张", worker21, handler}
    assert names(selectors.last_positions(units["operator1"])) == {"网格员张", handler}
    assert names(selectors.last_positions(units["operator2"])) == {worker21}
    assert names(selectors.last_positions(units["worker11"])) == {"网格员张"}  # grid11 only
    assert selectors.last_positions(units["resident"]) == []
    row = next(r for r in selectors.last_positions(units["operator"]) if r["name"] == "网格员张")
    assert row["user_id"] == units["worker11"].pk and row["role"] == "grid_worker"
    assert row["status"] == "on_duty" and (row["lon"], row["lat"]) == IN_GRID11
    assert row["department"] is None and row["at"].endswith("+08:00")
    handler = next(
        r for r in selectors.last_positions(units["operator"]) if r["name"] == str(units["handler"])
    )
    assert handler["department"] == "ZF01"


def test_admin_sees_all_units(units, on_duty, system_user):
    on_duty(units["worker11"], *IN_GRID11)
    on_duty(units["handler_other"], *OUTSIDE)
    assert names(selectors.last_positions(system_user)) == {"网格员张", "环卫员"}


def test_a_grid_worker_is_seen_by_their_grid_wherever_they_are(units, on_duty):
    on_duty(units["worker11"], *OUTSIDE)
    assert "网格员张" in names(selectors.last_positions(units["operator1"]))
    assert "网格员张" not in names(selectors.last_positions(units["operator2"]))


def test_an_old_position_is_not_shown(units, on_duty):
    with time_machine.travel(T0, tick=False):
        on_duty(units["worker11"], *IN_GRID11)
    with time_machine.travel(T0 + dt.timedelta(minutes=31), tick=False):
        [row] = selectors.last_positions(units["operator1"])
    assert row["status"] == "on_duty" and row["lon"] is None and row["at"] is None


def test_nearest_units_in_order_with_real_distances(units, on_duty, category):
    case = report(units["operator"], *IN_GRID11, category)
    lon, lat = IN_GRID11
    on_duty(units["worker11"], *offset(lon, lat, 300, 0))  # 300 m east
    on_duty(units["worker11b"], *offset(lon, lat, 0, -120))  # 120 m south
    on_duty(units["worker12"], *offset(lon, lat, 900, 0))  # neighbour grid (grid12), 900 m
    on_duty(units["handler"], *offset(lon, lat, 0, 400))  # a squad member 400 m north (in grid11)
    on_duty(units["worker21"], *offset(lon, lat, 50, 0))  # near, but grid21 is not a neighbour of grid11
    rows = selectors.nearest_units(units["operator"], case)
    assert [r["user_id"] for r in rows] == [
        units["worker11b"].pk,
        units["worker11"].pk,
        units["handler"].pk,
        units["worker12"].pk,
    ]
    for row in rows:
        assert row["distance_m"] == pytest.approx(distance_m(lon, lat, row["lon"], row["lat"]), abs=0.1)
    # offset() is a local flat approximation: the haversine distances agree within 0.5 %.
    assert [r["distance_m"] for r in rows] == pytest.approx([120, 300, 400, 900], rel=0.005)
    assert [r["user_id"] for r in selectors.nearest_units(units["operator"], case, limit=2)] == [
        units["worker11b"].pk,
        units["worker11"].pk,
    ]


def test_only_available_units_are_suggested(units, on_duty, category):
    case = report(units["operator"], *IN_GRID11, category)
    on_duty(units["worker11"], *IN_GRID11, status="busy")  # busy: not available
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16), tick=False):
        on_duty(units["worker11b"], *IN_GRID11)  # its fix is 16 minutes old
    on_duty(units["worker12"], *IN_GRID12)
    assert [r["user_id"] for r in selectors.nearest_units(units["operator"], case)] == [units["worker12"].pk]
    services.set_status(units["worker12"], "off_duty")
    assert selectors.nearest_units(units["operator"], case) == []


def test_nearest_respects_the_scope(units, on_duty, category):
    case = report(units["operator"], *IN_GRID12, category)  # grid12 borders grid21 (community 2)
    on_duty(units["worker12"], *IN_GRID12)
    on_duty(units["worker21"], *IN_GRID21)
    assert {r["user_id"] for r in selectors.nearest_units(units["operator"], case)} == {
        units["worker12"].pk,
        units["worker21"].pk,
    }
    # Community 1's operator does not see community 2's grid worker; community 2's sees no case.
    assert [r["user_id"] for r in selectors.nearest_units(units["operator1"], case)] == [units["worker12"].pk]
    assert selectors.nearest_units(units["operator2"], case) == []
    # Those outside the command center get none, even for a case they see.
    for name in ("worker11", "handler", "resident"):
        assert selectors.nearest_units(units[name], case) == []


def test_neighbours_share_a_border(two_communities):
    g = two_communities
    assert selectors.neighbour_grid_ids(g["grid11"]) == {g["grid11"].pk, g["grid12"].pk}
    assert selectors.neighbour_grid_ids(g["grid12"]) == {g["grid11"].pk, g["grid12"].pk, g["grid21"].pk}


def test_track_is_for_the_command_center_and_audited(units, on_duty):
    worker = on_duty(units["worker11"], *IN_GRID11)
    assert selectors.access_unit(units["worker12"], worker.pk) is None
    assert selectors.access_unit(units["operator2"], worker.pk) is None
    duty = selectors.access_unit(units["operator1"], worker.pk)
    assert duty is not None
    points = selectors.track(units["operator1"], duty)
    assert [(p.lon, p.lat) for p in points] == [IN_GRID11]
    entry = AuditEntry.objects.get(action="units.track_view")
    assert entry.actor_id == units["operator1"].pk and entry.detail["unit"] == worker.pk


def test_nearest_shows_no_unit_the_viewer_may_not_see(units, on_duty, category):
    """Regression: nearest_units suggested every department's handlers wherever they were, with
    their position, to an operator whose units list (the same scope rule) hides them."""
    case = report(units["operator"], *IN_GRID11, category)
    on_duty(units["handler"], *IN_GRID12)  # community 1: operator1's
    on_duty(units["handler_other"], *IN_GRID21)  # community 2: not operator1's
    for viewer, expected in (
        ("operator1", {units["handler"].pk}),
        ("operator", {units["handler"].pk, units["handler_other"].pk}),  # the street: both
    ):
        seen = {r["user_id"] for r in selectors.last_positions(units[viewer])}
        suggested = {r["user_id"] for r in selectors.nearest_units(units[viewer], case)}
        assert suggested == expected and suggested <= seen, viewer
