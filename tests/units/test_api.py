"""/api/units/ and the pages: hostile input is a 4xx naming the problem, rules answer 403/409, the
throttle is a harmless 202, every read is scoped; the duty page and the case page's nearest units."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from shequ.cases.services import intake
from shequ.core.models import Event
from shequ.units.models import DutyStatus, Position
from tests.cases.conftest import IN_GRID11, IN_GRID12, IN_GRID21

pytestmark = pytest.mark.django_db


def as_user(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def post(client: Client, url: str, body: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def fix(lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    return {"lon": lon, "lat": lat, "accuracy_m": 12.5, **extra}


def test_phone_flow(units):
    phone = as_user(units["worker11"])
    me = phone.get("/api/units/me/").json()
    assert me["eligible"] and me["status"] == "off_duty" and not me["consent"] and not me["sharing"]
    refused = post(phone, "/api/units/positions/", fix(*IN_GRID11))
    assert refused.status_code == 409 and "同意" in refused.json()["detail"]
    on = post(phone, "/api/units/status/", {"status": "on_duty", "consent": True})
    assert on.status_code == 200 and on.json()["sharing"] is True
    first = post(phone, "/api/units/positions/", fix(*IN_GRID11))
    assert first.status_code == 201 and first.json()["result"] == "recorded" and first.json()["published"]
    again = post(phone, "/api/units/positions/", fix(*IN_GRID12))
    assert again.status_code == 202 and again.json()["result"] == "ignored"
    assert Position.objects.count() == 1
    me = phone.get("/api/units/me/").json()
    assert (me["last_lon"], me["last_lat"], me["last_accuracy_m"]) == (*IN_GRID11, 12.5)
    off = post(phone, "/api/units/status/", {"status": "off_duty"})
    assert off.json()["sharing"] is False and off.json()["consent"] is True
    refused = post(phone, "/api/units/positions/", fix(*IN_GRID11))
    assert refused.status_code == 409 and "下岗" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (fix(181, 36.5), "lon"),
        (fix(103.6, 91), "lat"),
        ('{"lon": NaN, "lat": 36.5, "accuracy_m": 5}', None),
        ({"lon": "NaN", "lat": 36.5, "accuracy_m": 5}, "lon"),
        ({"lon": "Infinity", "lat": 36.5, "accuracy_m": 5}, "lon"),
        ({"lon": 103.6, "lat": 36.5}, "accuracy_m"),
        (fix(103.6, 36.5, accuracy_m=-3), "accuracy_m"),
        (fix(103.6, 36.5, accuracy_m=50000), "accuracy_m"),
        (fix(103.6, 36.5, at="yesterday"), "at"),
        (fix(103.6, 36.5, speed=3), "speed"),
        ("[1, 2]", None),
        ("{", None),
    ],
)
def test_bad_positions_are_400(units, body, field):
    phone = as_user(units["worker11"])
    post(phone, "/api/units/status/", {"status": "on_duty", "consent": True})
    answer = post(phone, "/api/units/positions/", body)
    assert answer.status_code == 400, answer.content
    if field:
        assert answer.json()["field"] == field
    assert not Position.objects.exists()


def test_a_fix_from_the_future_is_422(units):
    phone = as_user(units["worker11"])
    post(phone, "/api/units/status/", {"status": "on_duty", "consent": True})
    answer = post(phone, "/api/units/positions/", fix(*IN_GRID11, at="2099-01-01T00:00:00+08:00"))
    assert answer.status_code == 422 and answer.json()["field"] == "at"


def test_status_input_is_checked(units):
    phone = as_user(units["worker11"])
    assert post(phone, "/api/units/status/", {"status": "napping"}).status_code == 400
    assert post(phone, "/api/units/status/", {"status": "on_duty", "consent": "maybe"}).status_code == 400
    assert not DutyStatus.objects.filter(status="on_duty").exists()


def test_other_roles_have_no_duty(units):
    operator = as_user(units["operator"])
    assert operator.get("/api/units/me/").json()["eligible"] is False
    assert post(operator, "/api/units/status/", {"status": "on_duty", "consent": True}).status_code == 403
    assert post(operator, "/api/units/positions/", fix(*IN_GRID11)).status_code == 403
    assert Client().get("/api/units/units/").status_code in {401, 403}
    assert not DutyStatus.objects.exists()


def test_session_posts_need_the_csrf_token(units):
    phone = as_user(units["worker11"], enforce_csrf_checks=True)
    answer = post(phone, "/api/units/status/", {"status": "on_duty", "consent": True})
    assert answer.status_code == 403 and not DutyStatus.objects.filter(status="on_duty").exists()


def test_units_list_is_scoped(units, on_duty):
    on_duty(units["worker11"], *IN_GRID11)
    on_duty(units["worker21"], *IN_GRID21)
    mine = as_user(units["operator1"]).get("/api/units/units/").json()
    assert [u["user_id"] for u in mine] == [units["worker11"].pk]
    assert mine[0]["lon"] == IN_GRID11[0] and mine[0]["status"] == "on_duty"
    assert as_user(units["resident"]).get("/api/units/units/").json() == []


def test_nearest_endpoint(units, on_duty, case_categories):
    case, _ = intake.report_case(
        actor=units["operator"],
        source="hotline",
        description="井盖缺失",
        category=case_categories["暴露垃圾"],
        lon=IN_GRID11[0],
        lat=IN_GRID11[1],
    )
    on_duty(units["worker11"], *IN_GRID11)
    rows = as_user(units["operator1"]).get("/api/units/nearest/", {"case": case.pk}).json()
    assert [r["user_id"] for r in rows] == [units["worker11"].pk] and rows[0]["distance_m"] == 0
    # Another community's operator: the case is not theirs (404, as the case API answers).
    assert as_user(units["operator2"]).get("/api/units/nearest/", {"case": case.pk}).status_code == 404
    operator = as_user(units["operator"])
    for bad in ({}, {"case": "x"}, {"case": "0"}, {"case": case.pk, "limit": "99"}):
        assert operator.get("/api/units/nearest/", bad).status_code == 400, bad
    assert operator.get("/api/units/nearest/", {"case": 10**11}).status_code == 404


def test_track_endpoint(units, on_duty):
    worker = on_duty(units["worker11"], *IN_GRID11)
    track = as_user(units["operator1"]).get(f"/api/units/units/{worker.pk}/track/").json()
    assert [(p["lon"], p["lat"]) for p in track] == [IN_GRID11]
    assert as_user(units["operator2"]).get(f"/api/units/units/{worker.pk}/track/").status_code == 404
    assert as_user(units["worker12"]).get(f"/api/units/units/{worker.pk}/track/").status_code == 404
    assert as_user(units["operator1"]).get("/api/units/units/abc/track/").status_code == 404
    assert as_user(units["operator1"]).get(f"/api/units/units/{worker.pk}/track/?hours=48").status_code == 400


# --- pages ----------------------------------------------------------------------------------------


def test_duty_page(units):
    page = as_user(units["worker11"])
    html = page.get("/units/duty/").content.decode()
    assert "上岗" in html and "忙碌" in html and "下岗" in html and 'name="consent"' in html
    assert "build/duty.js" in html and 'data-sharing="0"' in html
    answer = page.post("/units/duty/", {"status": "on_duty", "consent": "on"})
    assert answer.status_code == 302
    duty = DutyStatus.objects.get(user=units["worker11"])
    assert duty.status == "on_duty" and duty.consent_at is not None
    assert 'data-sharing="1"' in page.get("/units/duty/").content.decode()
    # Unticking the box revokes the consent.
    page.post("/units/duty/", {"status": "on_duty"})
    duty.refresh_from_db()
    assert duty.consent_at is None
    assert page.post("/units/duty/", {"status": "sleeping"}).status_code == 422


def test_duty_page_is_for_field_roles(units):
    assert as_user(units["operator"]).get("/units/duty/").status_code == 403
    assert as_user(units["resident"]).get("/units/duty/").status_code == 403
    assert Client().get("/units/duty/").status_code == 302  # log in first
    assert "上岗/位置" in as_user(units["handler"]).get("/units/duty/").content.decode()
    assert "/units/duty/" not in as_user(units["operator"]).get("/").content.decode()
    assert "/units/duty/" in as_user(units["worker11"]).get("/").content.decode()


def test_case_page_shows_nearest_units_to_the_command_center(units, on_duty, case_categories):
    case, _ = intake.report_case(
        actor=units["operator"],
        source="hotline",
        description="占道经营",
        category=case_categories["暴露垃圾"],
        lon=IN_GRID11[0],
        lat=IN_GRID11[1],
    )
    on_duty(units["worker11"], *IN_GRID11)
    html = as_user(units["operator"]).get(f"/cases/{case.number}/").content.decode()
    assert "附近可派力量" in html and "网格员张" in html and "0 米" in html
    worker_html = as_user(units["worker11"]).get(f"/cases/{case.number}/").content.decode()
    assert "附近可派力量" not in worker_html
    assert Event.objects.filter(type="units.position").exists()


def test_duty_page_in_english(units, on_duty):
    from tests.web.test_i18n import switch_to_english, untranslated

    on_duty(units["worker11"], *IN_GRID11)
    client = as_user(units["worker11"])
    switch_to_english(client)
    html = client.get("/units/duty/").content.decode()
    assert "Go on duty" in html and "Duty / position" in html
    # The worker's own name (data) is the only Chinese left; the nav's 一张图 belongs to onemap.
    assert [t for t in untranslated(html) if "网格员张" not in t and "一张图" not in t] == []


@pytest.mark.parametrize("field", ["lon", "lat", "accuracy_m"])
def test_a_boolean_is_not_a_number(units, field):
    """Regression: JSON true/false passed as 1.0/0.0 (a position recorded at longitude 1)."""
    phone = as_user(units["worker11"])
    post(phone, "/api/units/status/", {"status": "on_duty", "consent": True})
    answer = post(phone, "/api/units/positions/", fix(*IN_GRID11) | {field: True})
    assert answer.status_code == 400 and answer.json()["field"] == field
    assert not Position.objects.exists()
