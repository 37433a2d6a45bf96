"""One camera, watched by one thread: open the stream, run the pipeline, report, reconnect.

The runner is what `shequ serve` (embedded) and `shequ vision-worker` start per camera. It knows
nothing of Django: it reports through callbacks (status changes, firings, the latest snapshot),
which the platform side turns into camera status, alerts and the video wall's pictures.

Health:
- "online": frames flow at about the rate asked;
- "degraded": frames flow, but at under half the rate asked (an overloaded camera, network or
  host) or with frequent decode errors, judged over a window of `HEALTH_WINDOW` seconds (or five
  sample periods, whichever is longer);
- "offline": the source cannot be opened or broke. The runner retries with exponential backoff
  (doubling from `backoff_initial` up to `backoff_max`, with ±20 % jitter so that 500 cameras
  behind one dead switch do not all knock again in the same second).
Callbacks fire on changes only; a callback that raises is logged and does not stop the camera.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2

from .frames import FrameSource, SourceError, mask_url, open_source
from .metrics import Metrics

if TYPE_CHECKING:
    from .config import CameraAnalytics
    from .detect import Detector
    from .pipeline import Firing, Pipeline

log = logging.getLogger("shequ_vision.runner")

HEALTH_WINDOW = 20.0  # seconds over which the frame rate and decode errors are judged
SLOW_RATIO = 0.5  # fewer than this share of the frames asked for: degraded
ERROR_RATIO = 0.1  # more than this share of decoded frames failing: degraded
JITTER = 0.2


class CameraRunner:
    def __init__(
        self,
        camera_id: str,
        url: str,
        analytics: CameraAnalytics,
        detector: Detector,
        *,
        on_status: Callable[[str, str], None] | None = None,
        on_firing: Callable[[Firing], None] | None = None,
        on_snapshot: Callable[[bytes], None] | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        health_window: float = HEALTH_WINDOW,
    ) -> None:
        self.camera_id = camera_id
        self.url = url
        self.analytics = analytics
        self.detector = detector
        self.on_status = on_status
        self.on_firing = on_firing
        self.on_snapshot = on_snapshot
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.health_window = health_window
        self.metrics = Metrics()
        self.status = ""  # nothing reported yet
        self.attempts: list[float] = []  # monotonic times of the opening attempts (last 50)
        self._stop = threading.Event()
        self._pending: CameraAnalytics | None = None
        self._thread: threading.Thread | None = None
        self._decoded_before = 0  # frames decoded by sources closed earlier
        # Kept across reconnects (same settings): a parked car seen before a stream break is the
        # same object after it, tracked on and not alerted twice.
        self._kept: tuple[CameraAnalytics, Pipeline] | None = None
        self._flowed = False

    # -- control (any thread) ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"vision-{self.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and wait for the thread. Prompt while it waits (backoff, frame pacing); a blocking
        read of a dead camera returns within the source's read timeout."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def reconfigure(self, analytics: CameraAnalytics) -> None:
        """New zones and rules take effect at the next frame (a new sample rate reopens the source)."""
        self._pending = analytics

    # -- the camera thread -------------------------------------------------------------------

    def _pipeline(self, analytics: CameraAnalytics) -> Pipeline:
        from .pipeline import Pipeline

        if self._kept is not None and self._kept[0] is analytics:
            return self._kept[1]
        pipeline = Pipeline(analytics, self.detector)
        pipeline.metrics = self.metrics  # one set of counters per camera, across reconfigurations
        self._kept = (analytics, pipeline)
        return pipeline

    def _report(self, status: str, error: str = "") -> None:
        if status == self.status:
            return
        self.status = status
        if error:
            self.metrics.last_error = error
        log.info("camera %s %s %s", self.camera_id, status, error)
        self._call(self.on_status, status, error)

    def _call(self, callback: Callable[..., None] | None, *args: object) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            log.exception(
                "camera %s: callback %s failed", self.camera_id, getattr(callback, "__name__", callback)
            )

    def _run(self) -> None:
        delay = self.backoff_initial
        while not self._stop.is_set():
            self.attempts = [*self.attempts[-49:], time.monotonic()]
            self._flowed = False
            try:
                self._watch()
            except SourceError as exc:
                self._report("offline", str(exc))
            except Exception as exc:  # a bug must not end the camera's thread: retry like a failure
                log.exception("camera %s: failed", self.camera_id)
                self._report("offline", f"{type(exc).__name__}: {mask_url(str(exc))}")
            if self._stop.is_set():
                break
            if self._flowed:
                delay = self.backoff_initial  # it worked for a while: start the backoff afresh
            wait = delay * random.uniform(1 - JITTER, 1 + JITTER)
            delay = min(self.backoff_max, delay * 2)
            self._stop.wait(wait)

    def _watch(self) -> None:
        """Open the source and analyse until it breaks, the sample rate changes, or stop().
        Sets `_flowed` once frames flow (so the backoff restarts from its initial delay)."""
        analytics = self.analytics
        # Files stand in for live cameras: played at their own speed, again and again.
        source = open_source(
            self.url, sample_fps=analytics.sample_fps, realtime=True, loop=True, stop=self._stop
        )
        pipeline = self._pipeline(analytics)
        failure = ""
        try:
            window_start, window_frames, window_decoded, window_errors = time.monotonic(), 0, 0, 0
            last_snapshot = float("-inf")
            for frame in source:
                if self._stop.is_set():
                    break
                if self._pending is not None:
                    new, self._pending = self._pending, None
                    self.analytics = new
                    if new.sample_fps != analytics.sample_fps:
                        return  # reopen at the new rate
                    analytics, pipeline = new, self._pipeline(new)
                if not self._flowed:
                    self._flowed = True
                    self._report("online")
                try:
                    result = pipeline.process(frame)
                except Exception as exc:
                    # The detector or a rule failed on this frame; the stream itself is fine.
                    # Say so (degraded) and go on; log a failure once, not once a frame.
                    text = f"分析出错: {type(exc).__name__}: {exc}"
                    if text != failure:
                        failure = text
                        log.exception("camera %s: analysis failed", self.camera_id)
                    self.metrics.last_error = text
                    self._report("degraded", text)
                    continue
                self.metrics.frames_decoded = self._decoded_before + source.decoded
                for firing in result.firings:
                    self._call(self.on_firing, firing)
                now = time.monotonic()
                if self.on_snapshot is not None and now - last_snapshot >= analytics.snapshot_every_seconds:
                    last_snapshot = now
                    ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 80])
                    if ok:
                        self._call(self.on_snapshot, jpeg.tobytes())
                window_frames += 1
                span = max(self.health_window, 5 / analytics.sample_fps)
                if now - window_start >= span:
                    stats = (now - window_start, window_frames, window_decoded, window_errors)
                    if not failure:
                        self._judge(source, analytics, *stats)
                    failure = ""
                    window_start, window_frames = now, 0
                    window_decoded, window_errors = source.decoded, source.errors
        finally:
            self._decoded_before += source.decoded
            source.close()

    def _judge(
        self,
        source: FrameSource,
        analytics: CameraAnalytics,
        span: float,
        frames: int,
        decoded0: int,
        errors0: int,
    ) -> None:
        expected = span * analytics.sample_fps
        decoded, errors = source.decoded - decoded0, source.errors - errors0
        if frames < SLOW_RATIO * expected:
            self._report("degraded", f"帧率不足: {frames / span:.2f} 帧/秒, 应为 {analytics.sample_fps:g}")
        elif decoded and errors > ERROR_RATIO * (decoded + errors):
            self._report("degraded", f"解码错误过多: {errors}/{decoded + errors}")
        else:
            self._report("online")


def describe(runner: CameraRunner) -> dict[str, object]:
    """What a worker logs or serves about one camera."""
    return {
        "camera": runner.camera_id,
        "url": mask_url(runner.url),
        "status": runner.status,
        **runner.metrics.as_dict(),
    }
