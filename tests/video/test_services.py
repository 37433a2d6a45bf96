"""The video services: the camera register, analytics settings, what workers report, alerts and
their path to cases, retention. Events and audit rows are asserted; refused input changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from shequ.cases.models import Case, CaseState, Evidence, Source
from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.core.models import AuditEntry, Event
from shequ.video import services
from shequ.video.models import Alert, AlertState, Camera, CameraStatus
from tests.cases.conftest import IN_GRID12, stored_files
from tests.video.conftest import ANALYTICS, frame_jpeg, mp4_clip, noisy_jpeg, png, region_std

pytestmark = pytest.mark.django_db


def events(kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in Event.objects.filter(type=kind).order_by("seq")]


def audits(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("pk"))


# --- the register -------------------------------------------------------------------------------


def test_register_places_camera_in_its_grid_and_encrypts_the_password(cameras, two_communities):
    cam = cameras["cam11"]
    assert cam.grid_id == two_communities["grid11"].pk
    assert cameras["cam_out"].grid_id is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT password, username FROM video_camera WHERE id = %s", [cam.pk])
        stored_password, _username = cursor.fetchone()
    assert "Cam-secret-1" not in stored_password and stored_password.startswith("v1.")
    assert Camera.objects.get(pk=cam.pk).password == "Cam-secret-1"
    entry = audits("video.camera_register")[0]
    assert entry.detail["code"] == "CAM11" and entry.detail["password_changed"] is True
    assert "Cam-secret-1" not in str(entry.detail) and "password" not in entry.detail


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lon": 181}, "lon"),
        ({"lat": float("nan")}, "lat"),
        ({"lon": "东经103"}, "lon"),
        ({"heading": 360}, "heading"),
        ({"heading": 12.5}, "heading"),
        ({"main_stream": "ftp://10.0.0.1/x"}, "main_stream"),
        ({"main_stream": "rtsp://admin:12345@10.0.0.1/x"}, "main_stream"),
        ({"sub_stream": "rtsp://10.0.0.1/a b"}, "sub_stream"),
        ({"snapshot_url": "http://10.0.0.1:99999/snap.jpg"}, "snapshot_url"),
        ({"main_stream": "rtsp://" + "a" * 600}, "main_stream"),
        ({"name": "名\x00称"}, "name"),
        ({"code": "摄像头一"}, "code"),
        ({"vendor": "sony"}, "vendor"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_refused_fields_write_nothing(video_users, two_communities, fields, field):
    base = {"code": "C1", "name": "一号", "lon": 103.605, "lat": 36.505}
    with pytest.raises(Invalid) as refused:
        services.register_camera(actor=video_users["admin"], **(base | fields))
    assert refused.value.field == field
    assert not Camera.objects.exists() and not audits("video.camera_register")


def test_every_refused_field_is_listed(video_users):
    with pytest.raises(services.Refused) as refused:
        services.register_camera(actor=video_users["admin"], code="C1", name="", lon=999, heading=-1)
    assert {e["field"] for e in refused.value.errors} == {"name", "lon", "heading", "lat"}


def test_who_may_register(video_users, two_communities, cameras):
    with pytest.raises(Forbidden):
        services.register_camera(actor=video_users["worker11"], code="X1", name="x", lon=103.605, lat=36.505)
    # An operator of community 2 registers only in community 2.
    with pytest.raises(Forbidden):
        services.register_camera(actor=video_users["operator2"], code="X2", name="x", lon=103.605, lat=36.505)
    cam = services.register_camera(
        actor=video_users["operator2"], code="X3", name="x", lon=103.625, lat=36.505
    )
    assert cam.grid_id == two_communities["grid21"].pk
    with pytest.raises(Conflict):
        services.register_camera(actor=video_users["admin"], code="CAM11", name="重复", lon=103.6, lat=36.5)
    # A camera in no grid is the command center's to place: any operator sees and moves it.
    moved = services.update_camera(
        cameras["cam_out"], actor=video_users["operator2"], lon=103.625, lat=36.505
    )
    assert moved.grid_id == two_communities["grid21"].pk
    with pytest.raises(Forbidden):  # but not into another community's grid
        services.update_camera(moved, actor=video_users["operator2"], lon=103.605, lat=36.505)


def test_update_moves_grid_and_handles_password_write_only(cameras, video_users, two_communities):
    cam = cameras["cam11"]
    cam = services.update_camera(cam, actor=video_users["operator"], lon=IN_GRID12[0], lat=IN_GRID12[1])
    assert cam.grid_id == two_communities["grid12"].pk
    entry = audits("video.camera_update")[-1]
    assert entry.detail["lon"] == IN_GRID12[0]
    services.update_camera(cam, actor=video_users["operator"], password="")
    assert Camera.objects.get(pk=cam.pk).password == ""
    assert audits("video.camera_update")[-1].detail == {"code": "CAM11", "password_changed": True}
    count = AuditEntry.objects.count()
    services.update_camera(cam, actor=video_users["operator"], name=cam.name)  # no change: no audit
    assert AuditEntry.objects.count() == count
    with pytest.raises(Forbidden):  # grid21's operator may not touch a camera of community 1
        services.update_camera(cam, actor=video_users["operator2"], name="改名")


# --- analytics settings -------------------------------------------------------------------------


def test_set_analytics_stores_the_engines_full_settings(cameras, video_users):
    cam = services.set_analytics(cameras["cam11"], ANALYTICS, actor=video_users["operator"])
    rule = cam.analytics["rules"][0]
    assert rule["id"] == "park1" and rule["min_score"] == 0.5 and rule["ignore"] == []
    assert cam.analytics["sample_fps"] == 1.0
    assert audits("video.camera_analytics")[0].detail["rules"] == ["park1"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**ANALYTICS, "rules": [{"id": "p", "kind": "parking", "zone": "nowhere"}]}, "rules"),
        ({**ANALYTICS, "colour": 1}, "colour"),
        ({"zones": [{"id": "z", "name": "z", "polygon": [[0, 0], [2, 0], [0, 1]]}]}, "zones.0.polygon"),
        ([], ""),
    ],
)
def test_set_analytics_refuses_with_per_field_errors(cameras, video_users, data, field):
    with pytest.raises(services.Refused) as refused:
        services.set_analytics(cameras["cam11"], data, actor=video_users["operator"])
    assert any(e["field"].startswith(field) for e in refused.value.errors), refused.value.errors
    assert Camera.objects.get(pk=cameras["cam11"].pk).analytics == {}
    assert not audits("video.camera_analytics")


def test_grid_worker_may_not_change_analytics(cameras, video_users):
    with pytest.raises(Forbidden):
        services.set_analytics(cameras["cam11"], ANALYTICS, actor=video_users["worker11"])


# --- status, latest frame, offline alert ----------------------------------------------------------


def test_record_status_emits_only_on_change_and_keeps_since(cameras):
    cam = cameras["cam11"]
    t0 = timezone.now()
    services.record_status(cam.pk, "online", at=t0)
    services.record_status(cam.pk, "online", at=t0 + dt.timedelta(seconds=30))
    services.record_status(cam.pk, "offline", "connection refused", at=t0 + dt.timedelta(minutes=1))
    cam.refresh_from_db()
    assert cam.status == CameraStatus.OFFLINE and cam.status_since == t0 + dt.timedelta(minutes=1)
    assert cam.last_error == "connection refused"
    assert [(e["status"], e["previous"]) for e in events("video.camera_status")] == [
        ("online", "unknown"),
        ("offline", "online"),
    ]
    assert [a.detail["status"] for a in audits("video.camera_status")] == ["online", "offline"]
    services.record_status(cam.pk, "online", at=t0 + dt.timedelta(minutes=2))
    cam.refresh_from_db()
    assert cam.last_error == "" and cam.last_frame_at == t0 + dt.timedelta(minutes=2)
    with pytest.raises(Invalid):
        services.record_status(cam.pk, "burning")
    with pytest.raises(Invalid):
        services.record_status(10**9, "online")


def test_offline_alert_once_per_outage(cameras, settings):
    settings.VISION_OFFLINE_ALERT_MINUTES = 10
    cam = cameras["cam11"]
    t0 = timezone.now()
    services.record_status(cam.pk, "offline", "timeout", at=t0)
    with time_machine.travel(t0 + dt.timedelta(minutes=9), tick=False):
        assert services.sweep_offline() == {"raised": 0}
    for minutes in (10, 11, 30):
        with time_machine.travel(t0 + dt.timedelta(minutes=minutes), tick=False):
            services.sweep_offline()
    alert = Alert.objects.get(kind="offline")
    assert alert.origin == "health" and alert.source_id == f"offline:{cam.pk}:{t0.isoformat()}"
    assert alert.detected_at == t0 and "10 分钟" in alert.description and "timeout" in alert.description
    assert alert.category_code == "component:0121"
    assert services.category_for(alert).name == "监控电子眼"
    # Back and down again: a new outage, a new alert.
    services.record_status(cam.pk, "online", at=t0 + dt.timedelta(minutes=40))
    services.record_status(cam.pk, "offline", at=t0 + dt.timedelta(minutes=50))
    with time_machine.travel(t0 + dt.timedelta(minutes=61), tick=False):
        assert services.sweep_offline() == {"raised": 1}
    assert Alert.objects.filter(kind="offline").count() == 2
    assert len(events("video.alert_raised")) == 2


def test_latest_snapshot_overwrites_one_file_per_camera(cameras, case_media):
    cam = cameras["cam11"]
    services.store_latest_snapshot(cam.pk, frame_jpeg(10))
    services.store_latest_snapshot(cam.pk, frame_jpeg(20))
    cam.refresh_from_db()
    files = [p for p in stored_files(case_media) if "latest" in str(p)]
    assert [p.name for p in files] == [f"{cam.pk}.jpg"]
    assert files[0].read_bytes() == frame_jpeg(20) and cam.last_frame_at is not None
    with pytest.raises(Invalid):
        services.store_latest_snapshot(cam.pk, b"GIF89a not a jpeg")
    assert files[0].read_bytes() == frame_jpeg(20)


# --- alerts -------------------------------------------------------------------------------------


def test_raise_alert_is_idempotent_and_stores_checked_media(make_alert, cameras, case_media):
    alert = make_alert(source_id="eng-1", snapshot=frame_jpeg(), clip=mp4_clip())
    assert alert.snapshot.name.endswith(".jpg") and alert.clip.name.endswith(".mp4")
    assert alert.category_code == "0504" and alert.state == AlertState.NEW
    again, created = services.raise_alert(
        cameras["cam11"],
        origin="engine",
        source_id="eng-1",
        kind="parking",
        detected_at=timezone.now(),
        snapshot=frame_jpeg(),
    )
    assert not created and again.pk == alert.pk
    assert Alert.objects.count() == 1 and len(stored_files(case_media)) == 2
    assert events("video.alert_raised") == [
        {
            "alert_id": alert.pk,
            "camera_id": cameras["cam11"].pk,
            "kind": "parking",
            "grid_id": cameras["cam11"].grid_id,
        }
    ]
    assert len(audits("video.alert_raise")) == 1
    converted = make_alert(snapshot=png())
    with converted.snapshot.open("rb") as f:
        assert f.read()[:3] == b"\xff\xd8\xff"  # kept as JPEG


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"snapshot": b"<html>not an image</html>"}, "snapshot"),
        ({"snapshot": frame_jpeg()[:2000]}, "snapshot"),
        ({"clip": b"RIFF....AVI LIST"}, "clip"),
        ({"box": (0.5, 0.5, 0.2, 0.9)}, "box"),
        ({"box": (0, 0, 1.5, 1)}, "box"),
        ({"confidence": 1.5}, "confidence"),
        ({"detected_at": dt.datetime(2026, 1, 1)}, "detected_at"),
        ({"detected_at": timezone.now() + dt.timedelta(hours=1)}, "detected_at"),
        ({"kind": "arson"}, "kind"),
        ({"source_id": ""}, "source_id"),
        ({"source_id": "x" * 121}, "source_id"),
        ({"description": "x\x00y"}, "description"),
    ],
)
def test_refused_alerts_write_nothing(cameras, case_media, kwargs, field):
    base = {
        "origin": "engine",
        "source_id": "e-1",
        "kind": "parking",
        "detected_at": timezone.now(),
        "snapshot": frame_jpeg(),
        "clip": mp4_clip(),
    }
    with pytest.raises(Invalid) as refused:
        services.raise_alert(cameras["cam11"], **(base | kwargs))
    assert refused.value.field == field
    assert not Alert.objects.exists() and not Event.objects.filter(type="video.alert_raised").exists()
    assert not [p for p in stored_files(case_media) if "video" in str(p)]


def test_confirm_makes_one_camera_case_with_the_blurred_snapshot(make_alert, cameras, video_users):
    operator = video_users["operator"]
    shot = noisy_jpeg()
    person = (0.4, 0.2, 0.6, 0.9)
    alert = make_alert(kind="intrusion", label="person", box=person, snapshot=shot, category_code="")
    case = services.confirm_alert(alert, actor=operator)
    cam = cameras["cam11"]
    assert case.source == Source.CAMERA and case.source_id == f"alert:{alert.pk}"
    assert (case.lon, case.lat, case.address) == (cam.lon, cam.lat, cam.address)
    assert case.category.code == "0604" and case.state == CaseState.REPORTED
    assert "违章停车 6 分钟" in case.description and "路口东侧" in case.description
    evidence = Evidence.objects.get(case=case)
    assert evidence.kind == Evidence.Kind.SNAPSHOT
    with evidence.file.open("rb") as f:
        kept = f.read()
    head = (0.4, 0.2, 0.6, 0.3)  # the head band of the person box: blurred in the case's copy
    assert region_std(kept, head) < 0.5 * region_std(shot, head)
    alert.refresh_from_db()
    assert alert.state == AlertState.CONFIRMED and alert.case_id == case.pk
    assert alert.handled_by_id == operator.pk and alert.handled_at is not None
    assert events("video.alert_handled") == [
        {
            "alert_id": alert.pk,
            "camera_id": cam.pk,
            "state": "confirmed",
            "case_id": case.pk,
            "grid_id": cam.grid_id,
        }
    ]
    assert audits("video.alert_confirmed")[0].detail["case"] == case.number
    # A retry is the same case; a dismissal now is a conflict.
    assert services.confirm_alert(alert, actor=operator).pk == case.pk
    assert Case.objects.filter(source=Source.CAMERA).count() == 1
    with pytest.raises(Conflict):
        services.dismiss_alert(alert, actor=operator, reason="误报")


def test_confirm_with_another_category_and_description(make_alert, video_users, case_categories):
    alert = make_alert()
    category = case_categories["占用消防通道"]
    case = services.confirm_alert(
        alert, actor=video_users["worker11"], category=category, description="堵了消防通道"
    )
    assert case.category == category and case.description.startswith("堵了消防通道")
    assert Evidence.objects.filter(case=case).count() == 0  # the alert had no snapshot


def test_who_may_confirm(make_alert, video_users):
    alert = make_alert()
    for name in ("leader", "handler", "resident", "worker21", "operator2"):
        with pytest.raises(Forbidden):
            services.confirm_alert(alert, actor=video_users[name])
    assert not Case.objects.exists()


def test_auto_case_files_at_once(make_alert, cameras):
    alert = make_alert(auto_case=True, snapshot=frame_jpeg(), kind="debris", label="", category_code="")
    alert.refresh_from_db()
    assert alert.state == AlertState.FILED and alert.handled_by_id is None
    case = alert.case
    assert case.state == CaseState.FILED and case.category.code == "0107" and case.source == Source.CAMERA
    assert case.evidence.get().kind == Evidence.Kind.SNAPSHOT
    assert [e["state"] for e in events("video.alert_handled")] == ["filed"]


def test_dismiss_records_the_false_positive_and_can_ignore_the_box(make_alert, cameras, video_users):
    operator = video_users["operator"]
    services.set_analytics(cameras["cam11"], ANALYTICS, actor=operator)
    alert = make_alert(box=(0.25, 0.5, 0.35, 0.7))
    services.dismiss_alert(alert, actor=operator, reason="树影", ignore_similar=True)
    alert.refresh_from_db()
    assert alert.state == AlertState.DISMISSED and alert.dismiss_reason == "树影"
    cam = Camera.objects.get(pk=cameras["cam11"].pk)
    assert cam.analytics["rules"][0]["ignore"] == [[0.25, 0.5, 0.35, 0.7]]
    assert audits("video.camera_ignore")[0].detail["rule"] == "park1"
    second = make_alert()
    services.dismiss_alert(second, actor=operator)
    from shequ.video.selectors import false_positives

    assert false_positives(cam) == {"park1": 2}
    # Again: nothing changes; confirming a dismissed alert is a conflict.
    services.dismiss_alert(alert, actor=operator, reason="别的原因")
    alert.refresh_from_db()
    assert alert.dismiss_reason == "树影" and len(events("video.alert_handled")) == 2
    with pytest.raises(Conflict):
        services.confirm_alert(alert, actor=operator)


def test_ignore_similar_without_a_rule_changes_nothing(make_alert, cameras, video_users):
    alert = make_alert(rule_id="gone")
    services.set_analytics(cameras["cam11"], ANALYTICS, actor=video_users["operator"])
    with pytest.raises(Invalid) as refused:
        services.dismiss_alert(alert, actor=video_users["operator"], ignore_similar=True)
    assert refused.value.field == "ignore_similar"
    alert.refresh_from_db()
    assert alert.state == AlertState.NEW
    assert Camera.objects.get(pk=cameras["cam11"].pk).analytics["rules"][0]["ignore"] == []


# --- retention ----------------------------------------------------------------------------------


def test_purge_deletes_old_alert_media_and_keeps_the_alerts(make_alert, video_users, case_media, settings):
    settings.VIDEO_RETENTION_DAYS = 30
    now = timezone.now()
    old = make_alert(detected_at=now - dt.timedelta(days=31), snapshot=frame_jpeg(), clip=mp4_clip())
    services.blurred_snapshot(old)  # a blurred copy made for a grid worker goes too
    case = services.confirm_alert(old, actor=video_users["operator"])
    recent = make_alert(detected_at=now - dt.timedelta(days=29), snapshot=frame_jpeg())
    old.refresh_from_db()
    old_files = [old.snapshot.path, old.clip.path, old.snapshot_blurred.path]
    assert services.purge_alert_media() == {"alerts": 1, "files": 3}
    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old.snapshot and not old.clip and not old.snapshot_blurred and old.case_id == case.pk
    assert recent.snapshot
    remaining = {str(p) for p in stored_files(case_media)}
    assert not remaining & set(old_files)
    assert case.evidence.get().file.path in remaining  # the case keeps its own copy
    assert audits("video.media_purged")[0].detail == {"alerts": 1, "files": 3, "days": 30}
    assert services.purge_alert_media() == {"alerts": 0, "files": 0}


def test_periodic_tasks_are_registered():
    from shequ.core import periodic

    names = {s.name: s.every for s in periodic.schedules()}
    assert names["shequ.video.tasks.sweep_offline_task"] == dt.timedelta(minutes=1)
    assert names["shequ.video.tasks.purge_alert_media_task"] == dt.timedelta(hours=1)
