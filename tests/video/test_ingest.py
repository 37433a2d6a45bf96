"""The webhook of external events (POST /api/video/events/): a machine account's token, the
documented body, idempotency on event_id, and clear 400/403/422 answers for what is refused."""

from __future__ import annotations

import base64
import datetime as dt
import io
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from shequ.accounts.models import Role
from shequ.cases.models import Case, Source
from shequ.video.models import Alert, AlertKind, AlertOrigin, AlertState
from tests.cases.conftest import IN_GRID11, IN_GRID21, case_media  # noqa: F401

URL = "/api/video/events/"


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (96, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def hook_cameras(system_user: Any, two_communities: dict[str, Any]) -> dict[str, Any]:
    from shequ.video.services import register_camera

    return {
        "a": register_camera(
            actor=system_user, code="CAM-A", name="东门", lon=IN_GRID11[0], lat=IN_GRID11[1]
        ),
        "b": register_camera(
            actor=system_user, code="CAM-B", name="西门", lon=IN_GRID21[0], lat=IN_GRID21[1]
        ),
    }


def token_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def gateway(make_user: Any, two_communities: dict[str, Any], hook_cameras: dict[str, Any]) -> APIClient:
    """An NVR's machine account: a command operator of community 1's grid 11 only."""
    user = make_user(Role.COMMAND_OPERATOR, grids=(two_communities["grid11"],), username="nvr-gateway")
    return token_client(user)


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "camera": "CAM-A",
        "event_id": "nvr-0001",
        "kind": "intrusion",
        "label": "person",
        "score": 0.87,
        "detected_at": (timezone.now() - dt.timedelta(minutes=1)).isoformat(),
        "box": [0.41, 0.22, 0.55, 0.78],
        "zone": "配电房门口",
        "description": "夜间有人进入配电房区域",
        "snapshot_base64": b64(image_bytes()),
        "vendor_data": {"channel": 3, "rule": {"name": "区域入侵1"}},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def test_event_becomes_one_alert_and_a_retry_is_the_same(
    gateway: APIClient, hook_cameras: dict[str, Any]
) -> None:
    sent = body()
    first = gateway.post(URL, sent, format="json")
    assert first.status_code == 201, first.json()
    answer = first.json()
    assert answer["created"] is True and answer["state"] == AlertState.NEW and answer["case"] is None
    alert = Alert.objects.get(pk=answer["alert"])
    assert alert.camera == hook_cameras["a"]
    assert (alert.origin, alert.source_id, alert.kind) == (
        AlertOrigin.WEBHOOK,
        "CAM-A:nvr-0001",
        AlertKind.INTRUSION,
    )
    assert alert.box == [0.41, 0.22, 0.55, 0.78] and alert.confidence == pytest.approx(0.87)
    assert (alert.label, alert.zone_name, alert.description) == (
        "person",
        "配电房门口",
        "夜间有人进入配电房区域",
    )
    with alert.snapshot.open("rb") as f, Image.open(f) as image:
        assert image.format == "JPEG" and image.size == (96, 64)
    assert alert.vendor_data == {"channel": 3, "rule": {"name": "区域入侵1"}}

    again = gateway.post(URL, sent, format="json")
    assert again.status_code == 200
    assert again.json() == {**answer, "created": False}
    assert Alert.objects.count() == 1


def test_vendor_types_become_external_alerts_that_keep_the_type(gateway: APIClient) -> None:
    answer = gateway.post(
        URL, body(event_id=42, kind="line_crossing", description="越线", snapshot_base64=...), format="json"
    )
    assert answer.status_code == 201, answer.json()
    alert = Alert.objects.get(pk=answer.json()["alert"])
    assert alert.kind == AlertKind.EXTERNAL
    assert alert.source_id == "CAM-A:42"  # an integer id is taken as text
    assert alert.description == "[line_crossing] 越线"
    assert not alert.snapshot


def test_png_snapshot_is_kept_as_jpeg_and_naive_times_are_local(gateway: APIClient) -> None:
    local = timezone.localtime() - dt.timedelta(minutes=3)
    naive = local.replace(tzinfo=None, microsecond=0).isoformat()
    answer = gateway.post(
        URL, body(snapshot_base64=b64(image_bytes("PNG")), detected_at=naive), format="json"
    )
    assert answer.status_code == 201, answer.json()
    alert = Alert.objects.get(pk=answer.json()["alert"])
    assert alert.detected_at == local.replace(microsecond=0)
    with alert.snapshot.open("rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"


def test_malformed_bodies_are_400_with_a_message_per_field(gateway: APIClient) -> None:
    answer = gateway.post(
        URL,
        body(score="high", box=[0.5, 0.5, 0.2, 0.2], detected_at="yesterday", colour="red", event_id=...),
        format="json",
    )
    assert answer.status_code == 400
    errors = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert set(errors) == {"event_id", "score", "box", "detected_at", "colour"}
    assert errors["event_id"] == "必填"
    assert "vendor_data" in errors["colour"]
    assert "ISO 8601" in errors["detected_at"]
    assert Alert.objects.count() == 0

    huge = gateway.post(URL, body(snapshot_base64="A" * (11 * 1024 * 1024)), format="json")
    assert huge.status_code == 413
    too_big = gateway.post(URL, body(snapshot_base64="A" * (6 * 1024 * 1024)), format="json")
    assert too_big.status_code == 400 and too_big.json()["field"] == "snapshot_base64"

    not_json = gateway.post(URL, "{not json", content_type="application/json")
    assert not_json.status_code == 400
    a_list = gateway.post(URL, [body()], format="json")
    assert a_list.status_code == 400
    assert gateway.post(URL, body(event_id="has space"), format="json").status_code == 400


def test_unknown_or_out_of_scope_cameras_and_bad_images_are_422(gateway: APIClient) -> None:
    for code in ("NO-SUCH", "CAM-B"):  # CAM-B lies in grid 21, outside the gateway's grid
        answer = gateway.post(URL, body(camera=code), format="json")
        assert answer.status_code == 422, answer.json()
        assert answer.json()["field"] == "camera"
    for snapshot in (b64(b"not an image at all"), "***"):
        answer = gateway.post(URL, body(snapshot_base64=snapshot), format="json")
        assert answer.status_code == 422
        assert answer.json()["field"] == "snapshot_base64"
    future = (timezone.now() + dt.timedelta(hours=2)).isoformat()
    assert gateway.post(URL, body(detected_at=future), format="json").status_code == 422
    assert Alert.objects.count() == 0


def test_only_command_center_machine_accounts_may_post(
    make_user: Any, two_communities: dict[str, Any], hook_cameras: dict[str, Any]
) -> None:
    worker = token_client(make_user(Role.GRID_WORKER, grids=(two_communities["grid11"],)))
    assert worker.post(URL, body(), format="json").status_code == 403
    assert APIClient().post(URL, body(), format="json").status_code in (401, 403)
    admin = token_client(make_user(Role.ADMINISTRATOR))
    assert admin.post(URL, body(camera="CAM-B"), format="json").status_code == 201  # every camera
    assert Alert.objects.count() == 1


def test_auto_case_files_a_case_from_the_camera(gateway: APIClient, hook_cameras: dict[str, Any]) -> None:
    answer = gateway.post(URL, body(auto_case=True), format="json")
    assert answer.status_code == 201, answer.json()
    alert = Alert.objects.get(pk=answer.json()["alert"])
    assert alert.state == AlertState.FILED and answer.json()["case"] == alert.case_id
    case = Case.objects.get(pk=alert.case_id)
    assert case.source == Source.CAMERA
    assert (case.lon, case.lat) == pytest.approx(IN_GRID11)


def test_a_rule_kind_takes_the_cameras_rule_settings(
    gateway: APIClient, hook_cameras: dict[str, Any], system_user: Any
) -> None:
    from shequ.video.services import set_analytics

    zone = {"id": "door", "name": "门口", "polygon": [[0, 0], [1, 0], [1, 1]]}
    rule = {"kind": "intrusion", "id": "night", "zone": "door", "auto_case": True, "category": "0604"}
    set_analytics(hook_cameras["a"], {"zones": [zone], "rules": [rule]}, actor=system_user)
    filed = gateway.post(URL, body(event_id="e-1"), format="json").json()
    assert filed["state"] == AlertState.FILED and filed["case"] is not None
    # The sender may still say otherwise for one event.
    kept = gateway.post(URL, body(event_id="e-2", auto_case=False), format="json").json()
    assert kept["state"] == AlertState.NEW and kept["case"] is None


def test_vendor_data_over_8_kib_is_422_and_writes_nothing(
    gateway: APIClient, hook_cameras: dict[str, Any]
) -> None:
    response = gateway.post(URL, body(vendor_data={"blob": "x" * 9000}), format="json")
    assert response.status_code == 422, response.json()
    assert "vendor_data" in str(response.json())
    assert Alert.objects.count() == 0
