"""The video pages in a real browser: the operator opens the wall, then a camera, draws a zone by
clicking on the snapshot, adds a rule and saves it; the stored settings hold the polygon. In the
alert queue the keys move the selection and confirm an alert (j, c), which becomes a case that
`o` opens. Screenshots: video-wall.png, video-camera.png, video-alerts.png."""

from __future__ import annotations

import json
import re
from importlib import import_module
from typing import Any

import pytest

from shequ.accounts.models import Role
from shequ.video import services
from tests.cases.conftest import IN_GRID11, IN_GRID12, case_departments, case_media  # noqa: F401 (fixtures)
from tests.e2e.conftest import PASSWORD
from tests.video.test_pages import alert_on, camera_at, scene

pytestmark = pytest.mark.slow


@pytest.fixture
def cameras(
    make_user: Any,
    community: dict[str, Any],
    case_departments: dict[str, Any],  # noqa: F811
    system_user: Any,
) -> dict[str, Any]:
    from django.apps import apps

    # A transactional test before may have flushed the categories of migration cases/0002.
    import_module("shequ.cases.migrations.0002_default_categories").create_defaults(apps, None)
    operator = make_user(Role.COMMAND_OPERATOR, grids=(community["street"],), display_name="坐席甲")
    first = camera_at("CAM-E2E-1", IN_GRID11, system_user, address="新区大道与幸福路口")
    second = camera_at("CAM-E2E-2", IN_GRID12, system_user)
    services.record_status(first.pk, "online")
    services.record_status(second.pk, "offline", "RTSP 连接超时")
    jpeg, _ = scene("parking", 5)
    services.store_latest_snapshot(first.pk, jpeg)
    alerts = [alert_on(first, 1), alert_on(second, 2, kind="crowd")]
    return {"operator": operator, "camera": first, "alerts": alerts}


def log_in(page: Any, base: str, user: Any) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].btn-primary")
    page.wait_for_url(f"{base}/")


def click_at(page: Any, selector: str, fx: float, fy: float, *, double: bool = False) -> None:
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
    if double:
        page.mouse.dblclick(x, y)
    else:
        page.mouse.click(x, y)


def test_draw_a_zone_and_confirm_an_alert_by_keys(cameras, live_server, browser_page, screenshot):
    page, base = browser_page, live_server.url
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The queue listens to the live feed (data-live); its server-sent events need the ASGI server
    # and PostgreSQL (tests/e2e/test_onemap.py): here the feed is refused, the pages work without.
    page.route("**/live/feed/**", lambda route: route.abort())
    log_in(page, base, cameras["operator"])

    # The wall: both cameras, one with its frame, one offline.
    page.click("nav >> text=视频墙")
    page.wait_for_url(f"{base}/video/")
    page.wait_for_function(
        "() => { const i = document.querySelector('.video-tile img'); return i && i.naturalWidth > 0; }"
    )
    assert page.locator(".video-tile").count() == 2
    assert page.locator(".video-tile[data-status='offline'] .video-placeholder").count() == 1
    screenshot("video-wall")

    # The camera: draw a triangle-ish zone with four clicks and a double-click, add a rule, save.
    camera = cameras["camera"]
    page.locator(f".video-tile[data-camera='{camera.pk}']").click()
    page.wait_for_url(f"{base}/video/cameras/{camera.pk}/")
    page.wait_for_function("() => document.querySelector('.video-stage-img').naturalWidth > 0")
    overlay = ".video-overlay"
    for fx, fy in ((0.2, 0.3), (0.6, 0.3), (0.7, 0.7)):
        click_at(page, overlay, fx, fy)
    click_at(page, overlay, 0.2, 0.7, double=True)
    assert page.locator("polygon.video-zone").count() == 1, errors
    page.fill("input[data-field='zones.0.name']", "消防通道")
    page.select_option("select[aria-label='添加规则']", "parking")
    page.fill("input[data-field='rules.0.min_minutes']", "0")  # below the minimum: refused per field
    page.click("button[data-save]")
    page.locator("[data-error-for='rules.0.min_minutes']").wait_for()
    page.fill("input[data-field='rules.0.min_minutes']", "3")
    page.click("button[data-save]")
    page.locator(".video-editor-status[data-saved]").wait_for()
    assert page.locator(".field-error").count() == 0
    screenshot("video-camera")

    # What the server stored, as the page draws it again.
    page.reload()
    stored = json.loads(page.locator("#video-editor-config").text_content())["analytics"]
    [zone] = stored["zones"]
    assert zone["name"] == "消防通道" and len(zone["polygon"]) == 4
    expected = [(0.2, 0.3), (0.6, 0.3), (0.7, 0.7), (0.2, 0.7)]
    for (x, y), (ex, ey) in zip(zone["polygon"], expected, strict=True):
        assert abs(x - ex) < 0.01 and abs(y - ey) < 0.01
    [rule] = stored["rules"]
    assert rule["kind"] == "parking" and rule["zone"] == zone["id"] and rule["min_minutes"] == 3

    # The queue: j moves to the second alert, k back; c confirms the first, o opens its case.
    page.click("nav >> text=告警研判")
    page.wait_for_url(f"{base}/video/alerts/")
    first, second = cameras["alerts"]
    page.locator(f"[data-alert='{first.pk}'].selected").wait_for()
    page.keyboard.press("j")
    page.locator(f"[data-alert='{second.pk}'].selected").wait_for()
    page.keyboard.press("k")
    page.locator(f"[data-alert='{first.pk}'].selected").wait_for()
    screenshot("video-alerts")
    page.keyboard.press("c")
    card = page.locator(f"[data-alert='{first.pk}'][data-state='confirmed']")
    card.wait_for()
    number = card.locator("a[data-open-case] .mono").inner_text().strip()
    assert re.fullmatch(r"\d{13,}", number)
    page.keyboard.press("o")
    page.wait_for_url(f"{base}/cases/{number}/")
    assert "视频监控" in page.locator("#case-panel").inner_text()
    assert errors == []
