"""Hostile and careless input to the Open311 API: never a 500, always the spec's error body, and
text that round-trips escaped through a real XML parser."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from shequ.cases.models import Case, CaseState
from shequ.cases.services import workflow
from shequ.open311.models import Submission
from tests.open311.conftest import BASE, CODE, error_of, js, post, xml

pytestmark = pytest.mark.django_db

NASTY = "<script>alert('x')</script> & \"quoted\" ]]> <![CDATA[ x ]]> 表情😀 \u202e反转"


def test_xml_special_characters_round_trip_escaped(client, service, api_key, flow):
    token = js(post(client, api_key, description=NASTY + "\x00\x01\x1f\x7f end"))[0]["token"]
    case = Submission.objects.get(token=token).case
    assert "\x00" not in case.description  # control characters are dropped at the edge
    workflow.file_case(case, actor=flow.operator)
    response = client.get(f"{BASE}/requests/{case.number}.xml")
    assert b"<script>" not in response.content
    root = xml(response)
    assert root.findtext("request/description") == NASTY + " end"
    assert js(client.get(f"{BASE}/requests/{case.number}.json"))[0]["description"] == NASTY + " end"


@pytest.mark.parametrize(
    "path",
    [
        "requests/%E4%B8%AD%E6%96%87.xml",
        "requests/%00.json",
        "requests/" + "9" * 500 + ".xml",
        "tokens/" + "t" * 500 + ".json",
        "services/%3Cx%3E.xml",
        "services/event-" + "1" * 100 + ".json",
        "..%2F..%2Fetc%2Fpasswd.xml",
    ],
)
def test_odd_paths_are_404(client, service, path):
    response = client.get(f"{BASE}/{path}")
    assert response.status_code == 404
    assert error_of(response, "json" if path.endswith("json") else "xml")[0] == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"lat": "nan", "long": "103.6"},
        {"lat": "inf", "long": "-inf"},
        {"lat": "1e999", "long": "1e999"},
        {"lat": "36.5", "long": "东经103度"},
        {"description": "x" * 5000},
        {"first_name": "名" * 60},
        {"email": "a" * 300 + "@example.com"},
        {"device_id": "d" * 401},
        {"account_id": "a" * 401},
        {"address_string": "路" * 201, "lat": None, "long": None},
        {"media_url": "https://example.com/" + "a" * 1000},
        {"attribute[size][]": ["small", "large"]},
        {"attribute[floors]": "1e99999"},
        {"attribute[floors]": "NaN"},
        {"attribute[seen]": "9999-12-31T23:59:59+14:00"},
        {"attribute[kinds][]": ["box"] * 101},
        {"phone": "+1 (555) 0100"},
    ],
)
def test_bad_fields_are_400_and_write_nothing(client, service, api_key, fields):
    response = post(client, api_key, "xml", **fields)
    assert response.status_code == 400, (fields, response.content)
    assert error_of(response, "xml")[0] == 400
    assert Case.objects.count() == 0


def test_a_body_over_the_limit_is_413(client, service, api_key):
    response = client.post(
        f"{BASE}/requests.json",
        f"api_key={api_key}&service_code={CODE}&description=" + "x" * (11 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413 and error_of(response, "json")[0] == 413


def test_too_many_fields_and_broken_multipart_are_400(client, service, api_key):
    many = "&".join(f"f{i}=1" for i in range(1200))
    response = client.post(
        f"{BASE}/requests.xml", f"api_key={api_key}&{many}", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400 and error_of(response, "xml")[0] == 400
    response = client.post(
        f"{BASE}/requests.json",
        b'--zzz\r\nContent-Disposition: form-data; name="api_key"\r\n\r\n' + api_key.encode(),
        content_type="multipart/form-data; boundary=zzz",
    )
    assert response.status_code in (400, 403) and error_of(response, "json")[0] in (400, 403)
    response = client.post(f"{BASE}/requests.json", b"{}", content_type="multipart/form-data")
    assert response.status_code in (400, 403)


def test_json_bodies_are_not_the_spec_and_say_so(client, service, api_key):
    response = client.post(
        f"{BASE}/requests.json", {"api_key": api_key, "service_code": CODE}, content_type="application/json"
    )
    assert response.status_code == 403  # no form fields: no api_key was read
    assert "api_key" in error_of(response, "json")[1]


@pytest.mark.parametrize(
    "query",
    [
        "service_request_id=" + "1," * 3000,
        "api_key=" + "k" * 300,
        "jurisdiction_id=" + "j" * 300,
        "start_date=" + "2" * 50,
        "start_date=2026-02-30",
        "start_date=2026-11-29T25:00:00",
        "page=99999999999999999999",
        "page_size=%00",
        "status=%00open",
    ],
)
def test_hostile_queries_never_500(client, service, query):
    response = client.get(f"{BASE}/requests.json?{query}")
    assert response.status_code in (200, 400, 403, 404), (query, response.status_code)
    if response.status_code == 200:  # control characters are dropped: "%00open" is "open"
        assert js(response) == []
    else:
        assert error_of(response, "json")[0] == response.status_code


def test_head_requests_and_unicode_values(client, service, api_key, flow):
    assert client.head(f"{BASE}/services.xml").status_code == 200
    case = Submission.objects.get(token=js(post(client, api_key, description="🚧" * 100))[0]["token"]).case
    workflow.file_case(case, actor=flow.operator)
    assert xml(client.get(f"{BASE}/requests.xml")).findtext("request/description") == "🚧" * 100
    assert case.state == CaseState.FILED


def test_a_service_request_id_with_a_space_or_comma_only(client, service):
    for query in ("service_request_id=,,,", "service_request_id=%20", "service_code=,"):
        response = client.get(f"{BASE}/requests.json?{query}")
        assert response.status_code == 200 and js(response) == []


def test_key_command(capsys):
    from io import StringIO

    out = StringIO()
    call_command("open311", "key", "create", "城市App", stdout=out)
    raw = out.getvalue().strip()
    assert len(raw) >= 40
    from shequ.core.models import AuditEntry
    from shequ.open311.models import ApiKey
    from shequ.open311.selectors import key_for

    key = ApiKey.objects.get(name="城市App")
    assert key_for(raw) == key and raw not in key.key_hash and key.prefix == raw[:8]
    assert AuditEntry.objects.filter(action="open311.key_create", target_id=str(key.pk)).exists()
    with pytest.raises(Exception, match="已有名为"):
        call_command("open311", "key", "create", "城市App", stdout=StringIO())
    out = StringIO()
    call_command("open311", "key", "list", stdout=out)
    assert "城市App" in out.getvalue() and "active" in out.getvalue() and raw not in out.getvalue()
    call_command("open311", "key", "revoke", "城市App", stdout=StringIO())
    key.refresh_from_db()
    assert key.revoked_at is not None
    out = StringIO()
    call_command("open311", "key", "list", stdout=out)
    assert "revoked" in out.getvalue()
    with pytest.raises(Exception, match="没有名为"):
        call_command("open311", "key", "revoke", "nobody", stdout=StringIO())


def test_admin_makes_a_key_shown_once_and_revokes(client, system_user):
    from shequ.open311.models import ApiKey
    from shequ.open311.selectors import key_for

    system_user.is_staff = system_user.is_superuser = True
    system_user.save()
    client.force_login(system_user)
    response = client.post("/admin/open311/apikey/add/", {"name": "区级平台"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    key = ApiKey.objects.get(name="区级平台")
    raw = shown[0].rsplit(": ", 1)[-1]
    assert key_for(raw) == key and key.created_by == system_user
    page = client.get(f"/admin/open311/apikey/{key.pk}/change/")
    assert raw not in page.content.decode()
    client.post(
        "/admin/open311/apikey/",
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.get("/admin/open311/submission/").status_code == 200
