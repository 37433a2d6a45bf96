"""The demo's cameras (src/shequ/demo/cameras.py): one camera record per camera asset, linked and
placed like it, statuses by seed, a handful of alerts with drawn snapshots in the queue."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from PIL import Image

from shequ.demo import figures
from shequ.registry.models import Asset
from shequ.video.models import Alert, AlertState, Camera, CameraStatus

SCALE, SEED = "0.02", 7
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STAGE = re.compile(r"\[\s*([\d.]+)s\] ([^\s:]+)")


@pytest.fixture(scope="module")
def demo_media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo's snapshots go to a folder of this module's, kept for all its tests."""
    folder = str(tmp_path_factory.mktemp("demo-media"))
    with override_settings(MEDIA_ROOT=folder):
        yield folder


@pytest.fixture(autouse=True)
def case_media(demo_media: str, settings: Any) -> str:
    """Not a folder per test (tests/cases/conftest.py): every test here reads the demo's files."""
    settings.MEDIA_ROOT = demo_media
    return demo_media


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any, demo_media: str) -> Iterator[SimpleNamespace]:
    """The demo at scale 0.02 (the whole map, 1/50 of the people), rolled back after the module."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS), transaction.atomic():
        out = StringIO()
        started = time.monotonic()
        call_command("demo_community", scale=SCALE, seed=SEED, stdout=out)
        seconds = time.monotonic() - started
        stages = [(float(m[1]), m[2]) for m in STAGE.finditer(out.getvalue())]
        yield SimpleNamespace(output=out.getvalue(), seconds=seconds, stages=stages, cameras=cameras_digest())
        transaction.set_rollback(True)


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo")]


def cameras_digest() -> list[tuple[Any, ...]]:
    return list(Camera.objects.order_by("code").values_list("code", "name", "status", "lon", "lat", "vendor"))


def test_one_camera_per_camera_asset_linked_and_placed_like_it(db: None) -> None:
    assets = Asset.objects.filter(category__code=figures.CAMERA_CATEGORY)
    cameras = Camera.objects.select_related("asset")
    assert cameras.count() == assets.count() > 0
    for camera in cameras:
        asset = camera.asset
        assert asset is not None and asset.category.code == figures.CAMERA_CATEGORY
        assert (camera.code, camera.name, camera.lon, camera.lat, camera.grid_id) == (
            asset.code,
            asset.name,
            asset.lon,
            asset.lat,
            asset.grid_id,
        )
        assert camera.watched is False and camera.main_stream.startswith("rtsp://10.")


def test_statuses_mostly_online(db: None) -> None:
    total = Camera.objects.count()
    online = Camera.objects.filter(status=CameraStatus.ONLINE).count()
    assert online >= 0.7 * total
    assert Camera.objects.filter(status=CameraStatus.UNKNOWN).count() == 0
    for camera in Camera.objects.exclude(status=CameraStatus.ONLINE):
        assert camera.last_error  # an offline or degraded camera says why


def test_alerts_with_snapshots_in_the_queue(db: None) -> None:
    alerts = list(Alert.objects.select_related("camera"))
    assert len(alerts) >= 5
    assert {a.kind for a in alerts} >= {"parking", "vending", "crowd", "debris", "intrusion"}
    for alert in alerts:
        assert alert.state == AlertState.NEW and alert.camera.status == CameraStatus.ONLINE
        assert alert.rule_id in {r["id"] for r in alert.camera.analytics["rules"]}
        assert len(alert.box) == 4 and 0 < alert.confidence < 1
        with alert.snapshot.open("rb") as f, Image.open(io.BytesIO(f.read())) as image:
            assert image.format == "JPEG" and image.size == (640, 360)
    assert Camera.objects.exclude(latest_snapshot="").count() >= len(alerts)


def test_same_seed_same_cameras(demo: SimpleNamespace) -> None:
    assert demo.cameras == cameras_digest()


def test_cameras_add_little_time(demo: SimpleNamespace) -> None:
    times = dict((name, t) for t, name in demo.stages)
    before = max(t for t, name in demo.stages if name == "案件")
    spent = times["摄像头"] - before
    assert spent < 5, f"demo cameras stage: {spent:.2f} s of {demo.seconds:.1f} s"
