"""Regressions found in review: an unreadable query string or charset is the spec's 400, never a
500 or Django's HTML page; a report merged into a case the public may not read never names it."""

from __future__ import annotations

import pytest

from shequ.cases.models import Case, CaseState
from shequ.cases.services import workflow
from shequ.open311.models import Submission
from tests.open311.conftest import BASE, CODE, error_of, js, post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fmt", ["xml", "json"])
@pytest.mark.parametrize("path", ["requests", "servicerequestupdates", "services", "discovery"])
def test_too_many_query_parameters_are_the_spec_400(client, service, path, fmt):
    many = "&".join(f"f{i}=1" for i in range(1200))
    response = client.get(f"{BASE}/{path}.{fmt}?{many}")
    assert response.status_code == 400 and error_of(response, fmt)[0] == 400


@pytest.mark.parametrize("charset", ["rot13", "hex", "idna", "utf-16"])
def test_a_body_in_a_charset_that_is_no_utf8_text_is_the_spec_400(client, service, api_key, charset):
    fields = {"api_key": api_key, "service_code": CODE, "lat": "36.5052", "long": "103.6051"}
    # generic() sends the bytes as they are (post() would re-encode them in that charset).
    form = "&".join(f"{k}={v}" for k, v in fields.items()).encode() + b"&description=%FF"
    response = client.generic(
        "POST",
        f"{BASE}/requests.xml",
        form,
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )
    assert response.status_code == 400 and error_of(response, "xml")[0] == 400
    multipart = b"".join(
        b'--zzz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v.encode())
        for k, v in {**fields, "description": "x\xff中"}.items()
    )
    response = client.generic(
        "POST",
        f"{BASE}/requests.json",
        multipart + b"--zzz--\r\n",
        content_type=f"multipart/form-data; boundary=zzz; charset={charset}",
    )
    assert response.status_code in (400, 403) and error_of(response, "json")[0] == response.status_code
    assert Case.objects.count() == 0


def test_a_report_merged_into_a_private_case_does_not_name_it(client, service, api_key, flow):
    service.merge_duplicates = True
    service.duplicate_radius_m = 50
    service.save()
    first = Submission.objects.get(token=js(post(client, api_key))[0]["token"]).case
    Case.objects.filter(pk=first.pk).update(source="camera")  # a camera's case: not published
    first.refresh_from_db()
    workflow.file_case(first, actor=flow.operator)
    body = js(post(client, api_key))[0]
    second = Case.objects.exclude(pk=first.pk).get()
    assert second.state == CaseState.MERGED and second.duplicate_of == first
    assert first.number not in str(body)
    number = body["service_request_id"]
    assert number == second.number  # one the client can read: closed, as merged
    token = Submission.objects.get(case=second).token
    assert js(client.get(f"{BASE}/tokens/{token}.json"))[0]["service_request_id"] == number
    one = js(client.get(f"{BASE}/requests/{number}.json"))[0]
    assert one["status"] == "closed" and first.number not in one["status_notes"]
    updates = js(client.get(f"{BASE}/servicerequestupdates.json", {"service_request_id": number}))
    merged = [u for u in updates if u["service_request_id"] == number and u["status"] == "closed"]
    assert merged and all(first.number not in u["description"] for u in updates)


def test_a_rejected_report_is_followable_but_its_text_is_not_published(client, service, api_key, flow):
    token = js(post(client, api_key, description="骂人的话和手机号 13800138000"))[0]["token"]
    case = Submission.objects.get(token=token).case
    workflow.reject_case(case, actor=flow.operator, reason="invalid")
    one = js(client.get(f"{BASE}/requests/{case.number}.json"))[0]
    assert one["status"] == "closed" and one["service_request_id"] == case.number
    assert not one.get("description") and "13800138000" not in str(one)
    listed = js(client.get(f"{BASE}/requests.json"))
    assert "13800138000" not in str(listed)
