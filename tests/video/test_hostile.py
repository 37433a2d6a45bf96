"""Hostile input to the video API and services: malformed, huge or deeply nested JSON, NUL bytes,
impossible coordinates, junk ids, non-images posing as snapshots. Every one is a clear 4xx, never a
500, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from shequ.core.errors import Invalid
from shequ.video import services
from shequ.video.models import Alert, Camera
from tests.video.conftest import ANALYTICS, frame_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(video_users: dict[str, Any]) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(video_users["operator"])
    return client


def post_raw(client: APIClient, url: str, body: bytes, method: str = "post") -> Any:
    return getattr(client, method)(url, data=body, content_type="application/json")


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b"[1, 2, 3]",
        b"null",
        b'"a string"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"code": "C\\u0000", "name": "x", "lon": 103.6, "lat": 36.5}',
        b'{"code": "C1", "name": "x", "lon": NaN, "lat": 36.5}',
        b'{"code": "C1", "name": "x", "lon": 1e999, "lat": 36.5}',
        b'{"code": ["C1"], "name": {"a": 1}, "lon": "103", "lat": true}',
        b"\xff\xfe\x00\x00",
    ],
)
def test_bad_camera_bodies_are_4xx(operator, body, cameras):
    before = Camera.objects.count()
    answer = post_raw(operator, "/api/video/cameras/", body)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.content[:200])
    assert answer.json()["detail"]
    assert Camera.objects.count() == before


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({**ANALYTICS, "zones": [ANALYTICS["zones"][0]] * 40}).encode(),
        json.dumps({"zones": [{"id": "z", "name": "z", "polygon": [[0.1, 0.1]] * 10_000}]}).encode(),
        json.dumps({"sample_fps": 1e308}).encode(),
        b'{"sample_fps": NaN}',
        json.dumps({"rules": [{"kind": "x" * 1000}]}).encode(),
        json.dumps({"zones": [{"id": "\u0000", "name": "z", "polygon": [[0, 0], [1, 0], [0, 1]]}]}).encode(),
    ],
)
def test_bad_analytics_are_4xx_and_change_nothing(operator, cameras, body):
    url = f"/api/video/cameras/{cameras['cam11'].pk}/analytics/"
    answer = post_raw(operator, url, body, method="put")
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.content[:300])
    assert Camera.objects.get(pk=cameras["cam11"].pk).analytics == {}


def test_a_body_over_the_limit_is_413(operator, cameras):
    huge = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    answer = post_raw(operator, f"/api/video/cameras/{cameras['cam11'].pk}/", huge, method="patch")
    assert answer.status_code == 413


@pytest.mark.parametrize(
    "url",
    [
        "/api/video/cameras/%00/",
        "/api/video/cameras/1%00/",
        "/api/video/cameras/-1/",
        "/api/video/cameras/99999999999999999999999/",
        "/api/video/cameras/abc/analytics/",
        "/api/video/alerts/%00/snapshot/",
        "/api/video/alerts/1e3/",
        "/api/video/cameras/?q=%00",
        "/api/video/cameras/?grid=%00",
        "/api/video/alerts/?grid=%00",
        "/api/video/alerts/?since=%00",
        "/api/video/alerts/?camera=99999999999999999999",
        "/api/video/alerts/?limit=0",
        "/api/video/alerts/?offset=-1",
        "/api/video/cameras/?q=" + "x" * 500,
    ],
)
def test_junk_ids_and_parameters(operator, cameras, url):
    answer = operator.get(url)
    assert answer.status_code in (400, 404), (url, answer.status_code)


def test_junk_acts(operator, cameras, make_alert):
    alert = make_alert()
    for body in (b"{", b"[]", b'{"category": "abc"}', b'{"category": -1}', b'{"description": "a\\u0000b"}'):
        answer = post_raw(operator, f"/api/video/alerts/{alert.pk}/confirm/", body)
        assert answer.status_code == 400, (body, answer.content)
    for body in (b'{"ignore_similar": "maybe"}', b'{"reason": ' + json.dumps("x" * 201).encode() + b"}"):
        assert post_raw(operator, f"/api/video/alerts/{alert.pk}/dismiss/", body).status_code == 400
    assert Alert.objects.get(pk=alert.pk).state == "new"


@pytest.mark.parametrize(
    "snapshot",
    [
        b"",
        b"\xff\xd8\xff\xe0" + b"\x00" * 64,  # a JPEG header and nothing after it
        frame_jpeg()[:-5000],  # cut short
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"GIF89a" + b"\x00" * 100,
        "not bytes",
    ],
)
def test_non_image_snapshots_are_refused(cameras, snapshot, case_media):
    with pytest.raises(Invalid) as refused:
        services.raise_alert(
            cameras["cam11"],
            origin="webhook",
            source_id="ext-1",
            kind="external",
            detected_at=timezone.now(),
            snapshot=snapshot,
        )
    assert refused.value.field == "snapshot"
    assert not Alert.objects.exists()


def test_a_decompression_bomb_is_refused(cameras):
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (10_000, 10_000)).save(out, "PNG", optimize=True)  # 100 MP of zeros, ~100 KB
    assert len(out.getvalue()) < 1_000_000
    with pytest.raises(Invalid, match="像素"):
        services.store_latest_snapshot(cameras["cam11"].pk, out.getvalue())
