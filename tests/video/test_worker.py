"""The vision service (video.worker): real camera runners on real footage, wired to the platform.

A camera whose stream is the team's real clip (people entering a room, tests/vision/conftest.py)
with an intrusion rule raises an alert with its snapshot; the service posts status, the latest
frame and the engine's counters; a camera whose file vanishes goes offline and comes back with
it; shards split the cameras; a restarted worker does not report the same object twice.

The runners' threads write through the test's transactional database (shared with them on
in-memory SQLite, as tests/live does); on SQLite their database calls take turns (`serialized_db`).
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image

from shequ.video import worker
from shequ.video.models import Alert, AlertKind, AlertOrigin, Camera, CameraStatus
from shequ.video.worker import VisionService, Watched, iou, parse_shard, stream_url
from tests.cases.conftest import IN_GRID11, case_media  # noqa: F401
from tests.e2e.conftest import audit_log_flushable  # noqa: F401
from tests.live.conftest import _close_server_connections, _share_in_memory_sqlite
from tests.vision.conftest import one_by_one  # noqa: F401

WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
INTRUSION = {
    "sample_fps": 2,
    "snapshot_every_seconds": 1,
    "zones": [{"id": "room", "name": "机房", "polygon": WHOLE}],
    "rules": [
        {"id": "night", "kind": "intrusion", "zone": "room", "min_score": 0.5, "cooldown_seconds": 600}
    ],
}
DB_TURN = threading.RLock()


@pytest.fixture
def shared_db(audit_log_flushable: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # noqa: F811
    undo = _share_in_memory_sqlite()
    real = worker._db

    def serialized(what: str, call: Callable[[], Any]) -> Any:
        with DB_TURN:
            return real(what, call)

    if connection.vendor == "sqlite":
        monkeypatch.setattr(worker, "_db", serialized)
    try:
        yield
    finally:
        undo()
        _close_server_connections()


def read(query: Callable[[], Any]) -> Any:
    with DB_TURN:
        return query()


def wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read(check)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def clip_of(source: Path, target: Path, seconds: float) -> Path:
    """The first seconds of a real clip, re-encoded (a camera that loops quickly)."""
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10
    ok, image = cap.read()
    out = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (image.shape[1], image.shape[0]))
    for _ in range(int(seconds * fps)):
        out.write(image)
        ok, image = cap.read()
        if not ok:
            break
    out.release()
    cap.release()
    return target


@pytest.fixture
def camera_on(system_user: Any, two_communities: dict[str, Any]) -> Callable[..., Camera]:
    from shequ.video.services import register_camera, set_analytics

    def make(code: str, stream: str = "", analytics: dict[str, Any] | None = None, **fields: Any) -> Camera:
        camera = register_camera(
            actor=system_user,
            code=code,
            name=f"摄像头{code}",
            lon=IN_GRID11[0],
            lat=IN_GRID11[1],
            main_stream=stream,
            watched=True,
            **fields,
        )
        if analytics is not None:
            camera = set_analytics(camera, analytics, actor=system_user)
        return camera

    return make


@pytest.mark.slow
def test_a_real_clip_raises_an_intrusion_alert_with_its_snapshot(
    shared_db: None,
    camera_on: Callable[..., Camera],
    one_by_one: Path,  # noqa: F811
) -> None:
    camera = camera_on("ROOM-1", one_by_one.as_uri(), INTRUSION)
    service = VisionService((0, 1), reload_seconds=1, flush_seconds=1)
    service.start()
    try:
        # A person walks in about 7 s into the clip, which plays at its own speed.
        alert = wait(lambda: Alert.objects.filter(camera=camera).first(), 40, "the intrusion alert")
        wait(lambda: Camera.objects.get(pk=camera.pk).metrics.get("alerts") == 1, 10, "metrics")
    finally:
        service.stop()
    assert (alert.origin, alert.kind, alert.rule_id, alert.zone_id) == (
        AlertOrigin.ENGINE,
        AlertKind.INTRUSION,
        "night",
        "room",
    )
    assert alert.label == "person" and alert.confidence >= 0.5
    assert alert.source_id.startswith("ROOM-1:night:")
    assert iou(alert.box, [0.47, 0.1, 0.67, 0.95]) > 0.3  # where the SSD finds the first person
    assert abs(alert.detected_at - timezone.now()) < dt.timedelta(minutes=2)
    with alert.snapshot.open("rb") as f, Image.open(f) as image:
        assert image.format == "JPEG" and image.size == (768, 432)
    assert Alert.objects.count() == 1  # one person, one alert, however many frames show them

    camera.refresh_from_db()
    assert camera.status == CameraStatus.ONLINE and camera.latest_snapshot
    metrics = camera.metrics
    assert metrics["frames_decoded"] >= 50 and 1 <= metrics["frames_analysed"] <= metrics["frames_decoded"]
    assert metrics["detector_calls"] >= 1 and metrics["detector_seconds"] > 0
    assert metrics["firings"] == 1 and metrics["shard"] == "0/1"


@pytest.mark.slow
def test_a_camera_whose_file_vanishes_goes_offline_and_comes_back(
    shared_db: None,
    camera_on: Callable[..., Camera],
    one_by_one: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    from shequ.video.services import update_camera

    clip = clip_of(one_by_one, tmp_path / "cam.mp4", seconds=2)
    spare = shutil.copy(clip, tmp_path / "spare.mp4")
    camera = camera_on("DOOR-2", clip.as_uri(), {"sample_fps": 2, "zones": [], "rules": []})
    service = VisionService((0, 1), reload_seconds=0.5, flush_seconds=1, backoff_initial=0.2, backoff_max=1)
    service.start()
    try:
        wait(lambda: Camera.objects.get(pk=camera.pk).status == CameraStatus.ONLINE, 20, "online")
        clip.unlink()  # the clip loops every 2 s: its next reopening fails
        offline = wait(
            lambda: Camera.objects.filter(pk=camera.pk, status=CameraStatus.OFFLINE).first(), 20, "offline"
        )
        assert "DOOR-2" not in offline.last_error and offline.last_error  # says why
        attempts = len(service.watched[camera.pk].runner.attempts)
        time.sleep(2)
        assert len(service.watched[camera.pk].runner.attempts) > attempts  # retried meanwhile
        shutil.copy(spare, clip)
        wait(lambda: Camera.objects.get(pk=camera.pk).status == CameraStatus.ONLINE, 20, "back online")

        # Taken off the watch list: the next reload stops its runner.
        runner = service.watched[camera.pk].runner
        read(lambda: update_camera(Camera.objects.get(pk=camera.pk), actor="test", watched=False))
        deadline = time.monotonic() + 10
        while camera.pk in service.watched or runner.alive:
            assert time.monotonic() < deadline, "the runner was not stopped"
            time.sleep(0.1)
    finally:
        service.stop()


def test_shards_split_the_watched_cameras(camera_on: Callable[..., Camera]) -> None:
    cameras = [camera_on(f"S{n}") for n in range(7)]
    Camera.objects.filter(pk=cameras[0].pk).update(watched=False)
    shards = [{c.pk for c in VisionService((i, 3)).cameras()} for i in range(3)]
    assert set().union(*shards) == {c.pk for c in cameras[1:]}
    assert sum(len(s) for s in shards) == 6
    for i, shard in enumerate(shards):
        assert all(pk % 3 == i for pk in shard)
    assert {c.pk for c in VisionService((0, 1)).cameras()} == {c.pk for c in cameras[1:]}


def test_a_restarted_worker_does_not_report_the_same_object_again(camera_on: Callable[..., Camera]) -> None:
    from shequ_vision.pipeline import Firing

    parking = {
        "zones": [{"id": "lane", "name": "消防通道", "polygon": WHOLE}],
        "rules": [{"id": "p1", "kind": "parking", "zone": "lane", "min_minutes": 5, "cooldown_seconds": 60}],
    }
    camera = camera_on("LANE-1", "file:///nowhere.mp4", parking)

    def firing(key: str, box: tuple[float, float, float, float], minutes_ago: float) -> Firing:
        return Firing(
            rule_id="p1",
            kind="parking",
            zone_id="lane",
            zone_name="消防通道",
            t=12.0,
            wall=timezone.now() - dt.timedelta(minutes=minutes_ago),
            label="car",
            confidence=0.8,
            box=box,
            track_id=1,
            category="",
            auto_case=False,
            key=key,
            snapshot_jpeg=b"",
            clip_mp4=None,
            description="违章停车 6 分钟",
        )

    def run() -> VisionService:
        service = VisionService((0, 1))
        analytics = service._analytics(camera)
        service.watched[camera.pk] = Watched(camera, None, "", "ssd", analytics.model_dump_json())
        return service

    first = run().on_firing(camera.pk, firing("p1:track:1", (0.2, 0.5, 0.4, 0.8), minutes_ago=30))
    assert first is not None
    # A new process sees the same car again (a new track id, slightly different box): no new alert.
    again = run()
    assert again.on_firing(camera.pk, firing("p1:track:1", (0.21, 0.5, 0.41, 0.81), minutes_ago=0)) is None
    assert again.watched[camera.pk].repeats == 1
    # Another car elsewhere in the zone, after the rule's cooldown, is a new alert.
    assert again.on_firing(camera.pk, firing("p1:track:2", (0.6, 0.5, 0.8, 0.8), minutes_ago=0)) is not None
    assert Alert.objects.count() == 2


def test_stream_urls_and_shard_arguments(camera_on: Callable[..., Camera]) -> None:
    camera = camera_on(
        "GATE-1",
        "rtsp://10.0.0.9:554/Streaming/Channels/101",
        sub_stream="rtsp://10.0.0.9:554/Streaming/Channels/102",
        username="admin",
        password="p@ss:w/rd",
    )
    assert stream_url(camera) == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.9:554/Streaming/Channels/102"
    snap = camera_on("GATE-2", snapshot_url="http://10.0.0.10/cgi-bin/snapshot.cgi")
    assert stream_url(snap) == "snapshot:http://10.0.0.10/cgi-bin/snapshot.cgi"
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="分片"):
            parse_shard(bad)
