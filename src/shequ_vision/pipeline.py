"""One camera's analysis: sampled frame in, detections and rule firings (with evidence) out.

Per frame (the source has already sampled it at `sample_fps`):

1. motion gate: a cheap frame difference decides whether anything moves;
2. detector: runs when something moves, on the first frame, and — because a parked car or a
   standing group makes no motion — every `recheck_seconds` while tracks or static candidates
   are pending, and every `idle_recheck_seconds` regardless;
3. tracker: detections to tracks that survive a few missed detections;
4. static model (only with a debris rule): dual background at a low rate;
5. rules per zone -> hits; de-dup (one firing per object per rule, by the hit's key) and cooldown
   (the same rule fires again only `cooldown_seconds` after its last firing; a hit suppressed by
   the cooldown is not marked as fired, so an object that is still there fires once it ends);
6. evidence for each firing: a JPEG with the zone and the box drawn, and the last `clip_seconds`
   of sampled frames as an MP4 (OpenCV's 'mp4v').
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from .config import CameraAnalytics, DebrisRule, Zone, local_time
from .detect import Box, Detection, Detector
from .frames import Frame
from .metrics import Metrics
from .motion import MotionGate
from .rules import MOVERS, Hit, RuleEngine
from .static import StaticModel, StaticRegion
from .track import Tracker

CLIP_WIDTH = 640  # clip frames are kept at this width: 6 s at 10 fps of 1080p would be 370 MB raw
CLIP_MAX_FRAMES = 120
STATIC_INTERVAL = 1.0  # seconds between static-model updates: debris is measured in minutes


@dataclass
class Firing:
    rule_id: str
    kind: str
    zone_id: str
    zone_name: str
    t: float
    wall: datetime | None
    label: str
    confidence: float
    box: Box
    track_id: int | None
    category: str
    auto_case: bool
    key: str
    snapshot_jpeg: bytes
    clip_mp4: bytes | None
    description: str


@dataclass
class FrameResult:
    frame: Frame
    analysed: bool
    detections: list[Detection] = field(default_factory=list)
    firings: list[Firing] = field(default_factory=list)


Clock = datetime | Callable[[], datetime] | None


class Pipeline:
    """`clock` gives schedules their time when frames carry no wall time (files): a datetime is the
    recording's start (wall = start + frame.t), a callable is asked per frame; None means now."""

    def __init__(
        self,
        config: CameraAnalytics,
        detector: Detector,
        *,
        clock: Clock = None,
        recheck_seconds: float = 5.0,
        idle_recheck_seconds: float = 60.0,
    ) -> None:
        self.config = config
        self.detector = detector
        self.clock = clock
        self.recheck_seconds = recheck_seconds
        self.idle_recheck_seconds = idle_recheck_seconds
        self.metrics = Metrics()
        self.gate = MotionGate(config.motion)
        # A track must outlive the gap between two rechecks, or a parked car would be a new track
        # (and a new alert) after every missed detection.
        self.tracker = Tracker(max_age_seconds=max(4 / config.sample_fps, 4 * recheck_seconds))
        self.rules = RuleEngine(config)
        self.static: StaticModel | None = None
        if self.rules.needs_static:
            longest = max(r.min_minutes for r in config.rules if isinstance(r, DebrisRule))
            self.static = StaticModel(absorb_after=max(3600.0, 2 * 60 * longest))
        self.regions: list[StaticRegion] = []
        self._ring: deque[tuple[float, np.ndarray]] = deque(maxlen=CLIP_MAX_FRAMES)
        self._fired: dict[str, float] = {}  # de-dup key -> last time its hit was seen
        self._last_fire: dict[str, float] = {}  # rule id -> time of its last firing (cooldown)
        self._last_detect: float | None = None
        self._last_static: float | None = None
        self._last_t: float | None = None
        self._t_offset = 0.0

    # -- per frame ---------------------------------------------------------------------------

    def process(self, frame: Frame) -> FrameResult:
        self.metrics.frames_decoded += 1
        # Internal time must not run backwards (a source reopened after a break starts at t=0 again):
        # dwell times, tracks and cooldowns carry on as if the stream had paused for one frame.
        if self._last_t is not None and frame.t + self._t_offset < self._last_t:
            self._t_offset = self._last_t - frame.t + 1 / self.config.sample_fps
        t = frame.t + self._t_offset
        self._last_t = t
        if self.config.clip_seconds > 0:
            self._remember(frame, t)
        moving = self.gate.update(frame.image).active
        pending = bool(self.tracker.tracks or self.regions)
        since = None if self._last_detect is None else t - self._last_detect
        analyse = (
            since is None
            or moving
            or (pending and since >= self.recheck_seconds)
            or since >= self.idle_recheck_seconds
        )
        detections: list[Detection] = []
        if analyse:
            started = time.perf_counter()
            try:
                detections = self.detector.detect(frame.image)
            except Exception as exc:
                self.metrics.last_error = f"{type(exc).__name__}: {exc}"
                raise
            finally:
                self.metrics.detector_seconds += time.perf_counter() - started
                self.metrics.detector_calls += 1
            self.metrics.frames_analysed += 1
            self._last_detect = t
            self.tracker.update(detections, t)
        if self.static is not None and (
            self._last_static is None or t - self._last_static >= STATIC_INTERVAL
        ):
            occupied = [tr.box for tr in self.tracker.tracks if tr.label in MOVERS]
            self.regions = self.static.update(frame.image, t, occupied)
            self._last_static = t
        wall = self._wall(frame, t)
        hits = self.rules.evaluate(
            self.tracker.tracks, self.regions, t, None if wall is None else local_time(wall)
        )
        firings = [self._fire(hit, frame, wall) for hit in self._admit(hits, t)]
        self.metrics.firings += len(firings)
        return FrameResult(frame=frame, analysed=analyse, detections=detections, firings=firings)

    def _wall(self, frame: Frame, t: float) -> datetime | None:
        if frame.wall is not None:
            return frame.wall
        if isinstance(self.clock, datetime):
            return self.clock + timedelta(seconds=t)
        if self.clock is not None:
            return self.clock()
        return datetime.now(UTC)

    def _admit(self, hits: list[Hit], t: float) -> list[Hit]:
        admitted = []
        for hit in hits:
            if hit.key in self._fired:
                self._fired[hit.key] = t  # the same object, already alerted: keep it quiet
                continue
            last = self._last_fire.get(hit.rule.id)
            if last is not None and t - last < hit.rule.cooldown_seconds:
                continue
            self._fired[hit.key] = t
            self._last_fire[hit.rule.id] = t
            admitted.append(hit)
        # Forget objects not seen for an hour, so a long-running camera's memory stays flat.
        for key in [k for k, seen in self._fired.items() if t - seen > 3600]:
            del self._fired[key]
        return admitted

    # -- evidence ----------------------------------------------------------------------------

    def _remember(self, frame: Frame, t: float) -> None:
        image = frame.image
        h, w = image.shape[:2]
        if w > CLIP_WIDTH:
            image = cv2.resize(image, (CLIP_WIDTH, round(h * CLIP_WIDTH / w)), interpolation=cv2.INTER_AREA)
        # Kept as JPEG: a tenth of the memory (500 cameras x 6 s), for ~2 ms a frame at 640 px.
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            self._ring.append((t, data))
        while self._ring and t - self._ring[0][0] > self.config.clip_seconds:
            self._ring.popleft()

    def _fire(self, hit: Hit, frame: Frame, wall: datetime | None) -> Firing:
        return Firing(
            rule_id=hit.rule.id, kind=hit.rule.kind, zone_id=hit.zone.id, zone_name=hit.zone.name,
            t=frame.t, wall=wall, label=hit.label, confidence=round(float(hit.confidence), 3),
            box=hit.box, track_id=hit.track_id, category=hit.rule.category, auto_case=hit.rule.auto_case,
            key=hit.key, snapshot_jpeg=draw_evidence(frame.image, hit.zone, hit.box, hit.label, hit.members),
            clip_mp4=self._clip(hit) if self.config.clip_seconds > 0 else None, description=hit.description,
        )  # fmt: skip

    def _clip(self, hit: Hit) -> bytes | None:
        if not self._ring:
            return None
        images = [cv2.imdecode(data, cv2.IMREAD_COLOR) for _, data in self._ring]
        frames = [draw(image, hit.zone, hit.box) for image in images if image is not None]
        if not frames:
            return None
        h, w = frames[0].shape[:2]
        fps = min(30.0, max(1.0, self.config.sample_fps))
        with tempfile.TemporaryDirectory(prefix="shequ-clip-") as tmp:
            path = Path(tmp) / "clip.mp4"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
            if not writer.isOpened():
                self.metrics.last_error = "clip: OpenCV cannot write MP4 (mp4v)"
                return None
            try:
                for image in frames:
                    writer.write(image)
            finally:
                writer.release()
            data = path.read_bytes()
        return data or None


