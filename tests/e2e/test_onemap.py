"""The one map and the big screen in a real browser, served by the real ASGI server (uvicorn, the
live feed over server-sent events): an operator sees grids and cases on the map; a case reported
through the API appears in their feed and on the map without a reload; an operator of another
community does not see it. Screenshots of the map and the big screen are saved for CI's artifacts
(README, "Screenshots")."""

from __future__ import annotations

import json
import urllib.request
from importlib import import_module
from typing import Any

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from shequ.accounts.models import Role
from shequ.cases.models import Category
from shequ.cases.services import intake
from tests.cases.conftest import IN_GRID11, IN_GRID12, case_departments, case_media  # noqa: F401 (fixtures)
from tests.e2e.conftest import PASSWORD, new_page, save_screenshot
from tests.live.conftest import asgi_server  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.slow,
    # Several browser pages, the feed's pump and the server's request thread at once: the SQLite
    # test database lives in memory, shared by all of them on one connection, which cannot take
    # concurrent transactions. CI runs this test in its PostgreSQL pass; a real SQLite file
    # (production) gives each thread its own connection.
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (SHEQU_DATABASE_URL): concurrent ASGI clients",
    ),
]


@pytest.fixture
def command_center(
    make_user: Any,
    community: dict[str, Any],
    case_departments: dict[str, Any],  # noqa: F811
) -> dict[str, Any]:
    from django.apps import apps

    # A transactional test before may have flushed the categories of migration cases/0002.
    import_module("shequ.cases.migrations.0002_default_categories").create_defaults(apps, None)
    operator = make_user(Role.COMMAND_OPERATOR, grids=(community["street"],), display_name="坐席甲")
    other = make_user(Role.COMMAND_OPERATOR, grids=(community["community2"],), display_name="坐席乙")
    garbage = Category.objects.get(kind="event", code="0102")
    for i, (lon, lat) in enumerate((IN_GRID11, IN_GRID12)):
        intake.report_case(
            actor=operator, source="hotline", description=f"已有案件 {i}", category=garbage, lon=lon, lat=lat
        )
    return {
        "operator": operator,
        "other": other,
        "token": Token.objects.create(user=operator).key,
        "category": garbage.pk,
    }


def log_in(page: Any, base: str, user: Any) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].btn-primary")
    page.wait_for_url(f"{base}/")


def open_map(page: Any, base: str) -> None:
    page.goto(f"{base}/onemap/")
    page.wait_for_selector("#feed-status[data-status='live']")


def report_through_the_api(base: str, token: str, category: int) -> dict[str, Any]:
    body = {
        "description": "一张图实时测试: 路边垃圾",
        "category": category,
        "lon": IN_GRID11[0] + 0.002,
        "lat": IN_GRID11[1],
    }
    request = urllib.request.Request(  # noqa: S310 (our own test server)
        f"{base}/api/cases/",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": "e2e-onemap",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310 (our own test server)
        assert answer.status == 201
        return json.loads(answer.read())


def test_a_new_case_reaches_the_map_and_the_feed_live_and_only_in_scope(
    command_center: dict[str, Any],  # first: the ORM is not called once Playwright's loop runs
    asgi_server: str,  # noqa: F811
    chromium: Any,
) -> None:
    base = asgi_server
    errors: list[str] = []
    page = new_page(chromium)
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, base, command_center["operator"])
    open_map(page, base)
    page.wait_for_function("() => Number(document.querySelector('#onemap-status')?.dataset.grids || 0) >= 4")
    page.wait_for_function("() => Number(document.querySelector('#onemap-status')?.dataset.cases || 0) >= 2")

    elsewhere = new_page(chromium)
    log_in(elsewhere, base, command_center["other"])
    open_map(elsewhere, base)

    case = report_through_the_api(base, command_center["token"], command_center["category"])
    number = case["number"]
    page.wait_for_selector(f".feed-item:has-text('{number}')", timeout=5_000)
    # The map counts it in place: as a marker of its own or in a cluster, whichever the zoom shows.
    page.wait_for_function(
        "() => Number(document.querySelector('#onemap-status')?.dataset.cases || 0) >= 3", timeout=5_000
    )
    assert page.url.endswith("/onemap/")  # no reload, no navigation
    save_screenshot(page, "onemap", full_page=False)

    elsewhere.wait_for_timeout(1_500)  # well past the feed's delivery to the first screen
    assert elsewhere.locator(f".feed-item:has-text('{number}')").count() == 0
    assert elsewhere.evaluate("() => document.querySelector('#onemap-status')?.dataset.cases") in (None, "0")

    screen = new_page(chromium, 1920, 1080)
    screen.on("pageerror", lambda e: errors.append(str(e)))
    log_in(screen, base, command_center["operator"])
    screen.goto(f"{base}/onemap/screen/")
    screen.wait_for_function(
        "() => document.querySelector(\"[data-kpi='now_open.open']\")?.textContent === '3'"
    )
    screen.wait_for_function(
        "() => (document.querySelector('#screen-map-status')?.textContent || '').includes('4')"
    )
    screen.wait_for_selector("#screen-live.live")
    save_screenshot(screen, "screen", full_page=False)
    assert errors == []
