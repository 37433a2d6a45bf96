"""The case loop through the pages, in a real browser: a grid worker reports a problem with a
photo and the phone's location, the command operator files and dispatches it, the department
handler accepts it and reports the result, the operator verifies and closes it; then the dashboard
draws its charts. Every step is a click on the pages (HTMX forms on the case page), with no script
error on any page."""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

import pytest

from shequ.accounts.models import Role
from tests.cases.conftest import IN_GRID11, case_departments, case_media  # noqa: F401 (fixtures)
from tests.conftest import SHARED_MEDIA
from tests.e2e.conftest import PASSWORD, _missing

pytestmark = pytest.mark.slow

PHOTO = SHARED_MEDIA / "DJI_0061.JPG"


@pytest.fixture
def people(make_user: Any, community: dict[str, Any], case_departments: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    # A transactional test that ran before (they flush the database) took the default categories
    # of migration cases/0002 with it; they are made again the way the migration makes them.
    from django.apps import apps

    import_module("shequ.cases.migrations.0002_default_categories").create_defaults(apps, None)
    return {
        "worker": make_user(Role.GRID_WORKER, grids=(community["grid11"],), display_name="网格员甲"),
        "operator": make_user(Role.COMMAND_OPERATOR, grids=(community["street"],), display_name="坐席乙"),
        "handler": make_user(
            Role.DEPARTMENT_HANDLER, department=case_departments["enforcement"], display_name="队员丙"
        ),
    }


def log_in(page: Any, base: str, user: Any) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].btn-primary")
    page.wait_for_url(f"{base}/")


def log_out(page: Any) -> None:
    page.click("form[action='/logout/'] button")
    page.wait_for_url(re.compile(r".*/login/.*"))


def act(page: Any, action: str, state: str, fill: dict[str, str] | None = None) -> None:
    """Submit one act's form on the case page and wait for HTMX to swap in the new state."""
    form = page.locator(f"form[data-act='{action}']")
    for selector, value in (fill or {}).items():
        if selector.startswith("select"):
            form.locator(selector).select_option(label=value)
        else:
            form.locator(selector).fill(value)
    form.locator("button[type=submit]").click()
    page.locator(f"#case-panel [data-case-state='{state}']").wait_for()


def test_case_loop_through_the_pages(people, live_server, browser_page, screenshot):
    if not PHOTO.exists():
        _missing(str(PHOTO), "the team's media belong in ../shared/media (or set SHEQU_SHARED_MEDIA)")
    page, base = browser_page, live_server.url
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The phone's GPS, in grid11 (the photo's own EXIF point is in Ohio: the fix wins).
    page.context.grant_permissions(["geolocation"], origin=base)
    page.context.set_geolocation({"longitude": IN_GRID11[0], "latitude": IN_GRID11[1], "accuracy": 10})

    # 1. The grid worker reports, on the phone-sized page.
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, base, people["worker"])
    page.goto(f"{base}/cases/report/")
    page.locator("[data-location-status]").filter(has_text="已定位").wait_for()
    assert page.input_value("input[name=lon]").startswith("103.605")
    assert page.locator(".report-pin").count() == 1  # the draggable marker on the map
    page.select_option("#id_category", label="暴露垃圾")
    page.fill("#id_description", "小区东门外垃圾堆积, 无人清运")
    page.set_input_files("#id_photos", str(PHOTO))
    screenshot("case-report")
    page.click("button[name=mode][value=report]")
    page.wait_for_url(re.compile(r".*/cases/\d+/reported/$"))
    number = page.locator("[data-case-number]").inner_text().strip()
    assert re.fullmatch(r"\d{13,}", number)
    screenshot("case-reported")
    log_out(page)

    # 2. The command operator files it and dispatches it to the enforcement squad.
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, base, people["operator"])
    page.click("nav >> text=案件列表")
    page.locator(f"tr[data-case='{number}'] a").first.click()
    page.wait_for_url(f"{base}/cases/{number}/")
    page.locator(".leaflet-container path.shequ-point-selected").wait_for(state="attached")
    # The photo's thumbnail is served (scoped, resized) and decodes in the browser.
    page.wait_for_function(
        "() => { const i = document.querySelector('.thumbs img'); return i && i.naturalWidth > 0; }"
    )
    act(page, "file", "filed")
    act(page, "dispatch", "dispatched", {"select[name='dispatch-department']": "城管执法中队"})
    assert "已办理: 派遣" in page.locator("#case-panel .alert-ok").inner_text()
    screenshot("case-dispatched")
    log_out(page)

    # 3. The department handler accepts it from the inbox and reports the result.
    log_in(page, base, people["handler"])
    page.click("nav >> text=部门待办")
    page.locator(f"tr[data-case='{number}'] a").first.click()
    act(page, "accept", "in_progress")
    act(page, "feedback", "handled", {"textarea[name='feedback-note']": "已组织清运, 现场清理干净"})
    log_out(page)

    # 4. The operator verifies and closes it; the timeline holds every step.
    log_in(page, base, people["operator"])
    page.goto(f"{base}/cases/{number}/")
    act(page, "verify_ok", "closed")
    timeline = page.locator("#case-timeline").inner_text()
    for step in ("上报", "立案", "派遣", "签收", "处置反馈", "核查通过", "队员丙", "坐席乙"):
        assert step in timeline
    screenshot("case-closed")

    # 5. The dashboard draws its charts.
    page.click("nav >> text=统计分析")
    charts = page.locator("[data-chart]")
    assert charts.count() == 4
    for i in range(4):
        charts.nth(i).locator("canvas").wait_for()
    screenshot("case-dashboard")
    assert errors == []
