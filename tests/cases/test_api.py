"""The case loop's REST API (docs/api.md, "Cases"): idempotent reports, every act for its role and
refused for others (403) or in the wrong state (409), list filters in each role's scope, photos only
to those who see the case, token auth for machines, and clear errors for malformed bodies."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from shequ.cases.models import Case, CaseState, Evidence, Extension, HistoryEntry
from shequ.cases.services import intake, workflow
from shequ.core.models import AuditEntry
from tests.cases.conftest import IN_GRID11, IN_GRID12, IN_GRID21, make_jpeg

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def w(case_users, case_categories, case_departments, two_communities, system_user) -> dict[str, Any]:
    return {
        **two_communities,
        **case_users,
        "admin": system_user,
        "garbage": case_categories["暴露垃圾"],
        "building": case_categories["私搭乱建"],
        "enforcement": case_departments["enforcement"],
        "sanitation": case_departments["sanitation"],
    }


def report(w: dict[str, Any], where: tuple[float, float] = IN_GRID11, **kwargs: Any) -> Case:
    """A case reported by the operator through the service (hotline), in the given grid."""
    fields: dict[str, Any] = {
        "actor": w["operator"],
        "source": "hotline",
        "description": "楼下垃圾堆放",
        "category": w["garbage"],
        "lon": where[0],
        "lat": where[1],
        **kwargs,
    }
    case, created = intake.report_case(**fields)
    assert created
    return case


def body(response) -> dict[str, Any]:
    assert response.status_code < 300, (response.status_code, response.content[:500])
    return response.json()


def post(client: APIClient, url: str, data: Any = None) -> Any:
    return client.post(url, json.dumps(data if data is not None else {}), content_type="application/json")


# --- reporting ------------------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_reports_one_case(w):
    resident = client_for(w["resident"])
    data = {"description": "小区门口路灯不亮", "category": w["garbage"].pk, "lon": 103.605, "lat": 36.505}
    first = resident.post("/api/cases/", data, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert first.status_code == 201, first.content
    again = resident.post("/api/cases/", data, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"]
    assert again.json() == first.json() | {"updated_at": again.json()["updated_at"]}
    assert Case.objects.count() == 1
    case = Case.objects.get()
    assert (case.source, case.reporter_id, case.grid_id) == ("resident", w["resident"].pk, w["grid11"].pk)
    # another key is another report; the same key from another account too
    other = resident.post("/api/cases/", data, format="json", HTTP_IDEMPOTENCY_KEY="retry-2")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    theirs = client_for(w["resident2"]).post(
        "/api/cases/", data, format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
    )
    assert theirs.status_code == 201 and Case.objects.count() == 3


def test_report_with_photos_as_multipart_and_photos_only_for_those_who_see_the_case(w, case_media):
    resident = client_for(w["resident"])
    photo = io.BytesIO(make_jpeg())
    photo.name = "p.jpg"
    response = resident.post(
        "/api/cases/",
        {"description": "井盖缺失", "lon": "103.605", "lat": "36.505", "photos": [photo]},
        format="multipart",
    )
    created = body(response)
    assert response.status_code == 201
    assert created["state"] == "reported" and created["grid"] == w["grid11"].code
    [evidence] = created["evidence"]
    assert evidence["kind"] == "report" and evidence["content_type"] == "image/jpeg"
    assert created["history"][0]["action"] == "report" and created["history"][0]["evidence"] == [
        evidence["id"]
    ]
    url = evidence["url"]
    assert url.endswith(f"/api/cases/{created['id']}/photos/{evidence['id']}/")
    got = resident.get(url)
    assert got.status_code == 200 and got["Content-Type"] == "image/jpeg"
    assert b"".join(got.streaming_content) == make_jpeg()
    assert client_for(w["resident2"]).get(url).status_code == 404
    assert client_for(w["worker21"]).get(url).status_code == 404
    assert client_for(w["worker11"]).get(url).status_code == 200


def test_an_upload_that_is_not_an_image_is_422_and_stores_nothing(w, case_media):
    resident = client_for(w["resident"])
    fake = io.BytesIO(b"GIF89a not really")
    fake.name = "x.jpg"
    response = resident.post("/api/cases/", {"description": "x", "photos": [fake]}, format="multipart")
    assert response.status_code == 422 and response.json()["field"] == "photos"
    assert Case.objects.count() == 0 and not list(case_media.rglob("*.*"))
    case = report(w)
    png = io.BytesIO(make_jpeg(fmt="PNG"))
    png.name = "a.png"
    operator = client_for(w["operator"])
    added = operator.post(
        f"/api/cases/{case.pk}/photos/", {"photo": png, "kind": "report"}, format="multipart"
    )
    assert added.status_code == 201 and added.json()["content_type"] == "image/png"
    bad = io.BytesIO(b"\x89PNG\r\n\x1a\n broken")
    bad.name = "b.png"
    refused = operator.post(f"/api/cases/{case.pk}/photos/", {"photo": bad}, format="multipart")
    assert refused.status_code == 422 and refused.json()["field"] == "photo"
    assert Evidence.objects.filter(case=case).count() == 1


def test_a_resident_reports_only_as_a_resident(w):
    resident = client_for(w["resident"])
    response = resident.post("/api/cases/", {"description": "x", "source": "camera"}, format="json")
    assert response.status_code == 403 and response.json()["field"] == "source"
    assert Case.objects.count() == 0


def test_a_grid_worker_handles_on_the_spot_once_per_key_and_only_in_their_grid(w, case_media):
    worker = client_for(w["worker11"])
    before, after = io.BytesIO(make_jpeg()), io.BytesIO(make_jpeg((40, 30)))
    before.name, after.name = "before.jpg", "after.jpg"
    data = {
        "category": str(w["garbage"].pk),
        "description": "绿地内塑料袋",
        "result": "已当场捡拾",
        "lon": str(IN_GRID11[0]),
        "lat": str(IN_GRID11[1]),
        "photos": [before],
        "result_photos": [after],
    }
    first = worker.post("/api/cases/on-the-spot/", data, format="multipart", HTTP_IDEMPOTENCY_KEY="spot-1")
    case = body(first)
    assert first.status_code == 201
    assert (case["state"], case["self_handled"], case["grid"]) == ("closed", True, w["grid11"].code)
    assert [h["action"] for h in case["history"]] == ["report", "handle_on_the_spot"]
    assert sorted(e["kind"] for e in case["evidence"]) == ["report", "result"]
    again = worker.post(
        "/api/cases/on-the-spot/",
        {k: v for k, v in data.items() if "photos" not in k},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="spot-1",
    )
    assert again.status_code == 200 and again.json()["id"] == case["id"]
    assert Case.objects.count() == 1 and Evidence.objects.count() == 2

    # Outside the worker's grid, for another role, or without a result: refused, nothing written.
    elsewhere = {**data, "lon": IN_GRID21[0], "lat": IN_GRID21[1], "photos": [], "result_photos": []}
    assert post(worker, "/api/cases/on-the-spot/", elsewhere).status_code == 403
    spot = {
        "category": w["garbage"].pk,
        "description": "x",
        "result": "已处理",
        "lon": IN_GRID11[0],
        "lat": IN_GRID11[1],
    }
    assert post(client_for(w["operator"]), "/api/cases/on-the-spot/", spot).status_code == 403
    blank = post(worker, "/api/cases/on-the-spot/", {**spot, "result": " "})
    assert blank.status_code in (400, 422) and blank.json()["field"] == "result"
    missing = post(worker, "/api/cases/on-the-spot/", {**spot, "category": 999_999})
    assert missing.status_code == 422 and missing.json()["field"] == "category"
    assert Case.objects.count() == 1


# --- the acts -------------------------------------------------------------------------------------


def test_the_whole_loop_through_the_api(w, case_media):
    operator, handler = client_for(w["operator"]), client_for(w["handler"])
    worker, resident = client_for(w["worker11"]), client_for(w["resident"])
    created = body(
        resident.post(
            "/api/cases/",
            {"description": "垃圾堆放三天", "category": w["garbage"].pk, "lon": 103.605, "lat": 36.505},
            format="json",
        )
    )
    url = f"/api/cases/{created['id']}/"
    assert "file" in operator.get(url).json()["allowed_actions"]
    assert body(post(operator, url + "file/", {"note": "属实"}))["state"] == "filed"
    dispatched = body(post(operator, url + "dispatch/", {"department": w["enforcement"].code}))
    assert dispatched["state"] == "dispatched" and dispatched["department"]["code"] == w["enforcement"].code
    assert set(handler.get(url).json()["allowed_actions"]) >= {"accept", "return"}
    assert body(post(handler, url + "accept/"))["state"] == "in_progress"
    asked = body(post(handler, url + "extension/", {"amount": 2, "unit": "days", "reason": "需协调物业"}))
    [extension] = asked["extensions"]
    assert extension["decision"] == "pending"
    granted = body(post(operator, url + f"extensions/{extension['id']}/grant/", {"note": "同意"}))
    assert granted["extensions"][0]["decision"] == "granted"
    photo = io.BytesIO(make_jpeg())
    photo.name = "done.jpg"
    handled = body(
        handler.post(url + "feedback/", {"result": "已清运", "photos": [photo]}, format="multipart")
    )
    assert handled["state"] == "handled" and [e["kind"] for e in handled["evidence"]] == ["result"]
    assert body(post(worker, url + "verify/", {"ok": True, "note": "现场已清理"}))["state"] == "closed"
    called = body(post(resident, url + "callback/", {"satisfaction": "satisfied", "note": "很快"}))
    assert (called["state"], called["satisfaction"]) == ("closed", "satisfied")
    actions = [h["action"] for h in called["history"]]
    assert actions[:3] == ["report", "file", "dispatch"]
    assert {"accept", "feedback", "verify_ok", "callback"} <= set(actions)
    assert all(h["action_label"] for h in called["history"])
    # The resident reads the reporter's history, as on their page: no extension requests, no names.
    assert "request_extension" not in actions
    staff = body(operator.get(url))["history"]
    assert "request_extension" in [h["action"] for h in staff]
    names = {h["actor_name"] for h in called["history"]}
    assert not names & {h["actor_name"] for h in staff if h["action"] in ("file", "verify_ok")}
    reopened = body(post(operator, url + "reopen/", {"reason": "居民再次反映"}))
    assert reopened["state"] == "filed" and reopened["reopen_count"] == 1


def test_the_other_acts(w):
    operator, handler = client_for(w["operator"]), client_for(w["handler"])
    leader, worker = client_for(w["leader"]), client_for(w["worker11"])
    # reject
    rejected = report(w, description="不属实")
    assert (
        body(post(operator, f"/api/cases/{rejected.pk}/reject/", {"reason": "invalid"}))["state"]
        == "rejected"
    )
    # merge: a later report into the first one
    first, second = report(w), report(w, where=IN_GRID12)
    merged = body(post(operator, f"/api/cases/{second.pk}/merge/", {"into": first.pk}))
    assert (merged["state"], merged["duplicate_of"]) == ("merged", first.pk)
    # return, supervise, notes, a refused extension, a failed verification
    case = report(w, where=IN_GRID21)
    workflow.file_case(case, actor=w["operator"])
    workflow.dispatch_case(case, w["enforcement"], actor=w["operator"])
    url = f"/api/cases/{case.pk}/"
    assert body(post(handler, url + "return/", {"reason": "不属本部门"}))["state"] == "filed"
    workflow.dispatch_case(case, w["enforcement"], actor=w["operator"])
    workflow.accept_case(case, actor=w["handler"])
    assert (
        body(post(leader, url + "supervise/", {"level": 2, "reason": "群众反映强烈"}))["supervision_level"]
        == 2
    )
    noted = body(post(handler, url + "notes/", {"text": "已联系当事人"}))
    assert noted["history"][-1]["action"] == "note" and noted["history"][-1]["reason"] == "已联系当事人"
    extension = workflow.request_extension(case, actor=w["handler"], amount=1, unit="days", reason="等材料")
    refused = body(post(operator, url + f"extensions/{extension.pk}/refuse/", {"note": "不同意"}))
    assert refused["extensions"][0]["decision"] == "refused"
    workflow.feedback_case(case, actor=w["handler"], result="已处理")
    assert (
        body(post(operator, url + "verify/", {"ok": False, "note": "未清理干净"}))["state"] == "in_progress"
    )
    assert case.rework_count == 0 and Case.objects.get(pk=case.pk).rework_count == 1
    assert worker.get(url).status_code == 404  # grid21 is not worker11's


ACTS = [
    # (act path, body, a role that may not do it, its state after report→file→dispatch→accept)
    ("file/", {}, "leader"),
    ("reject/", {"reason": "invalid"}, "leader"),
    ("dispatch/", {"department": "ZF01"}, "worker11"),
    ("accept/", {}, "operator"),
    ("return/", {"reason": "x"}, "operator"),
    ("extension/", {"amount": 1, "reason": "x"}, "operator"),
    ("feedback/", {"result": "x"}, "operator"),
    ("verify/", {"ok": True}, "handler"),
    ("callback/", {"satisfaction": "satisfied"}, "handler"),
    ("reopen/", {"reason": "x"}, "worker11"),
    ("supervise/", {"level": 1, "reason": "x"}, "worker11"),
    ("notes/", {"text": "x"}, "resident"),
]


@pytest.mark.parametrize(("act", "data", "role"), ACTS, ids=[a for a, _d, _r in ACTS])
def test_an_act_is_403_for_a_role_that_may_not_and_changes_nothing(w, act, data, role):
    case = report(w, reporter_name="王", reporter_phone="13812345678")
    if act not in ("file/", "reject/"):
        workflow.file_case(case, actor=w["operator"])
    if act not in ("file/", "reject/", "dispatch/"):
        workflow.dispatch_case(case, w["enforcement"], actor=w["operator"])
    if act in ("return/", "extension/", "feedback/", "supervise/", "notes/"):
        workflow.accept_case(case, actor=w["handler"])
    if act in ("verify/", "callback/", "reopen/"):
        workflow.accept_case(case, actor=w["handler"])
        workflow.feedback_case(case, actor=w["handler"], result="done")
        if act != "verify/":
            workflow.verify_case(case, actor=w["operator"], ok=True)
    if role == "resident":  # a resident sees only their own reports: let them see this one
        Case.objects.filter(pk=case.pk).update(reporter=w["resident"])
    before = (Case.objects.get(pk=case.pk).state, HistoryEntry.objects.filter(case=case).count())
    response = post(client_for(w[role]), f"/api/cases/{case.pk}/{act}", data)
    assert response.status_code == 403, (response.status_code, response.content[:300])
    assert response.json()["detail"]
    assert (Case.objects.get(pk=case.pk).state, HistoryEntry.objects.filter(case=case).count()) == before


WRONG_STATE = [
    # (act, body, a role that may do it, the state it is tried in)
    ("file/", {}, "operator", "handled"),
    ("reject/", {"reason": "invalid"}, "operator", "handled"),
    ("dispatch/", {"department": "ZF01"}, "operator", "handled"),
    ("accept/", {}, "handler", "handled"),
    ("return/", {"reason": "x"}, "handler", "handled"),
    ("extension/", {"amount": 1, "reason": "x"}, "handler", "handled"),
    ("feedback/", {"result": "x"}, "handler", "handled"),
    ("callback/", {"satisfaction": "satisfied"}, "operator", "handled"),
    ("reopen/", {"reason": "x"}, "operator", "handled"),
    ("verify/", {"ok": True}, "operator", "reported"),
    ("supervise/", {"level": 1, "reason": "x"}, "operator", "reported"),
]


@pytest.mark.parametrize(("act", "data", "role", "state"), WRONG_STATE, ids=[a for a, *_rest in WRONG_STATE])
def test_an_act_is_409_in_the_wrong_state_with_a_message(w, act, data, role, state):
    case = report(w)
    if state == "handled":
        workflow.file_case(case, actor=w["operator"])
        workflow.dispatch_case(case, w["enforcement"], actor=w["operator"])
        workflow.accept_case(case, actor=w["handler"])
        workflow.feedback_case(case, actor=w["handler"], result="done")
    assert Case.objects.get(pk=case.pk).state == state
    history = HistoryEntry.objects.filter(case=case).count()
    response = post(client_for(w[role]), f"/api/cases/{case.pk}/{act}", data)
    assert response.status_code == 409, (response.status_code, response.content[:300])
    assert response.json()["field"] == "state" and case.number in response.json()["detail"]
    assert Case.objects.get(pk=case.pk).state == state
    assert HistoryEntry.objects.filter(case=case).count() == history


def test_a_case_outside_the_scope_is_404_for_every_act(w):
    case = report(w, where=IN_GRID21)
    worker = client_for(w["worker11"])
    for act, data, _role in ACTS:
        assert post(worker, f"/api/cases/{case.pk}/{act}", data).status_code == 404, act
    assert worker.get(f"/api/cases/{case.pk}/").status_code == 404
    assert post(worker, f"/api/cases/{case.pk}/extensions/1/grant/").status_code == 404


def test_dispatch_to_an_unknown_department_is_422(w):
    case = report(w)
    workflow.file_case(case, actor=w["operator"])
    operator = client_for(w["operator"])
    response = post(operator, f"/api/cases/{case.pk}/dispatch/", {"department": "NOPE"})
    assert response.status_code == 422 and response.json()["field"] == "department"
    outsider = post(
        operator, f"/api/cases/{case.pk}/dispatch/", {"department": "ZF01", "assignee": w["admin"].pk}
    )
    assert outsider.status_code == 422 and outsider.json()["field"] == "assignee"
    assert Case.objects.get(pk=case.pk).state == CaseState.FILED


# --- reads ----------------------------------------------------------------------------------------


def ids(response) -> set[int]:
    return {row["id"] for row in body(response)["results"]}


@pytest.fixture
def many(w) -> dict[str, Case]:
    out = {
        "c11": report(w, description="11号楼东侧垃圾", address="幸福路11号"),
        "c12": report(w, where=IN_GRID12, category=w["building"], source="camera"),
        "c21": report(w, where=IN_GRID21),
    }
    workflow.file_case(out["c21"], actor=w["operator"])
    workflow.dispatch_case(out["c21"], w["enforcement"], actor=w["operator"])
    own, _created = intake.report_case(actor=w["resident"], source="resident", description="我家楼下积水")
    out["own"] = own
    return out


def test_each_role_sees_its_own_cases(w, many):
    everything = {c.pk for c in many.values()}
    assert ids(client_for(w["admin"]).get("/api/cases/")) == everything
    assert ids(client_for(w["worker11"]).get("/api/cases/")) == {many["c11"].pk}
    assert ids(client_for(w["handler"]).get("/api/cases/")) == {many["c21"].pk}
    assert ids(client_for(w["resident"]).get("/api/cases/")) == {many["own"].pk}
    assert ids(client_for(w["resident2"]).get("/api/cases/")) == set()
    assert client_for(w["resident2"]).get(f"/api/cases/{many['own'].pk}/").status_code == 404
    assert client_for(w["handler"]).get(f"/api/cases/{many['c11'].pk}/").status_code == 404


def test_list_filters(w, many):
    # by token: a session would lapse (idle timeout) when the clock jumps ahead below
    admin = APIClient(raise_request_exception=False)
    admin.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=w['admin']).key}")

    def found(**params: Any) -> set[int]:
        return ids(admin.get("/api/cases/", params))

    c11, c12, c21, own = (many[k].pk for k in ("c11", "c12", "c21", "own"))
    assert found(state="dispatched") == {c21}
    assert found(state_kind="open") == {c11, c12, own}
    assert found(source="camera") == {c12}
    assert found(category=w["building"].pk) == {c12}
    assert found(category=w["building"].parent_id) >= {c12}
    assert found(grid=w["community1"].code) == {c11, c12}
    assert found(department="ZF01") == {c21}
    assert found(q="幸福路") == {c11} == found(q=many["c11"].number)
    assert found(bbox="103.60,36.50,103.61,36.51") == {c11}
    assert found(supervised="false") == {c11, c12, c21, own}
    today = timezone.localdate()
    assert found(created_after=str(today), created_before=str(today)) == {c11, c12, c21, own}
    assert found(created_before=str(today - dt.timedelta(days=1))) == set()
    assert found(overdue="true") == set()
    with time_machine.travel(timezone.now() + dt.timedelta(days=30)):
        assert found(overdue="true") == {c11, c12, c21, own}  # own has no category: default limits
        assert found(overdue="false") == set()
        assert found(overdue="true", grid=w["grid21"].code) == {c21}
        row = admin.get(f"/api/cases/{c21}/").json()
        assert row["overdue"] is True


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "lost"}, "state"),
        ({"state_kind": "x"}, "state_kind"),
        ({"category": "abc"}, "category"),
        ({"overdue": "maybe"}, "overdue"),
        ({"created_after": "2026-02-30"}, "created_after"),
        ({"created_before": "yesterday"}, "created_before"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"limit": "0"}, "limit"),
        ({"q": "a\x00"}, "q"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(w, params, field):
    response = client_for(w["operator"]).get("/api/cases/", params)
    assert response.status_code == 400 and response.json()["field"] == field


def test_detail_masks_the_reporter_and_hides_a_confidential_one(w):
    case = report(w, reporter_name="王小二", reporter_phone="13812345678")
    secret = report(
        w, where=IN_GRID12, reporter_name="李四", reporter_phone="13912345678", reporter_confidential=True
    )
    operator, leader = client_for(w["operator"]), client_for(w["leader"])
    masked = body(leader.get(f"/api/cases/{case.pk}/"))["reporter"]
    assert (
        masked["name"] == "王小二"
        and masked["phone"].endswith("5678")
        and "13812345678" not in masked["phone"]
    )
    assert b"13812345678" not in leader.get("/api/cases/").content
    # the command center sees the number in full, and each such view is audited
    assert body(operator.get(f"/api/cases/{case.pk}/"))["reporter"]["phone"].endswith("13812345678")
    assert AuditEntry.objects.filter(action="case.reporter_phone_view", target_id=str(case.pk)).count() == 1
    hidden = body(leader.get(f"/api/cases/{secret.pk}/"))["reporter"]
    assert "李四" not in json.dumps(hidden, ensure_ascii=False) and "5678" not in json.dumps(hidden)
    assert body(operator.get(f"/api/cases/{secret.pk}/"))["reporter"]["confidential"] is True


def test_categories_tree(w):
    tree = body(client_for(w["resident"]).get("/api/cases/categories/"))
    events = [c for c in tree if c["kind"] == "event"]
    assert [c["code"] for c in events][:2] == ["01", "02"]
    first = events[0]
    assert any(child["name"] == "暴露垃圾" for child in first["children"])
    only = body(client_for(w["resident"]).get("/api/cases/categories/", {"kind": "component"}))
    assert only and {c["kind"] for c in only} == {"component"}


# --- machines and malformed bodies ----------------------------------------------------------------


def test_token_auth_works_without_csrf_and_rotating_revokes(w, make_user):
    from shequ.accounts.models import Role

    machine = make_user(Role.COMMAND_OPERATOR, grids=(w["street"],), username="camera-gateway")
    out = io.StringIO()
    call_command("api_token", "camera-gateway", stdout=out)
    token = out.getvalue().strip()
    assert len(token) == 40
    client = APIClient(enforce_csrf_checks=True, raise_request_exception=False)
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}
    data = {
        "source": "camera",
        "source_id": "cam-7-0001",
        "description": "占道经营",
        "lon": 103.605,
        "lat": 36.505,
    }
    created = client.post("/api/cases/", data, format="json", **headers)
    assert created.status_code == 201, created.content
    assert Case.objects.get().created_by == machine
    retry = client.post("/api/cases/", data, format="json", **headers)
    assert retry.status_code == 200 and retry.json()["id"] == created.json()["id"]
    # a session request without the CSRF token is refused
    session = APIClient(enforce_csrf_checks=True, raise_request_exception=False)
    session.force_login(machine)
    assert session.post("/api/cases/", data, format="json").status_code == 403
    # rotating: the old token stops working at once
    call_command("api_token", "camera-gateway", stdout=io.StringIO())
    assert client.get("/api/accounts/me/", **headers).status_code in (401, 403)
    assert client.get("/api/cases/", **headers).status_code in (401, 403)


@pytest.mark.parametrize(
    ("url", "data", "status", "field"),
    [
        ("/api/cases/", {"description": ["a"]}, 400, "description"),
        ("/api/cases/", {"description": "x", "lon": "east"}, 400, "lon"),
        ("/api/cases/", {"description": "x", "lon": 200}, 400, "lon"),
        ("/api/cases/", {"description": "x", "category": "garbage"}, 400, "category"),
        ("/api/cases/", {"description": "x", "category": 999999}, 422, "category"),
        ("/api/cases/", {"description": "x", "urgency": "now"}, 400, "urgency"),
        ("/api/cases/", {"description": "x", "colour": "red"}, 400, "colour"),
        ("/api/cases/", {}, 400, "description"),
        ("/api/cases/", {"description": "  "}, 400, "description"),
        ("/api/cases/{id}/dispatch/", {}, 400, "department"),
        ("/api/cases/{id}/reject/", {"reason": "because"}, 400, "reason"),
        ("/api/cases/{id}/supervise/", {"level": 9, "reason": "x"}, 400, "level"),
        ("/api/cases/{id}/merge/", {"into": "abc"}, 400, "into"),
        ("/api/cases/{id}/merge/", {"into": 999999}, 422, "into"),
        ("/api/cases/{id}/accept/", {"why": "x"}, 400, "why"),
        ("/api/cases/{id}/notes/", {"text": ""}, 400, "text"),
    ],
)
def test_malformed_bodies_name_the_field(w, url, data, status, field):
    case = report(w)
    response = post(client_for(w["operator"]), url.format(id=case.pk), data)
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response.json()["field"] == field and response.json()["detail"]
    assert Case.objects.count() == 1


def test_bodies_that_are_not_objects_and_bad_keys_are_400(w):
    case = report(w)
    operator = client_for(w["operator"])
    for raw in (b"[]", b'"x"', b"{not json", b"null"):
        for url in ("/api/cases/", f"/api/cases/{case.pk}/file/"):
            response = operator.post(url, raw, content_type="application/json")
            assert response.status_code == 400, (url, raw, response.content[:200])
    long_key = operator.post(
        "/api/cases/", {"description": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 81
    )
    assert long_key.status_code == 400 and long_key.json()["field"] == "Idempotency-Key"
    assert Case.objects.count() == 1


def test_no_pending_extension_twice(w):
    case = report(w)
    workflow.file_case(case, actor=w["operator"])
    workflow.dispatch_case(case, w["enforcement"], actor=w["operator"])
    workflow.accept_case(case, actor=w["handler"])
    handler = client_for(w["handler"])
    body(post(handler, f"/api/cases/{case.pk}/extension/", {"amount": 1, "reason": "a"}))
    again = post(handler, f"/api/cases/{case.pk}/extension/", {"amount": 1, "reason": "b"})
    assert again.status_code in (409, 422) and again.json()["detail"]
    assert Extension.objects.filter(case=case).count() == 1


# --- measures -------------------------------------------------------------------------------------


def test_measures_as_json_and_xlsx_in_the_callers_scope(w, many):
    from openpyxl import load_workbook

    from shequ.analytics.rollups import refresh_cases

    refresh_cases([c.pk for c in many.values()])  # what the event handler does after each commit
    today = str(timezone.localdate())
    admin, handler = client_for(w["admin"]), client_for(w["handler"])
    total = body(admin.get("/api/measures/", {"start": today, "end": today}))
    assert total["group_by"] is None and [r["reported"] for r in total["rows"]] == [4]
    assert total["rows"][0]["proactive"] == 1  # the camera's report
    for group_by in ("community", "grid", "department", "category", "major_category", "source"):
        rows = body(admin.get("/api/measures/", {"start": today, "end": today, "group_by": group_by}))["rows"]
        assert sum(r["reported"] for r in rows) == 4, group_by
    by_department = body(handler.get("/api/measures/", {"group_by": "department"}))["rows"]
    assert [(r["name"], r["reported"]) for r in by_department] == [("城管执法中队", 1)]
    assert body(client_for(w["resident"]).get("/api/measures/"))["rows"] == []
    sheet = admin.get("/api/measures/export.xlsx", {"start": today, "end": today, "group_by": "source"})
    assert sheet.status_code == 200 and sheet["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("起始日期", "来源", "上报数")
    assert sorted(r[1:3] for r in rows[1:]) == [("居民上报", 1), ("热线", 2), ("视频监控", 1)]
    for params, field in (
        ({"start": "2026-13-01"}, "start"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "end"),
        ({"start": "2000-01-01", "end": "2026-01-01", "period": "day"}, "start"),
        ({"group_by": "street"}, "group_by"),
        ({"period": "year"}, "period"),
    ):
        response = admin.get("/api/measures/", params)
        assert response.status_code == 400 and response.json()["field"] == field, params


def test_a_list_page_takes_the_same_queries_for_2_rows_as_for_12(w):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(12):
        report(w, where=(103.6005 + i * 0.0007, 36.5005), description=f"第{i}处")
    operator = client_for(w["operator"])
    with CaptureQueriesContext(connection) as small:
        assert len(body(operator.get("/api/cases/", {"limit": 2}))["results"]) == 2
    with CaptureQueriesContext(connection) as large:
        assert len(body(operator.get("/api/cases/", {"limit": 12}))["results"]) == 12
    assert len(small.captured_queries) == len(large.captured_queries)
