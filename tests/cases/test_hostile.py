"""Hostile input on the case pages and the case API: junk ids and numbers in URLs, junk act names,
junk filters and pages, files that are not images, bodies that are not objects, absurd
Idempotency-Keys. Each is a 4xx with nothing written, never a 500 (the clients do not raise, so a
500 shows as a status)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from shequ.cases.models import Case, CaseState, Evidence, HistoryEntry
from shequ.cases.services import intake, workflow
from tests.cases.conftest import IN_GRID11, make_jpeg, stored_files

pytestmark = pytest.mark.django_db

HUGE = "9" * 30  # beyond any integer column
BROKEN_PNG = b"\x89PNG\r\n\x1a\n broken"
JUNK_REFS = ["abc", HUGE, "-1", "0", "%00", "%E2%80%AE1", "1.5", "x" * 300]


@pytest.fixture
def case(case_users: dict[str, Any], case_categories: dict[str, Any]) -> Case:
    made, _created = intake.report_case(
        actor=case_users["operator"],
        source="hotline",
        description="楼下垃圾堆放",
        category=case_categories["暴露垃圾"],
        lon=IN_GRID11[0],
        lat=IN_GRID11[1],
        photos=[make_jpeg()],
    )
    return made


def page_client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def api_client(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def history(case: Case) -> int:
    return HistoryEntry.objects.filter(case=case).count()


# --- pages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", JUNK_REFS)
def test_junk_case_refs_on_pages_are_404(ref, case, case_users):
    operator = page_client(case_users["operator"])
    for url in (f"/cases/{ref}/", f"/cases/{ref}/reported/", f"/cases/{ref}/photos/1/"):
        assert operator.get(url).status_code == 404, url
    assert operator.post(f"/cases/{ref}/act/note/", {"note-note": "x"}).status_code == 404
    assert history(case) == 1


@pytest.mark.parametrize("action", ["bogus", "report", "handle_on_the_spot", "%00", "FILE", "x" * 200])
def test_junk_act_names_are_404_and_change_nothing(action, case, case_users):
    response = page_client(case_users["operator"]).post(f"/cases/{case.number}/act/{action}/", {})
    assert response.status_code == 404
    assert Case.objects.get(pk=case.pk).state == CaseState.REPORTED and history(case) == 1


def test_a_photo_id_beyond_any_integer_is_404(case, case_users):
    operator = page_client(case_users["operator"])
    evidence = Evidence.objects.get(case=case)
    assert operator.get(f"/cases/{case.number}/photos/{evidence.pk}/").status_code == 200
    assert operator.get(f"/cases/{case.number}/photos/{HUGE}/").status_code == 404
    assert operator.get(f"/cases/{case.number}/photos/{HUGE}/?thumb=1").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "state=bogus&source=nope&category=abc&grid=zzz&department=%00&start=notadate&end=2026-13-45",
        "q=%00&overdue=maybe&supervised=%FF",
        "category=" + HUGE + "&grid=" + HUGE + "&department=" + HUGE,
        "page=-1",
        "page=" + HUGE,
        "page=abc",
        "q=" + "长" * 5000,
    ],
)
def test_junk_filters_and_pages_on_the_list_still_answer(query, case, case_users):
    for who in ("operator", "handler", "worker11"):
        response = page_client(case_users[who]).get(f"/cases/?{query}")
        assert response.status_code == 200, (who, query)
    for url in ("/cases/inbox/", "/cases/mine/"):
        response = page_client(case_users["handler"]).get(f"{url}?{query}&tab=%00")
        assert response.status_code == 200, (url, query)


def test_the_list_filters_overdue_as_the_api(case, case_users):
    """One rule (selectors.overdue_q): an open case past its due is overdue on both."""
    Case.objects.filter(pk=case.pk).update(due_at=case.created_at.replace(year=2020))
    page = page_client(case_users["operator"]).get("/cases/?overdue=on")
    api = api_client(case_users["operator"]).get("/api/cases/?overdue=true")
    assert case.number in page.content.decode()
    assert [c["number"] for c in api.json()["results"]] == [case.number]
    assert api.json()["results"][0]["overdue"] is True


def test_report_page_refuses_a_non_image_and_a_nul_description(case_users, case_media):
    worker = page_client(case_users["worker11"])
    data = {"source": "grid_worker", "lon": IN_GRID11[0], "lat": IN_GRID11[1], "idempotency_key": "k1"}
    fake = SimpleUploadedFile("x.jpg", b"%PDF-1.4 not an image", content_type="image/jpeg")
    response = worker.post("/cases/report/", data | {"description": "井盖缺失", "photos": [fake]})
    assert response.status_code == 422
    response = worker.post("/cases/report/", data | {"description": "井盖\x00缺失"})
    assert response.status_code == 422
    response = worker.post("/cases/report/", data | {"description": "x", "mode": "self", "result": ""})
    assert response.status_code == 422  # on the spot, with no result
    assert Case.objects.count() == 0 and stored_files(case_media) == []


def test_an_act_with_a_non_image_or_junk_fields_is_422_and_stores_nothing(case, case_users, case_media):
    operator, handler = page_client(case_users["operator"]), page_client(case_users["handler"])
    before = stored_files(case_media)
    response = operator.post(f"/cases/{case.number}/act/supervise/", {"supervise-level": "abc"})
    assert response.status_code == 422
    response = operator.post(f"/cases/{case.number}/act/merge/", {"merge-into": "\x00" * 3})
    assert response.status_code == 422
    workflow.file_case(case, actor=case_users["operator"])
    workflow.dispatch_case(case, case_users["handler"].department, actor=case_users["operator"])
    workflow.accept_case(case, actor=case_users["handler"])
    response = handler.post(
        f"/cases/{case.number}/act/feedback/",
        {
            "feedback-note": "已处理",
            "feedback-photos": [SimpleUploadedFile("v.png", b"\x89PNG\r\n\x1a\n broken")],
        },
    )
    assert response.status_code == 422
    assert Case.objects.get(pk=case.pk).state == CaseState.IN_PROGRESS
    assert stored_files(case_media) == before


# --- API ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", JUNK_REFS)
def test_junk_case_ids_in_the_api_are_404(ref, case, case_users):
    operator = api_client(case_users["operator"])
    assert operator.get(f"/api/cases/{ref}/").status_code == 404
    assert operator.get(f"/api/cases/{ref}/photos/1/").status_code == 404
    response = operator.post(f"/api/cases/{ref}/notes/", {"text": "x"}, format="json")
    assert response.status_code == 404
    assert history(case) == 1


@pytest.mark.parametrize("junk", ["abc", HUGE, "-1", "%00"])
def test_junk_photo_and_extension_ids_in_the_api_are_404(junk, case, case_users):
    operator = api_client(case_users["operator"])
    assert operator.get(f"/api/cases/{case.pk}/photos/{junk}/").status_code == 404
    response = operator.post(f"/api/cases/{case.pk}/extensions/{junk}/grant/", {}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=0",
        "offset=-1",
        "offset=" + HUGE,
        "overdue=maybe",
        "q=a%00b",
        "category=" + HUGE,
        "created_after=yesterday",
        "bbox=1,2,3",
        "state=" + "x" * 5000,
    ],
)
def test_junk_api_filters_are_400(query, case, case_users):
    response = api_client(case_users["operator"]).get(f"/api/cases/?{query}")
    assert response.status_code == 400, (query, response.status_code)
    assert response.json()["detail"]


def test_an_unknown_grid_code_lists_nothing(case, case_users):
    response = api_client(case_users["operator"]).get("/api/cases/?grid=NOPE")
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"1", b"[{}]", b"\xff\xfe"])
def test_a_json_body_that_is_not_an_object_is_400(raw, case, case_users):
    operator = api_client(case_users["operator"])
    for url in ("/api/cases/", f"/api/cases/{case.pk}/notes/", f"/api/cases/{case.pk}/file/"):
        response = operator.post(url, raw, content_type="application/json")
        assert response.status_code == 400, (url, raw, response.status_code)
    assert Case.objects.count() == 1 and history(case) == 1


@pytest.mark.parametrize(
    "data, field",
    [
        ({"description": "井盖\x00缺失"}, "description"),
        ({"description": "x", "lon": "NaN", "lat": 36.5}, "lon"),
        ({"description": "x", "lon": "Infinity", "lat": 36.5}, "lon"),
        ({"description": "x", "photos": "not a file"}, "photos"),
        ({"description": "x", "reporter_confidential": "perhaps"}, "reporter_confidential"),
        ({"description": "x", "category": -3}, "category"),
    ],
)
def test_wrong_types_in_a_report_are_4xx_and_write_nothing(data, field, case_users):
    response = api_client(case_users["operator"]).post("/api/cases/", data, format="json")
    assert 400 <= response.status_code < 500, (data, response.status_code)
    assert response.json()["field"] == field
    assert Case.objects.count() == 0


def test_duplicate_keys_and_unicode_in_a_report(case_users):
    raw = '{"description": "first", "description": "最后一个 🚧 ​", "title": "\u202eRTL"}'.encode()
    response = api_client(case_users["operator"]).post("/api/cases/", raw, content_type="application/json")
    assert response.status_code == 201
    assert Case.objects.get().description == "最后一个 🚧 ​".strip()


@pytest.mark.parametrize("key", ["k" * 10_000, "abc\x00def", "\x00", "key\nnext", "tab\there"])
def test_an_absurd_idempotency_key_is_400(key, case_users):
    response = api_client(case_users["operator"]).post(
        "/api/cases/", {"description": "x"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400 and response.json()["field"] == "Idempotency-Key"
    assert Case.objects.count() == 0


def test_multipart_with_a_non_image_is_422_and_stores_nothing(case, case_users, case_media):
    workflow.file_case(case, actor=case_users["operator"])
    department = case_users["handler"].department
    workflow.dispatch_case(case, department, actor=case_users["operator"])
    workflow.accept_case(case, actor=case_users["handler"])
    before = stored_files(case_media)
    handler = api_client(case_users["handler"])
    for name, content in [
        ("a.jpg", b"<?php echo 1; ?>"),
        ("b.png", b""),
        ("c.webp", b"RIFF\x00\x00\x00\x00WEBP"),
    ]:
        upload = io.BytesIO(content)
        upload.name = name
        response = handler.post(
            f"/api/cases/{case.pk}/feedback/", {"result": "已处理", "photos": [upload]}, format="multipart"
        )
        assert response.status_code in (400, 422), (name, response.status_code)
        assert response.json()["field"] == "photos"
    text_only = handler.post(f"/api/cases/{case.pk}/photos/", {"photo": "not a file"}, format="multipart")
    assert text_only.status_code == 400
    assert Case.objects.get(pk=case.pk).state == CaseState.IN_PROGRESS
    assert stored_files(case_media) == before


def test_a_resident_sees_neither_verify_photos_nor_staff_names(case_users, case_categories, case_media):
    """The API shows a reporter what their page shows (selectors.photos_for, reporter_history)."""
    resident = case_users["resident"]
    made, _created = intake.report_case(
        actor=resident, source="resident", description="路灯不亮", category=case_categories["暴露垃圾"]
    )
    intake.add_evidence(made, make_jpeg(), actor=case_users["operator"], kind=Evidence.Kind.VERIFY)
    workflow.add_note(made, actor=case_users["operator"], text="内部备注: 联系物业")
    verify = Evidence.objects.get(case=made, kind=Evidence.Kind.VERIFY)
    client = api_client(resident)
    shown = client.get(f"/api/cases/{made.pk}/").json()
    assert [e["kind"] for e in shown["evidence"]] == []
    assert [h["action"] for h in shown["history"]] == ["report"]
    assert "坐席小王" not in json.dumps(shown, ensure_ascii=False)
    assert client.get(f"/api/cases/{made.pk}/photos/{verify.pk}/").status_code == 404
    assert page_client(resident).get(f"/cases/{made.number}/photos/{verify.pk}/").status_code == 404
    staff = api_client(case_users["operator"]).get(f"/api/cases/{made.pk}/photos/{verify.pk}/")
    assert staff.status_code == 200 and "no-store" in staff["Cache-Control"]


def test_json_nested_too_deep_is_400_on_every_app(case, case_users):
    """Regression: DRF's plain JSONParser let Python's RecursionError through as a 500; the
    project's default parser (core.api.JSONParser) turns it into a 400."""
    operator = api_client(case_users["operator"])
    deep = b"[" * 100_000 + b"]" * 100_000
    for url in (
        "/api/cases/",
        f"/api/cases/{case.pk}/notes/",
        "/api/command/instructions/",
        "/api/video/cameras/",
    ):
        response = operator.post(url, deep, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)
    assert Case.objects.count() == 1 and history(case) == 1
