"""A small multi-object tracker for sampled frames (one to a few frames a second).

Rules need identities over time: "this car has stood here for six minutes", "these five people have
stayed", "this person is the one who entered". Detections are matched to tracks greedily by IoU,
then by centroid distance relative to box size (at 1 frame/s a walking person's boxes may not
overlap), separately per label family (a detector may call the same vehicle "car" then "truck").
A track survives `max_age_seconds` without a match, so a detector miss of a few frames does not
split one parked car into two alerts.

Stationarity: each track keeps an anchor box and `still_since`, the time since which its centre has
stayed within `stationary_tolerance` x (mean side of the box) of that anchor. A slow drift is caught
because it is measured against the anchor, not the previous box; detector jitter of a few pixels
is not. It costs O(1) per update, whatever the dwell time (parking up to 24 h).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .detect import Box, Detection

# Labels one physical object may get from frame to frame.
_FAMILY = {"car": "vehicle", "truck": "vehicle", "bus": "vehicle"}


def family(label: str) -> str:
    return _FAMILY.get(label, label)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def centre(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def bottom_centre(box: Box) -> tuple[float, float]:
    """Where a person or vehicle touches the ground: what a ground zone should contain."""
    return ((box[0] + box[2]) / 2, box[3])


def size(box: Box) -> float:
    return max(1e-6, ((box[2] - box[0]) + (box[3] - box[1])) / 2)


@dataclass(eq=False)  # identity, not field equality: two tracks are never the same object
class Track:
    id: int
    label: str
    box: Box
    score: float
    first_t: float
    last_t: float  # the last time the detector saw it (a missed frame does not move it)
    boxes: deque[tuple[float, Box]] = field(default_factory=lambda: deque(maxlen=256))
    still_since: float = 0.0
    anchor: Box = (0.0, 0.0, 0.0, 0.0)
    hits: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)  # centre motion, image fractions per second (smoothed)
    peak: float = 0.0  # best score seen: a rule's min_score is met once, not on every frame

    def predicted(self, t: float, horizon: float = 5.0) -> Box:
        """Where the box should be at `t` at constant velocity (at most `horizon` seconds ahead):
        without it, a walker would be matched to the stale track of the one who walked there
        before, and the tracks of both would seem to stand still."""
        dt = min(max(0.0, t - self.last_t), horizon)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x1, y1, x2, y2 = self.box
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)

    def stationary_seconds(self) -> float:
        """How long, up to its last sighting, the track has stood still."""
        return self.last_t - self.still_since

    def is_stationary(self, window_seconds: float) -> bool:
        return self.stationary_seconds() >= window_seconds

    def displacement(self, window_seconds: float) -> float:
        """Largest centre displacement (in box sizes) within the last `window_seconds` of history."""
        since = self.last_t - window_seconds
        # The last sighting before the window too: a track seen once in the window after a long gap
        # has moved from there, and a single point must not pass for "did not move".
        before = [b for t, b in self.boxes if t < since][-1:]
        points = [centre(b) for b in before] + [centre(b) for t, b in self.boxes if t >= since]
        if len(points) < 2:
            return 0.0
        cx, cy = centre(self.box)
        return max(((x - cx) ** 2 + (y - cy) ** 2) ** 0.5 for x, y in points) / size(self.box)


class Tracker:
    def __init__(
        self,
        max_age_seconds: float = 10.0,
        iou: float = 0.3,
        *,
        centroid_factor: float = 1.0,
        stationary_tolerance: float = 0.3,
        recent_seconds: float = 2.0,
    ) -> None:
        self.max_age_seconds = max_age_seconds
        self.iou = iou
        self.centroid_factor = centroid_factor
        self.stationary_tolerance = stationary_tolerance
        self.recent_seconds = recent_seconds
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: list[Detection], t: float) -> list[Track]:
        """Match one frame's detections; returns the live tracks (seen within max_age_seconds)."""
        unmatched = list(range(len(detections)))
        free = list(self.tracks)
        pairs: list[tuple[float, int, Track]] = []
        # Where each track may be now: where its velocity takes it, and, if it was seen a moment
        # ago, where it was (people stop and turn). A track unseen for longer is only looked for
        # where it was heading, so it cannot steal the next person to walk over the same spot.
        places = {
            track.id: [track.predicted(t)] + ([track.box] if t - track.last_t <= self.recent_seconds else [])
            for track in free
        }
        for i, det in enumerate(detections):
            for track in free:
                if family(track.label) == family(det.label):
                    overlap = max(iou(place, det.box) for place in places[track.id])
                    if overlap >= self.iou:
                        pairs.append((overlap, i, track))
        self._assign(sorted(pairs, key=lambda p: -p[0]), detections, unmatched, free, t)
        # Centroid fallback for what IoU left: closest first, within centroid_factor box sizes.
        pairs = []
        for i in unmatched:
            det = detections[i]
            for track in free:
                if family(track.label) == family(det.label):
                    bx, by = centre(det.box)
                    distance = min(
                        ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 / size(track.box)
                        for ax, ay in (centre(place) for place in places[track.id])
                    )
                    if distance <= self.centroid_factor:
                        pairs.append((-distance, i, track))
        self._assign(sorted(pairs, key=lambda p: -p[0]), detections, unmatched, free, t)
        for i in unmatched:
            det = detections[i]
            track = Track(
                id=self._next_id, label=det.label, box=det.box, score=det.score, first_t=t, last_t=t,
                still_since=t, anchor=det.box, peak=det.score,
            )  # fmt: skip
            track.boxes.append((t, det.box))
            self._next_id += 1
            self.tracks.append(track)
        self.tracks = [tr for tr in self.tracks if t - tr.last_t <= self.max_age_seconds]
        return list(self.tracks)

    def _assign(
        self,
        pairs: list[tuple[float, int, Track]],
        detections: list[Detection],
        unmatched: list[int],
        free: list[Track],
        t: float,
    ) -> None:
        for _, i, track in pairs:
            if i not in unmatched or track not in free:
                continue
            unmatched.remove(i)
            free.remove(track)
            self._observe(track, detections[i], t)

    def _observe(self, track: Track, det: Detection, t: float) -> None:
        (ax, ay), (bx, by) = centre(track.anchor), centre(det.box)
        if ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 > self.stationary_tolerance * size(track.anchor):
            track.anchor, track.still_since = det.box, t
        dt = t - track.last_t
        if dt > 0:
            (ox, oy), (nx, ny) = centre(track.box), centre(det.box)
            vx, vy = track.velocity
            track.velocity = (0.5 * vx + 0.5 * (nx - ox) / dt, 0.5 * vy + 0.5 * (ny - oy) / dt)
        track.box, track.score, track.label, track.last_t = det.box, det.score, det.label, t
        track.hits += 1
        track.peak = max(track.peak, det.score)
        track.boxes.append((t, det.box))
