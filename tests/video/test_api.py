"""The video REST API (docs/api.md "Video") per role: cameras and alerts in scope, 404 outside it,
403 for roles without camera access, passwords never shown, images blurred outside the command
center, confirm/dismiss idempotent, per-field errors of analytics settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from shequ.cases.models import Case, Evidence
from shequ.video import services
from shequ.video.models import Alert, AlertState, Camera
from tests.video.conftest import ANALYTICS, frame_jpeg, mp4_clip, noisy_jpeg

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


NEW_CAMERA = {
    "code": "GB34020000001320000001",
    "name": "西岔镇路口",
    "lon": 103.615,
    "lat": 36.505,
    "heading": 90,
    "vendor": "hikvision",
    "protocol": "rtsp",
    "main_stream": "rtsp://10.1.2.3:554/Streaming/Channels/101",
    "username": "admin",
    "password": "Very-secret-9",
}


def test_operator_registers_and_the_password_is_never_shown(video_users, two_communities):
    client = client_for(video_users["operator"])
    created = client.post("/api/video/cameras/", NEW_CAMERA, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["grid"] == two_communities["grid12"].code and body["has_credentials"] is True
    assert "password" not in body and "username" not in body
    assert "Very-secret-9" not in created.content.decode()
    pk = body["id"]
    for url in (f"/api/video/cameras/{pk}/", "/api/video/cameras/"):
        page = client.get(url)
        assert page.status_code == 200 and "Very-secret-9" not in page.content.decode()
    changed = client.patch(f"/api/video/cameras/{pk}/", {"heading": 180, "watched": True}, format="json")
    assert changed.status_code == 200 and changed.json()["heading"] == 180 and changed.json()["watched"]
    duplicate = client.post("/api/video/cameras/", NEW_CAMERA, format="json")
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "code"


def test_camera_refusals_list_every_field(video_users):
    client = client_for(video_users["operator"])
    bad = {**NEW_CAMERA, "main_stream": "rtsp://u:p@10.0.0.1/x", "vendor": "sony", "code": "中文编号"}
    answer = client.post("/api/video/cameras/", bad, format="json")
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"main_stream", "vendor", "code"}
    for body, field in (
        ({**NEW_CAMERA, "lon": 500}, "lon"),
        ({**NEW_CAMERA, "heading": 360}, "heading"),
        ({**NEW_CAMERA, "extra": 1}, "extra"),
        ({**NEW_CAMERA, "name": "a\x00b"}, "name"),
    ):
        answer = client.post("/api/video/cameras/", body, format="json")
        assert answer.status_code == 400 and answer.json()["field"] == field, answer.content
    assert not Camera.objects.exists()


def test_lists_and_details_per_role(cameras, video_users, make_alert):
    a11, a21 = make_alert("cam11"), make_alert("cam21")
    u = video_users
    worker = client_for(u["worker11"])
    assert [c["code"] for c in results(worker.get("/api/video/cameras/"))] == ["CAM11"]
    # A grid worker sees no stream address (those are for who manages cameras).
    assert results(worker.get("/api/video/cameras/"))[0]["main_stream"] == ""
    assert results(client_for(u["operator"]).get("/api/video/cameras/?q=CAM11"))[0]["main_stream"].startswith(
        "rtsp"
    )
    assert worker.get(f"/api/video/cameras/{cameras['cam21'].pk}/").status_code == 404
    assert worker.get(f"/api/video/alerts/{a21.pk}/").status_code == 404
    assert worker.get(f"/api/video/alerts/{a11.pk}/").json()["camera_code"] == "CAM11"
    assert [a["id"] for a in results(worker.get("/api/video/alerts/"))] == [a11.pk]
    for name in ("resident", "handler"):
        client = client_for(u[name])
        for url in (
            "/api/video/cameras/",
            "/api/video/alerts/",
            f"/api/video/cameras/{cameras['cam11'].pk}/",
            f"/api/video/alerts/{a11.pk}/snapshot/",
        ):
            assert client.get(url).status_code == 403, (name, url)
    assert APIClient().get("/api/video/cameras/").status_code == 403
    # Grid workers and leaders may not register or change cameras.
    for name in ("worker11", "leader"):
        answer = client_for(u[name]).patch(
            f"/api/video/cameras/{cameras['cam11'].pk}/", {"name": "x"}, format="json"
        )
        assert answer.status_code == 403


def test_filters(cameras, video_users, make_alert, two_communities):
    services.record_status(cameras["cam21"].pk, "offline", "timeout")
    old = make_alert("cam11", detected_at=timezone.now() - dt.timedelta(days=3))
    new = make_alert("cam21", kind="crowd")
    services.dismiss_alert(old, actor=video_users["operator"])
    client = client_for(video_users["operator"])
    assert [c["code"] for c in results(client.get("/api/video/cameras/?status=offline"))] == ["CAM21"]
    community2 = two_communities["community2"].code
    assert [c["code"] for c in results(client.get(f"/api/video/cameras/?grid={community2}"))] == ["CAM21"]
    assert results(client.get("/api/video/cameras/?grid=nonexistent")) == []
    assert [a["id"] for a in results(client.get("/api/video/alerts/?state=dismissed"))] == [old.pk]
    assert [a["id"] for a in results(client.get("/api/video/alerts/?kind=crowd"))] == [new.pk]
    assert [a["id"] for a in results(client.get(f"/api/video/alerts/?camera={cameras['cam11'].pk}"))] == [
        old.pk
    ]
    since = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    assert [a["id"] for a in results(client.get(f"/api/video/alerts/?since={since}"))] == [new.pk]
    for query in ("state=open", "camera=abc", "since=yesterday", "status=x", "watched=maybe"):
        url = "/api/video/alerts/?" if not query.startswith(("status", "watched")) else "/api/video/cameras/?"
        assert client.get(url + query).status_code == 400, query


def test_analytics_get_put_with_per_field_errors(cameras, video_users):
    client = client_for(video_users["operator"])
    url = f"/api/video/cameras/{cameras['cam11'].pk}/analytics/"
    saved = client.put(url, ANALYTICS, format="json")
    assert saved.status_code == 200, saved.content
    assert saved.json()["analytics"]["rules"][0]["cooldown_seconds"] == 600
    bad = {**ANALYTICS, "rules": [{"id": "p", "kind": "parking", "zone": "road", "min_minutes": -1}]}
    refused = client.put(url, bad, format="json")
    assert refused.status_code == 422
    assert any(e["field"].startswith("rules.0") for e in refused.json()["errors"])
    assert client.get(url).json()["analytics"]["rules"][0]["id"] == "park1"  # unchanged
    assert client_for(video_users["worker11"]).put(url, ANALYTICS, format="json").status_code == 403
    assert client_for(video_users["worker11"]).get(url).status_code == 200


def test_images_per_role(cameras, video_users, make_alert):
    shot = noisy_jpeg()
    clip = mp4_clip()
    alert = make_alert(label="person", box=(0.4, 0.2, 0.6, 0.9), snapshot=shot, clip=clip)
    operator, worker = client_for(video_users["operator"]), client_for(video_users["worker11"])
    original = operator.get(f"/api/video/alerts/{alert.pk}/snapshot/")
    assert original.status_code == 200 and original["Content-Type"] == "image/jpeg"
    assert original.content == shot and "no-store" in original["Cache-Control"]
    blurred = worker.get(f"/api/video/alerts/{alert.pk}/snapshot/")
    assert blurred.status_code == 200 and blurred.content != shot and blurred.content[:2] == b"\xff\xd8"
    assert operator.get(f"/api/video/alerts/{alert.pk}/clip/").content == clip
    assert worker.get(f"/api/video/alerts/{alert.pk}/clip/").status_code == 404
    assert worker.get(f"/api/video/alerts/{alert.pk}/").json()["has_clip"] is False
    assert operator.get(f"/api/video/alerts/{alert.pk}/").json()["has_clip"] is True
    latest = f"/api/video/cameras/{cameras['cam11'].pk}/snapshot/"
    assert operator.get(latest).status_code == 404  # no frame yet
    services.store_latest_snapshot(cameras["cam11"].pk, frame_jpeg())
    assert operator.get(latest).content == frame_jpeg()
    assert worker.get(latest).content not in (b"", frame_jpeg())
    none = make_alert()
    assert operator.get(f"/api/video/alerts/{none.pk}/snapshot/").status_code == 404


def test_confirm_twice_is_one_case_and_dismiss_after_is_409(make_alert, video_users, case_categories):
    alert = make_alert(snapshot=frame_jpeg())
    client = client_for(video_users["operator"])
    url = f"/api/video/alerts/{alert.pk}/confirm/"
    category = case_categories["机动车乱停放"].pk
    first = client.post(url, {"category": category, "description": "白色轿车占用人行道"}, format="json")
    assert first.status_code == 201, first.content
    again = client.post(url, {}, format="json")
    assert again.status_code == 200 and again.json()["case"] == first.json()["case"]
    case = Case.objects.get(pk=first.json()["case"]["id"])
    assert case.source == "camera" and case.evidence.get().kind == Evidence.Kind.SNAPSHOT
    assert (
        first.json()["alert"]["state"] == "confirmed" and first.json()["alert"]["case_number"] == case.number
    )
    dismissed = client.post(f"/api/video/alerts/{alert.pk}/dismiss/", {"reason": "误报"}, format="json")
    assert dismissed.status_code == 409 and case.number in dismissed.json()["detail"]
    assert Case.objects.count() == 1


def test_dismiss_and_confirm_refusals(make_alert, video_users, cameras):
    services.set_analytics(cameras["cam11"], ANALYTICS, actor=video_users["operator"])
    alert = make_alert()
    worker = client_for(video_users["worker11"])
    url = f"/api/video/alerts/{alert.pk}/dismiss/"
    done = worker.post(url, {"reason": "树影晃动", "ignore_similar": True}, format="json")
    assert done.status_code == 200 and done.json()["state"] == "dismissed"
    assert worker.post(url, {"reason": "again"}, format="json").json()["dismiss_reason"] == "树影晃动"
    assert worker.post(f"/api/video/alerts/{alert.pk}/confirm/", {}, format="json").status_code == 409
    other = make_alert("cam21")
    assert worker.post(f"/api/video/alerts/{other.pk}/confirm/", {}, format="json").status_code == 404
    leader = client_for(video_users["leader"])
    assert leader.post(f"/api/video/alerts/{other.pk}/confirm/", {}, format="json").status_code == 403
    operator = client_for(video_users["operator"])
    assert (
        operator.post(
            f"/api/video/alerts/{other.pk}/confirm/", {"category": 10**9}, format="json"
        ).status_code
        == 422
    )
    assert (
        operator.post(f"/api/video/alerts/{other.pk}/dismiss/", {"why": 1}, format="json").status_code == 400
    )
    assert Alert.objects.get(pk=other.pk).state == AlertState.NEW
