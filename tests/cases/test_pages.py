"""The case pages (docs/pages.md): who may open which, the scope of what they show, acts posted
from the detail page, refusals with their status, the report page's idempotency, the resident's
pages and the dashboard. Data is made through the services, as the pages make it."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from shequ.accounts.models import Role
from shequ.cases.models import Case, CaseState, Category, HistoryEntry, Source
from shequ.cases.services import intake, workflow
from tests.cases.conftest import IN_GRID11, IN_GRID21, make_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(case_users: dict[str, Any]) -> dict[str, Any]:
    return case_users


@pytest.fixture
def login(client: Any) -> Any:
    def as_user(user: Any) -> Any:
        client.force_login(user)
        return client

    return as_user


def report(actor: Any, where: tuple[float, float] = IN_GRID11, **kwargs: Any) -> Case:
    category = kwargs.pop("category", None) or Category.objects.get(kind="event", code="0102")
    kwargs.setdefault("source", Source.RESIDENT if actor.role == Role.RESIDENT else Source.GRID_WORKER)
    case, _created = intake.report_case(
        actor=actor,
        description=kwargs.pop("description", "小区门口垃圾堆积"),
        category=category,
        lon=where[0],
        lat=where[1],
        **kwargs,
    )
    return case


def fresh(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


def to_closed(case: Case, users: dict[str, Any], departments: dict[str, Any]) -> Case:
    """Through the whole loop with the services, as the pages do one act at a time."""
    operator, handler = users["operator"], users["handler"]
    workflow.file_case(fresh(case), actor=operator)
    workflow.dispatch_case(fresh(case), departments["enforcement"], actor=operator)
    workflow.accept_case(fresh(case), actor=handler)
    workflow.feedback_case(fresh(case), actor=handler, result="已清运完毕")
    workflow.verify_case(fresh(case), actor=operator, ok=True)
    return fresh(case)


# --- who may open which page ---------------------------------------------------------------------

PAGES: dict[str, dict[str, int]] = {
    # url: {user key: status}
    "/cases/": {"operator": 200, "leader": 200, "worker11": 200, "handler": 200, "resident": 403},
    "/cases/inbox/": {"operator": 403, "leader": 403, "worker11": 200, "handler": 200, "resident": 403},
    "/cases/report/": {"operator": 200, "leader": 403, "worker11": 200, "handler": 403, "resident": 200},
    "/cases/mine/": {"operator": 200, "leader": 200, "worker11": 200, "handler": 200, "resident": 200},
    "/cases/dashboard/": {"operator": 200, "leader": 200, "worker11": 403, "handler": 403, "resident": 403},
    "/cases/dashboard/export.xlsx": {"operator": 200, "leader": 200, "worker11": 403, "resident": 403},
}


@pytest.mark.parametrize(
    "url, who, status",
    [(url, who, status) for url, expected in PAGES.items() for who, status in expected.items()],
)
def test_pages_per_role(url, who, status, users, login):
    assert login(users[who]).get(url).status_code == status


@pytest.mark.parametrize("url", list(PAGES))
def test_pages_ask_to_log_in(url, client):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_list_and_detail_are_scoped(users, login):
    mine = report(users["worker11"], IN_GRID11, description="一网格的垃圾")
    other = report(users["worker21"], IN_GRID21, description="二社区的垃圾")

    page = login(users["worker11"]).get("/cases/").text
    assert mine.number in page and other.number not in page
    assert login(users["worker11"]).get(f"/cases/{other.number}/").status_code == 404
    assert login(users["worker11"]).get(f"/cases/{mine.pk}/").status_code == 200  # by id too

    page = login(users["operator"]).get("/cases/").text
    assert mine.number in page and other.number in page
    # A department sees nothing that was never dispatched to it.
    assert mine.number not in login(users["handler"]).get("/cases/").text
    assert login(users["handler"]).get(f"/cases/{mine.number}/").status_code == 404


def test_list_filters_and_state_tabs(users, login):
    a = report(users["worker11"], description="甲")
    b = report(users["worker11"], description="乙", urgency="urgent")
    workflow.file_case(fresh(b), actor=users["operator"])
    client = login(users["operator"])

    response = client.get("/cases/", {"state": "filed"})
    numbers = [c.number for c in response.context["page"]]
    assert numbers == [b.number]
    tabs = {value: n for value, _label, n in response.context["tabs"]}
    assert tabs["reported"] == 1 and tabs["filed"] == 1  # the tabs count every state
    assert 'href="?state=reported"' in response.text

    assert [c.number for c in client.get("/cases/", {"q": a.number}).context["page"]] == [a.number]
    assert client.get("/cases/", {"supervised": "on"}).context["page"].paginator.count == 0
    # A bad filter value is shown as an error and ignored, never a server error.
    response = client.get("/cases/", {"start": "not-a-date"})
    assert response.status_code == 200 and response.context["page"].paginator.count == 2


def test_overdue_rows_are_highlighted(users, login):
    case = report(users["worker11"])
    Case.objects.filter(pk=case.pk).update(due_at="2020-01-01T00:00:00Z")
    response = login(users["operator"]).get("/cases/", {"overdue": "on"})
    assert [c.number for c in response.context["page"]] == [case.number]
    assert re.search(rf'<tr class="row-overdue" data-case="{case.number}">', response.text)


# --- the detail page and its acts ----------------------------------------------------------------


def test_detail_shows_facts_map_timeline_and_allowed_acts(users, login):
    photo = SimpleUploadedFile("p.jpg", make_jpeg(), content_type="image/jpeg")
    case = report(users["worker11"], photos=[photo])
    response = login(users["operator"]).get(f"/cases/{case.number}/")
    page = response.text
    assert response.status_code == 200
    assert "小区门口垃圾堆积" in page and "暴露垃圾" in page
    assert [a["action"].value for a in response.context["acts"]] == ["file", "reject", "merge", "note"]
    assert 'data-act="file"' in page and 'hx-post="/cases/' in page
    data = json.loads(
        re.search(r'<script id="case-map" type="application/json">(.*?)</script>', page).group(1)
    )
    kinds = sorted(f["properties"]["kind"] for f in data["features"])
    assert kinds == ["grid", "point"]
    evidence = case.evidence.get()
    assert f"/cases/{case.number}/photos/{evidence.pk}/?thumb=1" in page
    thumb = login(users["operator"]).get(f"/cases/{case.number}/photos/{evidence.pk}/?thumb=1")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    # The photo is the case's: out of scope it is not found either.
    assert login(users["worker21"]).get(f"/cases/{case.number}/photos/{evidence.pk}/").status_code == 404


def test_act_posted_from_the_detail_page_changes_the_case_and_is_in_the_timeline(
    users, login, case_departments
):
    case = report(users["worker11"])
    client = login(users["operator"])

    response = client.post(f"/cases/{case.number}/act/file/", {"file-urgency": "normal", "file-note": "属实"})
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.number}/"
    assert fresh(case).state == CaseState.FILED

    # HTMX: the answer is the swapped panel itself.
    response = client.post(
        f"/cases/{case.number}/act/dispatch/",
        {"dispatch-department": case_departments["enforcement"].pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="case-panel"')
    assert 'data-case-state="dispatched"' in response.text
    assert fresh(case).department == case_departments["enforcement"]

    page = client.get(f"/cases/{case.number}/").text
    timeline = page[page.index('class="timeline"') :]
    assert "立案" in timeline and "派遣" in timeline and "坐席小王" in timeline
    assert HistoryEntry.objects.filter(case=case, action="dispatch").exists()


def test_illegal_act_is_a_409_message_and_changes_nothing(users, login, case_departments):
    case = report(users["worker11"])
    before = HistoryEntry.objects.filter(case=case).count()
    client = login(users["operator"])

    # Dispatch before filing: the state does not allow it.
    response = client.post(
        f"/cases/{case.number}/act/dispatch/", {"dispatch-department": case_departments["enforcement"].pk}
    )
    assert response.status_code == 409
    assert "不能派遣" in response.text and 'class="alert alert-error"' in response.text
    assert fresh(case).state == CaseState.REPORTED
    assert HistoryEntry.objects.filter(case=case).count() == before

    response = client.post(
        f"/cases/{case.number}/act/dispatch/",
        {"dispatch-department": case_departments["enforcement"].pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409 and response.text.lstrip().startswith('<div id="case-panel"')


def test_act_of_another_role_is_403_and_invalid_form_is_422(users, login, case_departments):
    case = report(users["worker11"])
    workflow.file_case(fresh(case), actor=users["operator"])
    workflow.dispatch_case(fresh(case), case_departments["enforcement"], actor=users["operator"])
    # The grid worker sees the case but may not accept it for the department.
    response = login(users["worker11"]).post(f"/cases/{case.number}/act/accept/")
    assert response.status_code == 403 and "无权" in response.text
    # A return needs its reason.
    response = login(users["handler"]).post(f"/cases/{case.number}/act/return/", {"return-note": ""})
    assert response.status_code == 422
    assert fresh(case).state == CaseState.DISPATCHED
    # An unknown act is not found.
    assert login(users["operator"]).post(f"/cases/{case.number}/act/explode/").status_code == 404
    assert login(users["operator"]).get(f"/cases/{case.number}/act/file/").status_code == 405


def test_handler_accepts_and_feeds_back_with_a_photo(users, login, case_departments):
    case = report(users["worker11"])
    workflow.file_case(fresh(case), actor=users["operator"])
    workflow.dispatch_case(fresh(case), case_departments["enforcement"], actor=users["operator"])
    client = login(users["handler"])
    inbox = client.get("/cases/inbox/").text
    assert case.number in inbox

    assert client.post(f"/cases/{case.number}/act/accept/").status_code == 302
    photo = SimpleUploadedFile("after.jpg", make_jpeg(), content_type="image/jpeg")
    response = client.post(
        f"/cases/{case.number}/act/feedback/", {"feedback-note": "垃圾已清运", "feedback-photos": [photo]}
    )
    assert response.status_code == 302
    case = fresh(case)
    assert case.state == CaseState.HANDLED
    assert case.evidence.filter(kind="result").count() == 1
    page = client.get(f"/cases/{case.number}/").text
    assert "垃圾已清运" in page

    # The grid worker verifies in their grid, from their inbox.
    worker = login(users["worker11"])
    assert case.number in worker.get("/cases/inbox/").text
    assert (
        worker.post(f"/cases/{case.number}/act/verify_ok/", {"verify_ok-note": "现场已干净"}).status_code
        == 302
    )
    assert fresh(case).state == CaseState.CLOSED


# --- report page ---------------------------------------------------------------------------------


def report_form(client: Any, **data: Any) -> dict[str, Any]:
    response = client.get("/cases/report/")
    key = response.context["form"]["idempotency_key"].value()
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    category = Category.objects.get(kind="event", code="0102")
    return {
        "idempotency_key": key,
        "category": category.pk,
        "description": "路口有一堆建筑垃圾",
        "urgency": "normal",
        "lon": IN_GRID11[0],
        "lat": IN_GRID11[1],
        **data,
    }


def test_report_page_creates_one_case_for_a_repeated_key(users, login):
    client = login(users["worker11"])
    data = report_form(client)
    first = client.post("/cases/report/", data | {"source": "grid_worker", "mode": "report"})
    second = client.post("/cases/report/", data | {"source": "grid_worker", "mode": "report"})
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    case = Case.objects.get()
    assert first["Location"] == f"/cases/{case.number}/reported/"
    assert case.source == Source.GRID_WORKER and case.grid is not None
    done = client.get(first["Location"]).text
    assert case.number in done


def test_report_page_without_location_takes_it_from_the_photos_exif(users, login):
    client = login(users["resident"])
    # 36°30'18" N, 103°36'18" E: inside grid11.
    jpeg = make_jpeg(gps=("N", (36.0, 30.0, 18.0), "E", (103.0, 36.0, 18.0)))
    data = report_form(client, lon="", lat="")
    response = client.post(
        "/cases/report/", data | {"source": "resident", "photos": [SimpleUploadedFile("a.jpg", jpeg)]}
    )
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.source == Source.RESIDENT and case.reporter == users["resident"]
    assert case.lat == pytest.approx(36.505) and case.lon == pytest.approx(103.605)


def test_report_page_refusals_are_shown(users, login):
    client = login(users["worker11"])
    # Outside the worker's grids: the service refuses (403), the page says why, nothing is made.
    data = report_form(client, lon=IN_GRID21[0], lat=IN_GRID21[1])
    response = client.post("/cases/report/", data | {"source": "grid_worker"})
    assert response.status_code == 403 and "不在您负责的网格内" in response.text
    # Not an image.
    data = report_form(client)
    bad = SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")
    response = client.post("/cases/report/", data | {"source": "grid_worker", "photos": [bad]})
    assert response.status_code == 422
    # A resident may not pose as the hotline.
    data = report_form(login(users["resident"]))
    assert client.post("/cases/report/", data | {"source": "hotline"}).status_code == 422
    assert not Case.objects.exists()


def test_report_page_self_handled_by_the_grid_worker(users, login):
    client = login(users["worker11"])
    data = report_form(client)
    response = client.post(
        "/cases/report/", data | {"source": "grid_worker", "mode": "self", "result": "已当场清理"}
    )
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.state == CaseState.CLOSED and case.self_handled
    # Only grid workers handle on the spot.
    resident = login(users["resident"])
    data = report_form(resident)
    response = resident.post("/cases/report/", data | {"source": "resident", "mode": "self", "result": "x"})
    assert response.status_code == 403
    assert Case.objects.count() == 1


# --- resident pages ------------------------------------------------------------------------------


def test_resident_sees_own_reports_with_a_safe_timeline_and_rates(users, login, case_departments):
    case = report(users["resident"])
    other = report(users["resident2"])
    client = login(users["resident"])
    page = client.get("/cases/mine/").text
    assert case.number in page and other.number not in page
    assert client.get(f"/cases/{other.number}/").status_code == 404

    case = to_closed(case, users, case_departments)
    page = client.get(f"/cases/{case.number}/").text
    assert "城管执法中队" in page  # the department is named
    assert "坐席小王" not in page and users["handler"].username not in page  # people are not
    assert 'id="rate"' in page

    response = client.post(
        f"/cases/{case.number}/act/callback/", {"callback-satisfaction": "satisfied", "callback-note": "很快"}
    )
    assert response.status_code == 302
    assert fresh(case).satisfaction == "satisfied"
    page = client.get(f"/cases/{case.number}/").text
    assert 'id="rate"' not in page and "满意" in page
    # Rated once: a second rating is refused with the page's message.
    response = client.post(f"/cases/{case.number}/act/callback/", {"callback-satisfaction": "dissatisfied"})
    assert response.status_code in (403, 409)
    assert fresh(case).satisfaction == "satisfied"
    # A resident does no other act.
    assert client.post(f"/cases/{case.number}/act/reopen/", {"reopen-note": "x"}).status_code == 403


# --- dashboard -----------------------------------------------------------------------------------


def test_dashboard_renders_charts_and_exports(users, login, case_departments):
    to_closed(report(users["worker11"]), users, case_departments)
    report(users["resident"], IN_GRID21)
    client = login(users["operator"])
    response = client.get("/cases/dashboard/", {"period": "week", "group_by": "department"})
    assert response.status_code == 200
    page = response.text
    for chart in ("chart-daily", "chart-share", "chart-rates", "chart-handling"):
        assert f'data-chart="{chart}"' in page
        assert f'<script id="{chart}" type="application/json">' in page
    assert "build/dashboard.js" in page
    charts = response.context["charts"]
    assert charts["daily"]["stacked"] is True and charts["rates"]["percent"] is True

    export = client.get("/cases/dashboard/export.xlsx", {"group_by": "source", "period": "day"})
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.content)).active
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["日期", "来源"] and "结案率" in header
    # A bad range is an error on the page, not a server error.
    response = client.get("/cases/dashboard/", {"start": "2026-05-01", "end": "2026-04-01"})
    assert response.status_code == 200 and "结束日期不能早于开始日期" in response.text


# --- query counts --------------------------------------------------------------------------------


def test_list_query_count_does_not_grow_with_rows(users, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(users["operator"])
    report(users["worker11"])
    client.get("/cases/")  # warm the session
    with CaptureQueriesContext(connection) as few:
        client.get("/cases/")
    for n in range(60):
        report(users["worker11"], description=f"第{n}处垃圾", idempotency_key=f"k{n}")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/cases/")
    assert len(response.context["page"].object_list) == 50
    assert len(few) == len(many) == QUERIES_CASE_LIST, [q["sql"] for q in many.captured_queries]


# session, user, category choices, scope (assignments, grids), state counts, page count, page rows,
# grid and department choices, and the session saved again (savepoint, update, release).
QUERIES_CASE_LIST = 13


# --- English ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, url",
    [
        ("operator", "/cases/"),
        ("operator", "/cases/report/"),
        ("operator", "/cases/dashboard/"),
        ("handler", "/cases/inbox/"),
        ("worker11", "/cases/inbox/"),
        ("worker11", "/cases/report/"),
        ("resident", "/cases/mine/"),
    ],
)
def test_case_pages_render_fully_in_english(who, url, users, client):
    """With no case data every word on the page is UI text, so none may stay Chinese (the default
    categories are data: set aside, subclasses first)."""
    from tests.web.test_i18n import switch_to_english, untranslated

    Category.objects.filter(parent__isnull=False).delete()
    Category.objects.all().delete()
    user = users[who]
    user.display_name = ""
    user.save(update_fields=["display_name"])
    client.force_login(user)
    switch_to_english(client)
    response = client.get(url)
    assert response.status_code == 200 and 'lang="en"' in response.text
    # Grid and department names in filters and maps are data too.
    page = re.sub(r"<option[^>]*>[^<]*</option>", "", response.text)
    page = re.sub(r'<script id="[^"]*" type="application/json">.*?</script>', "", page, flags=re.S)
    assert untranslated(page) == []
