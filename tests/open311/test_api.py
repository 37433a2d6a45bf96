"""Open311 GeoReport v2 (docs/open311.md): every method in XML and JSON, the spec's error body and
codes, the mapping of services to categories and of statuses to case states, posting with
attributes, photos and media_url, tokens before and after filing, listing with every filter and
pages, and updates that follow a case through its life."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from shequ.cases.models import Case, CaseState, Evidence, RoutingRule
from shequ.cases.services import workflow
from shequ.core.models import AuditEntry
from shequ.open311.models import ApiKey, Submission
from tests.cases.conftest import make_jpeg
from tests.open311.conftest import BASE, CODE, error_of, js, post, xml

pytestmark = pytest.mark.django_db

FORMATS = ["xml", "json"]


def case_of(response: Any) -> Case:
    body = js(response)
    token, number = body[0].get("token"), body[0].get("service_request_id")
    if number:
        return Case.objects.get(number=number)
    return Submission.objects.get(token=token).case


# --- discovery and services ----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/open311/discovery", f"{BASE}/discovery"])
def test_discovery_names_the_endpoint_and_formats(client, url):
    root = xml(client.get(f"{url}.xml"))
    assert root.tag == "discovery"
    endpoint = root.find("endpoints/endpoint")
    assert endpoint is not None
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url") == "http://testserver/open311/v2"
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]
    assert root.findtext("changeset", "").endswith("+08:00")
    body = js(client.get(f"{url}.json"))
    assert body["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    assert body["endpoints"][0]["type"] == "production"


def test_services_are_the_active_subclasses(client, service, case_categories):
    root = xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    codes = {s.findtext("service_code"): s for s in root.findall("service")}
    ours = codes[CODE]
    assert [c.tag for c in ours] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert ours.findtext("metadata") == "true" and ours.findtext("type") == "batch"
    assert ours.findtext("group") == "测试大类"
    # 部件 and 事件 codes overlap: the kind keeps them apart.
    assert "component-0101" in codes and "event-0101" in codes
    assert codes["event-0102"].findtext("metadata") == "false"
    body = js(client.get(f"{BASE}/services.json"))
    one = next(s for s in body if s["service_code"] == CODE)
    assert one["metadata"] is True and one["service_name"] == "测试堆物"
    assert len(body) == len(codes)


def test_a_service_filed_at_once_by_a_rule_is_realtime(client, service, flow):
    RoutingRule.objects.create(name="全部自动", category=service, department=flow.department, auto_file=True)
    body = js(client.get(f"{BASE}/services.json"))
    assert next(s for s in body if s["service_code"] == CODE)["type"] == "realtime"


def test_service_definition_lists_the_questions(client, service):
    root = xml(client.get(f"{BASE}/services/{CODE}.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == CODE
    attributes = root.findall("attributes/attribute")
    assert [a.findtext("code") for a in attributes] == ["size", "floors", "kinds", "seen", "note"]
    size = attributes[0]
    assert size.findtext("datatype") == "singlevaluelist" and size.findtext("required") == "true"
    assert [(v.findtext("key"), v.findtext("name")) for v in size.findall("values/value")] == [
        ("small", "小于1平方米"),
        ("large", "1平方米以上"),
    ]
    assert attributes[4].findtext("variable") == "false"
    # Keys and names with XML's special characters come back intact.
    assert attributes[2].findall("values/value")[2].findtext("name") == "a<b>&c"
    body = js(client.get(f"{BASE}/services/{CODE}.json"))
    assert body["service_code"] == CODE
    first = body["attributes"][0]
    assert first == {
        "variable": True,
        "code": "size",
        "datatype": "singlevaluelist",
        "required": True,
        "datatype_description": None,
        "order": 1,
        "description": "堆放面积",
        "values": [{"key": "small", "name": "小于1平方米"}, {"key": "large", "name": "1平方米以上"}],
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_is_404_in_the_spec_form(client, service, fmt):
    response = client.get(f"{BASE}/services/event-0000.{fmt}")
    assert response.status_code == 404
    code, description = error_of(response, fmt)
    assert code == 404 and "event-0000" in description


# --- POST ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_needs_a_valid_key(client, service, key, fmt):
    before = Case.objects.count()
    for api_key in (None, "wrong-key"):
        response = post(client, api_key, fmt)
        assert response.status_code == 403
        code, description = error_of(response, fmt)
        assert code == 403 and "api_key" in description
    from shequ.open311 import services

    services.revoke_key(key[0], actor="test")
    response = post(client, key[1], fmt)
    assert response.status_code == 403 and "已作废" in error_of(response, fmt)[1]
    assert Case.objects.count() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_files_a_report_and_answers_a_token(client, service, api_key, fmt, flow):
    response = post(
        client,
        api_key,
        fmt,
        description="楼道里堆满纸箱",
        **{
            "attribute[floors]": "3",
            "attribute[kinds][]": ["box", "bike"],
            "attribute[seen]": "2026-11-29T08:00",
        },
        first_name="小明",
        last_name="王",
        phone="13912345678",
        email="wang@example.com",
        device_id="device-1",
        account_id="acct-9",
    )
    assert response.status_code == 200, response.content
    if fmt == "xml":
        root = xml(response)
        assert root.tag == "service_requests"
        token = root.findtext("request/token")
        assert root.find("request/service_request_id") is None
        assert root.findtext("request/account_id") == "acct-9"
    else:
        body = js(response)
        token = body[0]["token"]
        assert "service_request_id" not in body[0]
    submission = Submission.objects.get(token=token)
    case = submission.case
    assert case.source == "api" and case.state == CaseState.REPORTED and case.grid is not None
    assert case.answers == {
        "size": "small",
        "floors": 3,
        "kinds": ["box", "bike"],
        "seen": "2026-11-29T08:00:00+08:00",
    }
    assert case.reporter_name == "王小明" and case.reporter_phone == "+8613912345678"
    assert submission.email == "wang@example.com" and submission.api_key.report_count == 1
    history = case.history.get(action="report")
    assert history.actor_name == "open311:FixMyStreet 测试"
    assert AuditEntry.objects.filter(action="open311.request", target_id=str(case.pk)).exists()


def test_contact_details_are_encrypted_at_rest(client, service, api_key):
    from django.db import connection

    token = js(post(client, api_key, email="secret@example.com", device_id="imei-12345"))[0]["token"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, device_id FROM open311_submission WHERE token = %s", [token])
        email, device = cursor.fetchone()
    assert "secret" not in email and "imei" not in device


def test_token_lookup_before_and_after_filing(client, service, api_key, flow):
    token = js(post(client, api_key))[0]["token"]
    root = xml(client.get(f"{BASE}/tokens/{token}.xml"))
    assert root.findtext("request/token") == token and not root.findtext("request/service_request_id")
    assert js(client.get(f"{BASE}/tokens/{token}.json")) == [{"service_request_id": None, "token": token}]
    case = Submission.objects.get(token=token).case
    # Not filed yet: the public does not see it.
    assert client.get(f"{BASE}/requests/{case.number}.json").status_code == 404
    workflow.file_case(case, actor=flow.operator)
    assert js(client.get(f"{BASE}/tokens/{token}.json")) == [
        {"service_request_id": case.number, "token": token}
    ]
    one = js(client.get(f"{BASE}/requests/{case.number}.json"))
    assert one[0]["service_request_id"] == case.number and one[0]["status"] == "open"
    missing = client.get(f"{BASE}/tokens/nope.xml")
    assert missing.status_code == 404 and error_of(missing, "xml")[0] == 404


def test_routed_report_answers_its_id_at_once(client, service, api_key, flow):
    RoutingRule.objects.create(
        name="自动派遣", category=service, department=flow.department, auto_file=True, auto_dispatch=True
    )
    body = js(post(client, api_key))
    number = body[0]["service_request_id"]
    assert isinstance(number, str) and "token" not in body[0] and number in body[0]["service_notice"]
    one = js(client.get(f"{BASE}/requests/{number}.json"))[0]
    assert one["agency_responsible"] == flow.department.name and one["status_notes"] == "已派遣"
    assert one["expected_datetime"] is None or one["expected_datetime"].endswith("+08:00")


def test_a_duplicate_is_merged_by_report_case_and_answers_the_first(client, service, api_key, flow):
    service.merge_duplicates = True
    service.duplicate_radius_m = 50
    service.save()
    first = case_of(post(client, api_key))
    workflow.file_case(first, actor=flow.operator)
    body = js(post(client, api_key))
    assert body[0]["service_request_id"] == first.number and "重复" in body[0]["service_notice"]
    second = Case.objects.exclude(pk=first.pk).get(source="api")
    assert second.state == CaseState.MERGED and second.duplicate_of == first


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"attribute[size]": None}, "attribute[size]"),
        ({"attribute[size]": "huge"}, "attribute[size]"),
        ({"attribute[floors]": "three"}, "attribute[floors]"),
        ({"attribute[seen]": "yesterday"}, "attribute[seen]"),
        ({"attribute[kinds][]": ["box", "car"]}, "attribute[kinds]"),
        ({"attribute[nope]": "1"}, "nope"),
        ({"attribute[note]": "1"}, "note"),
        ({"lat": None, "long": None}, "lat"),
        ({"lat": "91", "long": "103.6"}, "long"),
        ({"long": None}, "long"),
        ({"service_code": "event-0000"}, "service_code"),
        ({"service_code": None}, "service_code"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"description": "长" * 2001}, "description"),
        ({"address_id": "B-404", "lat": None, "long": None}, "address_id"),
    ],
)
def test_refused_posts_name_what_is_wrong_and_write_nothing(client, service, api_key, fields, named):
    before = (Case.objects.count(), Submission.objects.count())
    response = post(client, api_key, "xml", **fields)
    assert response.status_code == 400, response.content
    code, description = error_of(response, "xml")
    assert code == 400 and named in description, description
    assert (Case.objects.count(), Submission.objects.count()) == before


def test_post_by_address_string_or_address_id(client, service, api_key, system_user):
    case = case_of(post(client, api_key, lat=None, long=None, address_string="西岔镇 幸福路 3 号"))
    assert case.lon is None and case.address == "西岔镇 幸福路 3 号"
    from shequ.registry.models import Building

    Building.objects.create(code="B-7", name="7号楼", address="幸福路 7 号", lon=103.6052, lat=36.5053)
    case = case_of(post(client, api_key, lat=None, long=None, address_id="B-7"))
    assert (case.lon, case.lat, case.address) == (103.6052, 36.5053, "幸福路 7 号")
    assert case.grid is not None


def test_media_upload_is_decoded_like_every_photo(client, service, api_key, case_media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    photo = SimpleUploadedFile("x.jpg", make_jpeg((80, 60)), content_type="image/jpeg")
    case = case_of(post(client, api_key, media=photo))
    evidence = Evidence.objects.get(case=case)
    assert (evidence.width, evidence.height, evidence.content_type) == (80, 60, "image/jpeg")
    fake = SimpleUploadedFile("x.jpg", b"<html>not an image</html>", content_type="image/jpeg")
    response = post(client, api_key, "xml", media=fake)
    assert response.status_code == 400 and "media" in error_of(response, "xml")[1]
    assert Evidence.objects.count() == 1


def test_media_url_is_kept_and_returned(client, service, api_key, flow):
    case = case_of(post(client, api_key, media_url="https://img.example.com/a.jpg?x=1&y=2"))
    workflow.file_case(case, actor=flow.operator)
    root = xml(client.get(f"{BASE}/requests/{case.number}.xml"))
    assert root.findtext("request/media_url") == "https://img.example.com/a.jpg?x=1&y=2"


# --- GET requests --------------------------------------------------------------------------------

FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]


def filed(client: Any, api_key: str, flow: Any, state: str = CaseState.FILED, **fields: Any) -> Case:
    case = case_of(post(client, api_key, **fields))
    return flow.to_state(state, case)


def test_request_fields_and_no_personal_data(client, service, api_key, flow):
    case = filed(client, api_key, flow, phone="13912345678", email="me@example.com", first_name="李四")
    response = client.get(f"{BASE}/requests.xml")
    root = xml(response)
    request = root.find("request")
    assert request is not None and [c.tag for c in request] == FIELDS
    assert request.findtext("service_request_id") == case.number
    assert request.findtext("service_code") == CODE and request.findtext("status") == "open"
    assert request.findtext("requested_datetime", "").endswith("+08:00")
    assert float(request.findtext("lat") or 0) == pytest.approx(36.5052)
    body = js(client.get(f"{BASE}/requests.json"))
    assert list(body[0]) == FIELDS and isinstance(body[0]["service_request_id"], str)
    for raw in (response.content.decode(), str(body)):
        assert "13912345678" not in raw and "me@example.com" not in raw and "李四" not in raw


def test_cases_of_unpublished_sources_are_not_listed(client, service, flow, settings):
    case = flow.report()  # a resident's report through the page
    workflow.file_case(case, actor=flow.operator)
    assert [r["service_request_id"] for r in js(client.get(f"{BASE}/requests.json"))] == [case.number]
    settings.OPEN311_PUBLIC_SOURCES = ["api"]
    assert js(client.get(f"{BASE}/requests.json")) == []
    assert client.get(f"{BASE}/requests/{case.number}.json").status_code == 404


def test_every_filter_of_the_spec(client, service, api_key, flow, case_categories):
    a = filed(client, api_key, flow)
    b = filed(client, api_key, flow, state=CaseState.CLOSED, lat="36.5061", long="103.6062")
    c = filed(client, api_key, flow, lat="36.5071", long="103.6071")
    rejected = filed(client, api_key, flow, state=CaseState.REJECTED, lat="36.5081", long="103.6081")

    def ids(query: str) -> list[str]:
        response = client.get(f"{BASE}/requests.json?{query}")
        assert response.status_code == 200, (query, response.content.decode())
        return [r["service_request_id"] for r in js(response)]

    assert ids("") == [rejected.number, c.number, b.number, a.number]  # newest first
    assert ids(f"service_request_id={a.number},{b.number}") == [b.number, a.number]
    # With service_request_id every other filter is ignored (the spec).
    assert ids(f"service_request_id={a.number}&status=closed") == [a.number]
    assert ids("status=closed") == [rejected.number, b.number]
    assert ids("status=open") == [c.number, a.number]
    assert ids("status=open,closed") == ids("")
    assert ids(f"service_code={CODE}") == ids("")
    assert ids("service_code=event-0102") == []
    now = timezone.localtime()
    assert ids(f"start_date={(now + dt.timedelta(hours=1)).isoformat()}") == []
    later = (now - dt.timedelta(days=1)).isoformat()
    assert len(ids(f"start_date={later}")) == 4
    assert ids(f"end_date={(now - dt.timedelta(days=1)).date().isoformat()}") == []
    Case.objects.filter(pk=a.pk).update(created_at=timezone.now() - dt.timedelta(days=100))
    assert a.number not in ids("")  # the default window: the last 90 days
    old = (now - dt.timedelta(days=101)).isoformat()
    assert ids(f"start_date={old}") == [a.number]
    # Pages
    assert ids("page_size=2") == [rejected.number, c.number]
    assert ids("page_size=2&page=2") == [b.number]
    assert ids("page_size=2&page=9") == []


@pytest.mark.parametrize(
    "query",
    [
        "start_date=yesterday",
        "end_date=2026-13-45",
        "start_date=0001-01-01T00:00:00Z",
        "start_date=2026-01-01&end_date=2026-06-01",
        "start_date=2026-06-01&end_date=2026-01-01",
        "status=pending",
        "service_code=nope",
        "page=0",
        "page_size=1001",
        "page=-1",
        "page_size=1e3",
        "service_request_id=" + ",".join(["1"] * 201),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_filters_are_400(client, service, query, fmt):
    response = client.get(f"{BASE}/requests.{fmt}?{query}")
    assert response.status_code == 400, (query, response.content)
    assert error_of(response, fmt)[0] == 400


def test_jurisdiction(client, service, api_key, settings):
    settings.OPEN311_JURISDICTION = "xicha.example.cn"
    assert client.get(f"{BASE}/services.json?jurisdiction_id=xicha.example.cn").status_code == 200
    for fmt in FORMATS:
        response = client.get(f"{BASE}/services.{fmt}?jurisdiction_id=other.gov")
        assert response.status_code == 404
        _code, description = error_of(response, fmt)
        assert "other.gov" in description and "xicha.example.cn" in description
    response = post(client, api_key, jurisdiction_id="other.gov")
    assert response.status_code == 404 and Case.objects.count() == 0


# --- updates -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_updates_follow_a_case_through_its_life(client, service, api_key, flow, fmt):
    case = case_of(post(client, api_key))
    flow.to_state(CaseState.CLOSED, case)
    url = f"{BASE}/servicerequestupdates.{fmt}?service_request_id={case.number}"
    if fmt == "xml":
        root = xml(client.get(url))
        assert root.tag == "service_request_updates"
        rows = [{child.tag: child.text for child in update} for update in root.findall("request_update")]
    else:
        rows = js(client.get(url))
    assert [r["external_status_code"] for r in rows] == [
        "reported",
        "filed",
        "dispatched",
        "in_progress",
        "handled",
        "closed",
    ]
    assert [r["status"] for r in rows] == ["open"] * 5 + ["closed"]
    assert set(rows[0]) == {
        "update_id",
        "service_request_id",
        "status",
        "updated_datetime",
        "description",
        "media_url",
        "external_status_code",
    }
    assert all(r["service_request_id"] == case.number for r in rows)
    assert flow.department.name in rows[2]["description"]
    assert all(r["updated_datetime"].endswith("+08:00") for r in rows)
    ids = [int(r["update_id"]) for r in rows]
    assert ids == sorted(ids)
    # "已清理", the handler's own words, are not published; nor is anyone's name.
    assert all("已清理" not in (r["description"] or "") for r in rows)


def test_updates_by_date_and_page(client, service, api_key, flow):
    case = case_of(post(client, api_key))
    flow.to_state(CaseState.DISPATCHED, case)
    other = case_of(post(client, api_key, lat="36.5071", long="103.6071"))  # not filed: not public
    assert other.state == CaseState.REPORTED
    all_rows = js(client.get(f"{BASE}/servicerequestupdates.json"))
    assert {r["service_request_id"] for r in all_rows} == {case.number} and len(all_rows) == 3
    assert js(client.get(f"{BASE}/servicerequestupdates.json?page_size=2&page=2")) == all_rows[2:]
    future = (timezone.localtime() + dt.timedelta(minutes=5)).isoformat()
    assert js(client.get(f"{BASE}/servicerequestupdates.json", {"start_date": future})) == []
    response = client.get(f"{BASE}/servicerequestupdates.xml?end_date=garbage")
    assert response.status_code == 400 and error_of(response, "xml")[0] == 400


# --- keys and limits -----------------------------------------------------------------------------


# The window is the clock's minute: the clock stands still, so a test never straddles two.
@pytest.mark.parametrize("fmt", FORMATS)
@time_machine.travel(dt.datetime(2026, 11, 30, 9, 0, 10, tzinfo=dt.UTC), tick=False)
def test_rate_limit_per_key(client, service, key, settings, fmt):
    settings.OPEN311_RATE_LIMIT = 3
    for _ in range(3):
        assert client.get(f"{BASE}/services.{fmt}", {"api_key": key[1]}).status_code == 200
    response = client.get(f"{BASE}/services.{fmt}", {"api_key": key[1]})
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert error_of(response, fmt)[0] == 429
    assert post(client, key[1], fmt).status_code == 429
    row = ApiKey.objects.get(pk=key[0].pk)
    assert (row.request_count, row.refused_count) == (3, 2) and row.last_used_at is not None
    # Without a key, a client address has its own allowance.
    assert client.get(f"{BASE}/services.{fmt}").status_code == 200


@time_machine.travel(dt.datetime(2026, 11, 30, 9, 0, 10, tzinfo=dt.UTC), tick=False)
def test_rate_limit_without_a_key(client, service, settings):
    settings.OPEN311_ANON_RATE_LIMIT = 2
    assert [client.get(f"{BASE}/requests.json").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_paths_and_methods(client, fmt):
    response = client.get(f"/open311/v2/nothing.{fmt}")
    assert response.status_code == 404 and error_of(response, fmt)[0] == 404
    response = client.delete(f"{BASE}/services.{fmt}")
    assert response.status_code == 405 and error_of(response, fmt)[0] == 405
    response = client.get("/open311/v2/services.html")
    assert response.status_code == 404 and error_of(response, "xml")[0] == 404


def test_english_on_request(client, service):
    response = client.get(f"{BASE}/services/event-0000.json", HTTP_ACCEPT_LANGUAGE="en")
    assert "does not exist" in error_of(response, "json")[1]


def test_the_next_minute_has_a_fresh_allowance(client, service, key, settings):
    settings.OPEN311_RATE_LIMIT = 1
    with time_machine.travel(dt.datetime(2026, 11, 30, 9, 0, 59, tzinfo=dt.UTC), tick=False) as clock:
        assert client.get(f"{BASE}/services.json", {"api_key": key[1]}).status_code == 200
        assert client.get(f"{BASE}/services.json", {"api_key": key[1]}).status_code == 429
        clock.shift(dt.timedelta(seconds=2))
        assert client.get(f"{BASE}/services.json", {"api_key": key[1]}).status_code == 200


def test_a_retry_with_the_same_idempotency_key_is_the_first_request(
    client, service, api_key, key, system_user
):
    from shequ.open311 import services

    first = js(post(client, api_key, HTTP_IDEMPOTENCY_KEY="app-42"))
    again = js(post(client, api_key, HTTP_IDEMPOTENCY_KEY="app-42"))
    assert first == again and Case.objects.count() == 1 and Submission.objects.count() == 1
    # Another client's same key is its own.
    _other, other_key = services.create_key("另一个", actor=system_user)
    assert js(post(client, other_key, HTTP_IDEMPOTENCY_KEY="app-42"))[0]["token"] != first[0]["token"]
    response = post(client, api_key, "xml", HTTP_IDEMPOTENCY_KEY="k" * 81)
    assert response.status_code == 400 and "Idempotency-Key" in error_of(response, "xml")[1]


def test_posting_needs_no_csrf_token(service, api_key):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post(strict, api_key)
    assert response.status_code == 200 and "token" in js(response)[0]
