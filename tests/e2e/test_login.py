"""A grid worker logs in with a real browser, sees their grid on the map and only their people."""

from __future__ import annotations

from typing import Any

import pytest

from shequ.accounts.models import Role

pytestmark = pytest.mark.slow


@pytest.fixture
def worker(make_user: Any, community: dict[str, Any]) -> Any:
    return make_user(Role.GRID_WORKER, grids=(community["grid11"],), display_name="网格员甲")


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit].btn-primary")


def test_grid_worker_home_map_and_people(worker, community, live_server, browser_page, screenshot):
    from tests.e2e.conftest import PASSWORD

    grid = community["grid11"]
    page = browser_page
    log_in(page, live_server.url, worker.username, PASSWORD)
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1.page-title").inner_text().startswith("我的网格")

    # The small map drew the grid polygon as an SVG path, with no tile layer (offline).
    grid_path = page.locator(".leaflet-container path.shequ-grid")
    grid_path.first.wait_for(state="attached")
    assert grid_path.count() == 1
    assert page.locator(".leaflet-tile").count() == 0
    screenshot("home-grid-worker")

    page.click("nav >> text=人口")
    page.wait_for_url(f"{live_server.url}/registry/people/")
    rows = page.locator("table.table tbody tr")
    names = rows.locator("td:first-child a").all_inner_texts()
    assert sorted(names) == sorted([community["wang"].name, community["li"].name])
    assert community["zhao"].name not in page.content()
    assert community["wang"].id_number not in page.content()
    screenshot("people-list")

    page.goto(f"{live_server.url}/grids/{grid.code}/")
    page.locator(".leaflet-container path.shequ-grid-selected").wait_for(state="attached")
    assert page.locator(".leaflet-container path.shequ-building").count() == 1
    screenshot("grid-page")


def test_wrong_password_then_english(worker, live_server, browser_page, screenshot):
    page = browser_page
    log_in(page, live_server.url, worker.username, "not-the-password-1")
    assert "用户名或密码错误" in page.locator(".alert-error").inner_text()
    page.click("button.lang-btn[value=en]")
    page.wait_for_load_state()
    assert "Community Governance Platform" in page.locator("h1").inner_text()
    screenshot("login-en")
