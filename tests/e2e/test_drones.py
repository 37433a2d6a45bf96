"""The drone pages in a real browser: the mission page draws the grid, the route and its ground
coverage on the map; the plan form previews a survey of the grid chosen; on a flying flight's page
the drone's marker moves when a telemetry sample is posted (POST /api/drones/drones/<code>/telemetry/);
in the findings queue `c` confirms a finding into a case that `o` opens.
Screenshots: drones-mission.png, drones-flight.png, drones-findings.png."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib import import_module
from typing import Any

import pytest
from django.utils import timezone

from shequ.drones import telemetry
from shequ.drones.services import flights
from tests.drones.conftest import dock, drone, drone_media, grids, operator  # noqa: F401 (fixtures)
from tests.drones.test_pages import make_finding, make_photo, mission  # noqa: F401 (fixtures)
from tests.e2e.test_video import log_in

pytestmark = pytest.mark.slow


@pytest.fixture
def patrol(operator: Any, grids: dict[str, Any], drone: Any, mission: Any) -> dict[str, Any]:  # noqa: F811
    from django.apps import apps

    # A transactional test before may have flushed the categories of migration cases/0002.
    import_module("shequ.cases.migrations.0002_default_categories").create_defaults(apps, None)
    start = timezone.now() - dt.timedelta(minutes=2)
    flight = flights.start_flight(drone=drone, mission=mission, actor=operator, at=start)
    first = mission.route[0]
    telemetry.record_json(
        drone,
        [
            {
                "at": (start + dt.timedelta(seconds=s)).isoformat(),
                "lon": first[0] + s * 1e-5,
                "lat": first[1],
                "alt": 100.0,
                "armed": True,
            }
            for s in range(0, 30, 5)
        ],
    )
    photo = make_photo(flight, grids["grid1"])
    finding = make_finding(photo, grids["grid1"])
    return {
        "operator": operator,
        "grid2": grids["grid2"],
        "mission": mission,
        "flight": flight,
        "finding": finding,
        "drone": drone,
    }


def test_mission_map_live_flight_and_findings_queue(patrol, live_server, browser_page, screenshot):
    page, base = browser_page, live_server.url
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The live feed needs the ASGI server (tests/e2e/test_onemap.py): refused here, the flight page
    # then moves its marker from its own poll of the track.
    page.route("**/live/feed/**", lambda route: route.abort())
    log_in(page, base, patrol["operator"])

    # The fleet, then the mission: grid outline, coverage and route drawn as SVG paths.
    page.click("nav >> text=无人机巡查")
    page.wait_for_url(f"{base}/drones/")
    planned = patrol["mission"]
    page.click(f"#mission-table >> text={planned.code}")
    page.wait_for_url(f"{base}/drones/missions/{planned.pk}/")
    page.locator("#drones-map path.drones-route").wait_for()
    assert page.locator("#drones-map path.drones-coverage").count() == 1
    assert page.locator("#drones-map path.drones-grid").count() == 1
    assert page.locator("#drones-map path.drones-waypoint").count() == len(planned.route)
    box = page.locator("#drones-map path.drones-route").bounding_box()
    assert box["width"] > 100 and box["height"] > 50  # fitted to the grid, not a dot
    screenshot("drones-mission")

    # The plan form: choosing a grid previews its survey (POST /api/drones/missions/preview/).
    page.goto(f"{base}/drones/missions/new/")
    page.select_option("select[name=grids]", value=str(patrol["grid2"].pk))
    page.select_option("select[name=drone]", index=1)
    page.locator("#plan-status[data-previewed]").wait_for(state="attached")
    assert page.locator("#drones-map path.drones-route").count() == 1
    assert page.locator("#drones-map path.drones-coverage").count() == 1
    assert page.locator("[data-preview=photos]").inner_text() not in ("", "—")

    # The flight: the marker stands at the last sample; a new sample moves it.
    flight, aircraft = patrol["flight"], patrol["drone"]
    page.goto(f"{base}/drones/flights/{flight.pk}/")
    marker = page.locator("#drones-map .drones-marker")
    marker.wait_for()
    before = float(marker.get_attribute("data-lon"))
    track_before = page.locator("#drones-map path.drones-track").get_attribute("d")
    lon, lat = before + 0.001, float(marker.get_attribute("data-lat")) + 0.0005
    sample = {"at": timezone.now().isoformat(), "lon": lon, "lat": lat, "alt": 100.0, "armed": True}
    answer = page.evaluate(
        """async ([url, body]) => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const r = await fetch(url, {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRFToken": token}, body});
            return {status: r.status, body: await r.json()};
        }""",
        [f"/api/drones/drones/{aircraft.code}/telemetry/", json.dumps(sample)],
    )
    assert answer["status"] == 200, answer
    assert answer["body"]["points"] == 1
    page.wait_for_function(
        "(lon) => Math.abs(Number(document.querySelector('#drones-map .drones-marker').dataset.lon) - lon)"
        " < 1e-6",
        arg=lon,
        timeout=15_000,
    )
    assert page.locator("#drones-map path.drones-track").get_attribute("d") != track_before
    screenshot("drones-flight")

    # The findings queue: c confirms the selected finding into a case, o opens it.
    finding = patrol["finding"]
    page.click("nav >> text=航拍发现")
    page.wait_for_url(f"{base}/drones/findings/")
    page.locator(f"[data-alert='{finding.pk}'].selected").wait_for()
    page.wait_for_function("() => document.querySelector('.drones-crop').naturalWidth > 0")
    screenshot("drones-findings")
    page.keyboard.press("c")
    card = page.locator(f"[data-alert='{finding.pk}'][data-state='confirmed']")
    card.wait_for()
    number = card.locator("a[data-open-case] .mono").inner_text().strip()
    assert re.fullmatch(r"\d{13,}", number)
    page.keyboard.press("o")
    page.wait_for_url(f"{base}/cases/{number}/")
    assert "无人机" in page.locator("#case-panel").inner_text()
    assert errors == []
