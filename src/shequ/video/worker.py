"""The vision service: the engine's camera runners (`shequ_vision.runner.CameraRunner`) for the
watched cameras of one shard, wired to the platform's services (docs/video.md "Workers").

`VisionService(shard=(i, n))` watches the cameras whose primary key modulo n is i: in the embedded
default one service (0/1) runs in threads of `shequ serve`; at scale `shequ vision-worker --shard
i/n` processes on several hosts each take their share. Every `reload_seconds` it reads the cameras
again and starts, stops or reconfigures runners (a changed stream or detector restarts the runner,
changed rules only reconfigure it); every `flush_seconds` it posts each camera's engine counters to
`camera.metrics`.

Detectors: one per distinct detector setting per process, shared by the runners that use it behind
a lock. OpenCV's DNN network and most ONNX sessions are not safe to call from two threads at once,
and one SSD per camera would cost ~30 MB each; a single call already uses the CPU's cores, so
serialising calls loses little. A GPU host that wants parallel inference runs more worker processes.

Alerts from the engine are keyed `<camera>:<rule>:<object key>:<epoch>`; a restarted worker has
forgotten which objects it already reported, so before raising an alert it looks for the alert a
previous run made: the same camera and rule within the rule's cooldown (what the engine itself
enforces while it runs), or, for stationary kinds (parking, vending, debris), an alert of the same
rule in the last STATIONARY_REPEAT_HOURS whose box overlaps (IoU >= 0.5): the same parked car.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import close_old_connections
from django.db.models import QuerySet, Value
from django.db.models.functions import Mod
from django.utils import timezone

from shequ.video import services
from shequ.video.models import Alert, AlertOrigin, Camera, CameraStatus

log = logging.getLogger(__name__)

STATIONARY_KINDS = frozenset({"parking", "vending", "debris"})
STATIONARY_REPEAT_HOURS = 24
REPEAT_IOU = 0.5


def parse_shard(text: str) -> tuple[int, int]:
    """ "i/n" with 0 <= i < n; ValueError with a message otherwise."""
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise ValueError(f"分片应写作 i/n (如 0/4), 不是 {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"分片 {text!r} 无效: 需要 n >= 1 且 0 <= i < n")
    return i, n


def stream_url(camera: Camera) -> str:
    """What the engine opens: the sub stream (cheaper to decode, enough for detection), else the
    main stream, else the snapshot URL polled; the camera's credentials put into the URL when it
    has none of its own."""
    url = camera.sub_stream or camera.main_stream
    if not url and camera.snapshot_url:
        url = (
            camera.snapshot_url
            if camera.snapshot_url.startswith("snapshot:")
            else f"snapshot:{camera.snapshot_url}"
        )
    if not url or not camera.username:
        return url
    prefix = "snapshot:" if url.startswith("snapshot:") else ""
    parts = urlsplit(url.removeprefix(prefix))
    if parts.scheme not in {"rtsp", "rtsps", "http", "https"} or "@" in parts.netloc:
        return url
    userinfo = quote(camera.username, safe="") + (
        f":{quote(camera.password, safe='')}" if camera.password else ""
    )
    return prefix + urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def iou(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    if len(a) != 4 or len(b) != 4:
        return 0.0
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class SharedDetector:
    """One detector used by many camera threads, one call at a time."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.name = getattr(detector, "name", type(detector).__name__)
        self._lock = threading.Lock()

    def detect(self, image: Any) -> Any:
        with self._lock:
            return self.detector.detect(image)


def _db(what: str, call: Callable[[], Any]) -> Any:
    """A database call from a runner thread: fresh connection state before and after (threads
    outlive requests, so Django's per-request cleanup never runs for them), and an error logged,
    never raised into the engine's thread."""
    close_old_connections()
    try:
        return call()
    except Exception:
        log.exception("视频分析: %s 失败", what)
        return None
    finally:
        close_old_connections()


@dataclass
class Watched:
    camera: Camera
    runner: Any
    url: str
    detector_key: str
    analytics: str  # the JSON the runner was configured with
    alerts: int = 0
    repeats: int = 0
    errors: list[str] = field(default_factory=list)


