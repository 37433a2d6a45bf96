"""CameraRunner against a real HTTP camera (a snapshot server in a thread, stopped and started on
the same port): online -> offline -> online with growing retry intervals, degraded when frames come
too slowly, firings through the real pipeline and SSD detector, prompt stop during backoff."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from shequ_vision.config import parse_analytics
from shequ_vision.detect import SsdMobileNet
from shequ_vision.runner import CameraRunner, describe

from .conftest import MediaServer


class Recorder:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, str]] = []
        self.firings: list[Any] = []
        self.snapshots: list[bytes] = []

    def status(self, status: str, error: str) -> None:
        self.statuses.append((status, error))

    def kinds(self) -> list[str]:
        return [s for s, _ in self.statuses]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _runner(server: MediaServer, ssd: SsdMobileNet, rec: Recorder, **kwargs: Any) -> CameraRunner:
    analytics = kwargs.pop("analytics", parse_analytics({"sample_fps": 5, "snapshot_every_seconds": 1}))
    return CameraRunner(
        "cam-1",
        server.url(userinfo="admin:s3cret@"),
        analytics,
        ssd,
        on_status=rec.status,
        on_firing=rec.firings.append,
        on_snapshot=rec.snapshots.append,
        **kwargs,
    )


def test_camera_that_dies_goes_offline_is_retried_with_backoff_and_recovers(
    media_server: MediaServer, ssd: SsdMobileNet
) -> None:
    rec = Recorder()
    runner = _runner(media_server, ssd, rec, backoff_initial=0.2, backoff_max=5.0)
    runner.start()
    try:
        wait_for(lambda: rec.kinds() == ["online"], 10, "online")
        wait_for(lambda: len(rec.snapshots) >= 1 and runner.metrics.frames_decoded >= 3, 5, "frames")
        assert rec.snapshots[0][:2] == b"\xff\xd8"  # the latest frame, as JPEG
        assert runner._kept is not None
        pipeline_before = runner._kept[1]

        media_server.stop()
        wait_for(lambda: rec.kinds() == ["online", "offline"], 5, "offline")
        down_at = len(runner.attempts)
        wait_for(lambda: len(runner.attempts) >= down_at + 4, 10, "four retries")
        retries = runner.attempts[down_at:]
        gaps = [b - a for a, b in itertools.pairwise(retries)]
        # Waits of 0.2, 0.4, 0.8, 1.6 s, each within ±20 % jitter: every one longer than the last.
        assert all(b > a for a, b in itertools.pairwise(gaps)), gaps
        assert 0.3 < gaps[0] < 0.55 and gaps[2] > 1.2, gaps
        offline_error = rec.statuses[1][1]
        assert "快照请求失败" in offline_error and "s3cret" not in offline_error
        assert rec.kinds() == ["online", "offline"]  # retries that fail again report nothing new

        media_server.start()  # the same port: the camera is back
        wait_for(lambda: rec.kinds() == ["online", "offline", "online"], 8, "recovery")
        info = describe(runner)
        assert info["status"] == "online" and "s3cret" not in str(info["url"])
        assert runner.metrics.last_error == offline_error
        # Regression: the pipeline (its tracks and fired keys) survives the reconnect, so a parked
        # car seen before the break is not alerted a second time after it.
        assert runner._kept is not None and runner._kept[1] is pipeline_before
    finally:
        runner.stop()
    assert not runner.alive


def test_frames_too_slow_is_degraded_then_online_again(media_server: MediaServer, ssd: SsdMobileNet) -> None:
    rec = Recorder()
    runner = _runner(media_server, ssd, rec, health_window=1.0)
    media_server.delay = 0.5  # 2 frames a second where 5 are asked for
    runner.start()
    try:
        wait_for(lambda: "degraded" in rec.kinds(), 10, "degraded")
        assert "帧率不足" in rec.statuses[-1][1]
        media_server.delay = 0.0
        wait_for(lambda: rec.kinds()[-1] == "online", 10, "online again")
        assert rec.kinds() == ["online", "degraded", "online"]
    finally:
        runner.stop()


def test_rules_fire_through_the_runner_after_reconfigure(
    media_server: MediaServer, ssd: SsdMobileNet
) -> None:
    # The served frame has a person standing in the room (frame 800 of the real clip).
    rec = Recorder()
    runner = _runner(media_server, ssd, rec)
    runner.start()
    try:
        wait_for(lambda: runner.metrics.frames_analysed >= 1, 10, "a first analysed frame")
        assert rec.firings == []  # no rules yet
        whole = [[0, 0], [1, 0], [1, 1], [0, 1]]
        runner.reconfigure(
            parse_analytics(
                {
                    "sample_fps": 5,
                    "zones": [{"id": "room", "name": "机房", "polygon": whole}],
                    "rules": [{"id": "night", "zone": "room", "kind": "intrusion", "cooldown_seconds": 600}],
                }
            )
        )
        wait_for(lambda: len(rec.firings) >= 1, 15, "an intrusion firing")
        time.sleep(1.0)
        firing = rec.firings[0]
        assert len(rec.firings) == 1  # the same person: one firing, not one a frame
        assert firing.kind == "intrusion" and firing.label == "person" and firing.zone_name == "机房"
        assert firing.snapshot_jpeg[:2] == b"\xff\xd8" and firing.wall is not None
        assert runner.metrics.firings == 1 and runner.metrics.detector_calls >= 1
    finally:
        runner.stop()


def test_stop_is_prompt_while_waiting_to_retry(ssd: SsdMobileNet) -> None:
    rec = Recorder()
    runner = CameraRunner(
        "dead",
        "http://127.0.0.1:9/snap.jpg",
        parse_analytics({}),
        ssd,
        on_status=rec.status,
        backoff_initial=30.0,
    )
    runner.start()
    wait_for(lambda: rec.kinds() == ["offline"], 10, "offline")
    started = time.monotonic()
    runner.stop()
    assert time.monotonic() - started < 1.0 and not runner.alive


@pytest.mark.parametrize("name", ["bad"])
def test_callback_errors_do_not_stop_the_camera(
    media_server: MediaServer, ssd: SsdMobileNet, name: str
) -> None:
    def broken(_: bytes) -> None:
        raise RuntimeError(name)

    rec = Recorder()
    runner = CameraRunner(
        "cam-2",
        media_server.url(),
        parse_analytics({"sample_fps": 10, "snapshot_every_seconds": 1}),
        ssd,
        on_status=rec.status,
        on_snapshot=broken,
    )
    runner.start()
    try:
        wait_for(lambda: runner.metrics.frames_decoded >= 15, 10, "frames after a failing callback")
        assert runner.alive and rec.kinds() == ["online"]
    finally:
        runner.stop()
