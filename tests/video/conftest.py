"""Fixtures of the video app: the case loop's users, grids and categories (tests/cases/conftest.py),
cameras registered through the services in grid11, grid21 and outside every grid, and real images:
frames of the real clip in ../shared/media when it is there, else drawn ones (the services only
need real JPEGs; the engine's own tests require the footage)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image

from shequ.accounts.models import Role
from tests.cases.conftest import (  # noqa: F401  (fixtures, registered here by import)
    IN_GRID11,
    IN_GRID21,
    OUTSIDE,
    case_categories,
    case_departments,
    case_media,
    case_users,
)
from tests.conftest import SHARED_MEDIA

CLIP = SHARED_MEDIA / "one-by-one-person-detection.mp4"


def frame_jpeg(index: int = 300, size: tuple[int, int] | None = None) -> bytes:
    """A frame of the real clip as JPEG (768×432), or a drawn scene of the same size."""
    import cv2

    image = None
    if CLIP.is_file():
        capture = cv2.VideoCapture(str(CLIP))
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        capture.release()
        image = frame if ok else None
    if image is None:
        rng = np.random.default_rng(index)
        image = rng.integers(0, 255, (432, 768, 3), dtype=np.uint8)
        cv2.rectangle(image, (300, 80), (420, 400), (40, 60, 200), -1)
    if size is not None:
        image = cv2.resize(image, size)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def noisy_jpeg(size: tuple[int, int] = (320, 240), seed: int = 1) -> bytes:
    """Fine random texture: any blur of a region shows as a drop of its variance."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


def region_std(data: bytes, box: tuple[float, float, float, float]) -> float:
    """Standard deviation of the pixels in a box given in image fractions."""
    image = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)
    h, w = image.shape
    x1, y1, x2, y2 = box
    return float(image[int(y1 * h) : int(y2 * h), int(x1 * w) : int(x2 * w)].std())


def mp4_clip() -> bytes:
    """A short real MP4 (the start of the real clip re-encoded, or drawn frames)."""
    import tempfile

    import cv2

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "clip.mp4"
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), 10, (320, 180))
        for i in range(10):
            frame = cv2.imdecode(np.frombuffer(frame_jpeg(i, (320, 180)), np.uint8), cv2.IMREAD_COLOR)
            writer.write(frame)
        writer.release()
        return target.read_bytes()


@pytest.fixture
def video_users(
    case_users: dict[str, Any],  # noqa: F811
    make_user: Callable[..., Any],
    two_communities: dict[str, Any],
    system_user: Any,
) -> dict[str, Any]:
    """case_users plus the administrator and an operator of community 2 only."""
    return {
        **case_users,
        "admin": system_user,
        "operator2": make_user(Role.COMMAND_OPERATOR, grids=(two_communities["community2"],)),
    }


@pytest.fixture
def cameras(video_users: dict[str, Any]) -> dict[str, Any]:
    """cam11 in grid11, cam21 in grid21, cam_out outside every grid."""
    from shequ.video.services import register_camera

    admin = video_users["admin"]
    out = {}
    for key, (lon, lat) in (("cam11", IN_GRID11), ("cam21", IN_GRID21), ("cam_out", OUTSIDE)):
        out[key] = register_camera(
            actor=admin,
            code=key.upper().replace("_", "-"),
            name=f"摄像头{key}",
            lon=lon,
            lat=lat,
            address=f"{key} 路口",
            main_stream=f"rtsp://10.0.0.{len(out) + 1}:554/Streaming/Channels/101",
            username="admin",
            password="Cam-secret-1",
        )
    return out


ANALYTICS = {
    "zones": [
        {"id": "road", "name": "路口东侧", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]}
    ],
    "rules": [{"id": "park1", "kind": "parking", "zone": "road", "min_minutes": 5}],
}


@pytest.fixture
def make_alert(cameras: dict[str, Any]) -> Callable[..., Any]:
    """Raise an engine alert through the service: make_alert("cam11", snapshot=..., ...)."""
    from shequ.video.services import raise_alert

    counter = iter(range(1, 10**6))

    def make(camera: str = "cam11", **kwargs: Any) -> Any:
        kwargs.setdefault("origin", "engine")
        kwargs.setdefault("source_id", f"test-{next(counter)}")
        kwargs.setdefault("kind", "parking")
        kwargs.setdefault("detected_at", timezone.now() - dt.timedelta(minutes=1))
        kwargs.setdefault("rule_id", "park1")
        kwargs.setdefault("zone_id", "road")
        kwargs.setdefault("zone_name", "路口东侧")
        kwargs.setdefault("label", "car")
        kwargs.setdefault("confidence", 0.8)
        kwargs.setdefault("box", (0.3, 0.4, 0.6, 0.8))
        kwargs.setdefault("description", "违章停车 6 分钟")
        alert, created = raise_alert(cameras[camera], **kwargs)
        assert created
        return alert

    return make