def _pixels(points: list[tuple[float, float]], w: int, h: int) -> np.ndarray:
    return np.array([[round(x * w), round(y * h)] for x, y in points], np.int32)


def draw(image: np.ndarray, zone: Zone, box: Box, members: Sequence[Box] = ()) -> np.ndarray:
    """A copy of `image` with the zone outlined (yellow) and the box (red) drawn."""
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(w / 400))
    cv2.polylines(out, [_pixels(zone.polygon, w, h)], True, (0, 215, 255), thick, cv2.LINE_AA)
    for b in members:
        cv2.rectangle(
            out, (round(b[0] * w), round(b[1] * h)), (round(b[2] * w), round(b[3] * h)), (0, 140, 255), thick
        )
    x1, y1, x2, y2 = round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)
    cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), thick + 1)
    return out


def draw_evidence(image: np.ndarray, zone: Zone, box: Box, label: str, members: Sequence[Box] = ()) -> bytes:
    """The alert's snapshot: zone, box and the (English, ASCII) class name, as JPEG."""
    out = draw(image, zone, box, members)
    h, w = out.shape[:2]
    x1, y1 = round(box[0] * w), round(box[1] * h)
    scale = max(0.4, w / 1600)
    cv2.putText(
        out, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 255), 1, cv2.LINE_AA
    )
    ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:  # pragma: no cover - encoding a BGR uint8 image does not fail
        raise ValueError("JPEG encoding failed")
    return data.tobytes()