class VisionService:
    """Runs the camera runners of one shard until `stop` (see the module's doc)."""

    def __init__(
        self,
        shard: tuple[int, int] = (0, 1),
        *,
        reload_seconds: float = 30.0,
        flush_seconds: float = 30.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        index, count = shard
        if not (count >= 1 and 0 <= index < count):
            raise ValueError(f"invalid shard {index}/{count}")
        self.shard = (index, count)
        self.reload_seconds = reload_seconds
        self.flush_seconds = flush_seconds
        self.backoff = (backoff_initial, backoff_max)
        self.watched: dict[int, Watched] = {}
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        self._detectors: dict[str, SharedDetector] = {}
        self._lock = threading.RLock()  # watched and detectors: the control thread and the callbacks
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._bad_config: set[tuple[int, str]] = set()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.run, name=f"vision-{self.shard[0]}of{self.shard[1]}", daemon=True
        )
        self._thread.start()

    def run(self) -> None:
        """Reload and flush on their intervals until `stop`; then stop every runner."""
        next_reload = next_flush = 0.0
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_reload:
                    self.reload()
                    next_reload = now + self.reload_seconds
                if now >= next_flush and self.watched:
                    _db("保存运行指标", self.flush_metrics)
                    next_flush = now + self.flush_seconds
                self._stopping.wait(min(1.0, self.reload_seconds, self.flush_seconds))
        finally:
            self._stop_all()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._stop_all()

    def _stop_all(self) -> None:
        with self._lock:
            watched = list(self.watched.values())
            self.watched.clear()
        for w in watched:
            _stop_runner(w.runner)
        if watched:
            _db("保存运行指标", lambda: self._flush(watched))
        log.info("视频分析分片 %s/%s 已停止 (%d 路)", *self.shard, len(watched))

    # --- the cameras of this shard ------------------------------------------------------------------

    def cameras(self) -> QuerySet[Camera]:
        index, count = self.shard
        qs = Camera.objects.filter(watched=True)
        if count > 1:
            qs = qs.annotate(shard=Mod("id", Value(count))).filter(shard=index)
        return qs.order_by("pk")

    def reload(self) -> None:
        """Bring the runners in line with the cameras: start new ones, stop removed ones, restart
        those whose stream or detector changed, reconfigure those whose rules changed. Runners are
        stopped outside any lock and database call: a stopping runner may be finishing a callback
        that needs the database."""
        found = _db("读取摄像头", lambda: {c.pk: c for c in self.cameras()})
        if found is None:
            return
        rows: dict[int, Camera] = found
        with self._lock:
            gone = [self.watched.pop(pk) for pk in list(self.watched) if pk not in rows]
        for w in gone:
            _stop_runner(w.runner)
            log.info("摄像头 %s 不再由本分片分析", w.camera.code)
        for pk, camera in rows.items():
            if self._stopping.is_set():
                return
            analytics = self._analytics(camera)
            config_json = analytics.model_dump_json()
            url = stream_url(camera)
            key = self._detector_key(analytics)
            current = self.watched.get(pk)
            if current is not None:
                if (current.url, current.detector_key) == (url, key):
                    current.camera = camera
                    if current.analytics != config_json:
                        current.runner.reconfigure(analytics)
                        current.analytics = config_json
                        log.info("摄像头 %s 的分析规则已更新", camera.code)
                    continue
                with self._lock:
                    self.watched.pop(pk)
                _stop_runner(current.runner)  # a new stream or detector: start afresh
            if not url:
                if camera.status != CameraStatus.OFFLINE:
                    self._no_stream(camera.pk)
                continue
            self._start(camera, url, key, analytics, config_json)
        with self._lock:
            used = {w.detector_key for w in self.watched.values()}
            for unused in [k for k in self._detectors if k not in used]:
                del self._detectors[unused]

    @staticmethod
    def _no_stream(pk: int) -> None:
        _db("记录状态", lambda: services.record_status(pk, CameraStatus.OFFLINE, "未配置取流地址"))

    def _analytics(self, camera: Camera) -> Any:
        from shequ_vision.config import ConfigError, parse_analytics

        try:
            return parse_analytics(camera.analytics or {})
        except ConfigError as exc:
            # Saved settings are checked by set_analytics, so this is an old or hand-edited row: the
            # camera is still watched for its health and frames, without rules, and says why once.
            marker = (camera.pk, json.dumps(camera.analytics, sort_keys=True, default=str))
            if marker not in self._bad_config:
                self._bad_config.add(marker)
                log.error("摄像头 %s 的分析规则无效, 仅监测在线状态: %s", camera.code, exc)
            return parse_analytics({})

    def _detector_key(self, analytics: Any) -> str:
        if analytics.detector is not None:
            return analytics.detector.model_dump_json()
        return str(settings.VISION_DETECTOR)

    def detector(self, key: str, analytics: Any) -> SharedDetector:
        from shequ_vision.config import DetectorConfig
        from shequ_vision.detect import load_detector

        with self._lock:
            shared = self._detectors.get(key)
            if shared is None:
                spec: Any = analytics.detector
                if spec is None and key.startswith("onnx:"):
                    spec = DetectorConfig(
                        kind="onnx", model=key[5:], providers=list(settings.VISION_ONNX_PROVIDERS)
                    )
                shared = SharedDetector(load_detector(spec if spec is not None else key))
                self._detectors[key] = shared
            return shared

    def _start(self, camera: Camera, url: str, key: str, analytics: Any, config_json: str) -> None:
        from shequ_vision.runner import CameraRunner

        try:
            detector = self.detector(key, analytics)
        except Exception as exc:
            log.error("摄像头 %s 的检测器无法加载: %s", camera.code, exc)
            error = f"检测器无法加载: {exc}"
            _db("记录状态", lambda: services.record_status(camera.pk, CameraStatus.DEGRADED, error))
            return
        pk = camera.pk
        runner = CameraRunner(
            camera.code,
            url,
            analytics,
            detector,
            on_status=lambda status, error: _db(
                "记录状态", lambda: services.record_status(pk, status, error)
            ),
            on_firing=lambda firing: _db("记录告警", lambda: self.on_firing(pk, firing)),
            on_snapshot=lambda jpeg: _db("保存画面", lambda: services.store_latest_snapshot(pk, jpeg)),
            backoff_initial=self.backoff[0],
            backoff_max=self.backoff[1],
        )
        with self._lock:
            self.watched[pk] = Watched(camera, runner, url, key, config_json)
        runner.start()
        log.info("开始分析摄像头 %s (%d 条规则)", camera.code, len(analytics.rules))

    # --- what the runners report ------------------------------------------------------------------

    def on_firing(self, camera_pk: int, firing: Any) -> Alert | None:
        """A rule fired: one alert, unless a previous run of a worker already reported it."""
        w = self.watched.get(camera_pk)
        if w is None:
            return None
        camera = w.camera
        wall = firing.wall or timezone.now()
        if timezone.is_naive(wall):
            wall = timezone.make_aware(wall, dt.UTC)
        box = [round(float(v), 5) for v in firing.box] if firing.box else []
        if self.repeat_of(camera, firing.rule_id, firing.kind, wall, box, self._cooldown(w, firing.rule_id)):
            w.repeats += 1
            return None
        source_id = f"{camera.code}:{firing.rule_id}:{firing.key}:{int(wall.timestamp())}"
        if len(source_id) > 120:
            source_id = f"{camera.code}:{hashlib.sha1(source_id.encode()).hexdigest()}"  # noqa: S324 - an id
        alert, created = services.raise_alert(
            camera,
            origin=AlertOrigin.ENGINE,
            source_id=source_id,
            kind=firing.kind,
            detected_at=wall,
            rule_id=firing.rule_id,
            zone_id=firing.zone_id,
            zone_name=firing.zone_name,
            label=firing.label,
            confidence=min(1.0, max(0.0, float(firing.confidence)))
            if firing.confidence is not None
            else None,
            box=box,
            description=firing.description,
            category_code=firing.category,
            snapshot=firing.snapshot_jpeg or None,
            clip=firing.clip_mp4 or None,
            auto_case=firing.auto_case,
        )
        if created:
            w.alerts += 1
            log.info("摄像头 %s 规则 %s 告警 %s", camera.code, firing.rule_id, alert.pk)
        return alert

    @staticmethod
    def _cooldown(w: Watched, rule_id: str) -> float:
        try:
            rules = json.loads(w.analytics).get("rules", [])
        except ValueError:
            return 0.0
        return float(next((r.get("cooldown_seconds", 0) for r in rules if r.get("id") == rule_id), 0))

    @staticmethod
    def repeat_of(
        camera: Camera, rule_id: str, kind: str, wall: dt.datetime, box: list[float], cooldown: float
    ) -> Alert | None:
        """The alert an earlier run raised for this firing, if any (module doc)."""
        window = dt.timedelta(hours=STATIONARY_REPEAT_HOURS) if kind in STATIONARY_KINDS else dt.timedelta(0)
        window = max(window, dt.timedelta(seconds=cooldown))
        if not window:
            return None
        recent = Alert.objects.filter(
            camera=camera, origin=AlertOrigin.ENGINE, rule_id=rule_id, detected_at__gte=wall - window
        ).order_by("-detected_at")[:50]
        for alert in recent:
            if cooldown and alert.detected_at >= wall - dt.timedelta(seconds=cooldown):
                return alert
            if kind in STATIONARY_KINDS and box and iou(alert.box or [], box) >= REPEAT_IOU:
                return alert
        return None

    def flush_metrics(self) -> None:
        with self._lock:
            watched = list(self.watched.values())
        self._flush(watched)

    def _flush(self, watched: list[Watched]) -> None:
        now = timezone.now().isoformat(timespec="seconds")
        for w in watched:
            data = w.runner.metrics.as_dict()
            data["last_error"] = str(data.get("last_error") or "")[:300]
            data.update(
                alerts=w.alerts,
                repeats_suppressed=w.repeats,
                worker=self.worker_name,
                shard=f"{self.shard[0]}/{self.shard[1]}",
                flushed_at=now,
            )
            services.record_metrics(w.camera.pk, data)


def _stop_runner(runner: Any) -> None:
    try:
        runner.stop()
    except Exception:
        log.exception("停止摄像头分析线程失败")
