"""Rules evaluated per zone on the tracker's tracks and the static model's regions.

Each evaluation returns every `Hit` whose condition holds now; the pipeline turns a hit into at most
one alert per object (de-dup by `key`) and one per rule per cooldown. A hit's key is stable for as
long as the object is the same: rule + track id, rule + static region id, or rule + crowd episode.

Where is an object? People and vehicles stand on the ground, so a track is in a zone when the
bottom centre of its box is inside the polygon (a pedestrian's head over a no-parking strip is not
on it). A debris region is in a zone when at least half of its box lies inside the polygon.

Dwell times are measured on the tracks' own sightings (`last_t`), not on the frame's time, so a
track that the tracker keeps alive through a few missed detections cannot mature into an alert
after the object has in fact gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .config import (
    CameraAnalytics,
    CrowdRule,
    DebrisRule,
    IntrusionRule,
    ParkingRule,
    Rule,
    VendingRule,
    Zone,
)
from .detect import Box
from .static import StaticRegion
from .track import Track, bottom_centre, family, iou

LABELS_ZH = {
    "person": "人员", "car": "汽车", "truck": "货车", "bus": "客车", "motorcycle": "摩托车",
    "bicycle": "自行车", "umbrella": "遮阳伞", "handbag": "手提包", "backpack": "背包",
    "suitcase": "箱包", "chair": "椅子", "bench": "长凳", "dining table": "桌子", "potted plant": "盆栽",
}  # fmt: skip
# Objects the debris model must not take for rubbish (they have rules of their own).
MOVERS = frozenset({"person", "car", "truck", "bus", "motorcycle", "bicycle"})
# A crowd member may sway and shuffle: at most this many box sizes from where it stood.
CROWD_DISPLACEMENT = 0.75


@dataclass
class Hit:
    rule: Rule
    zone: Zone
    key: str
    label: str
    confidence: float
    box: Box
    track_id: int | None
    description: str
    members: list[Box] = field(default_factory=list)  # crowd: each person's box


def point_in_polygon(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    """Even-odd ray casting; points on an edge count as inside either neighbour, which is fine here."""
    inside = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def box_in_polygon(box: Box, polygon: list[tuple[float, float]], steps: int = 6) -> float:
    """Share of the box's area inside the polygon, sampled on a steps x steps grid."""
    x1, y1, x2, y2 = box
    inside = sum(
        point_in_polygon(x1 + (x2 - x1) * (i + 0.5) / steps, y1 + (y2 - y1) * (j + 0.5) / steps, polygon)
        for i in range(steps)
        for j in range(steps)
    )
    return inside / (steps * steps)


def union_box(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f}" if seconds >= 600 else f"{seconds / 60:.1f}".removesuffix(".0")


class RuleEngine:
    def __init__(self, config: CameraAnalytics) -> None:
        self.config = config
        self.zones = {z.id: z for z in config.zones}
        self._since: dict[str, dict[int, float]] = {}  # rule id -> track id -> time it entered the zone
        self._group: dict[str, tuple[float, float, int]] = {}  # crowd: (since, last seen, episode)
        self._episodes: dict[str, int] = {}

    @property
    def needs_static(self) -> bool:
        return any(isinstance(r, DebrisRule) and r.enabled for r in self.config.rules)

    def evaluate(
        self, tracks: list[Track], regions: list[StaticRegion], t: float, local: datetime | None
    ) -> list[Hit]:
        hits: list[Hit] = []
        for rule in self.config.rules:
            zone = self.zones[rule.zone]
            if not rule.enabled or not rule.active_at(local):
                self._since.pop(rule.id, None)
                self._group.pop(rule.id, None)
                continue
            if isinstance(rule, CrowdRule):
                found = self._crowd(rule, zone, tracks, t)
            elif isinstance(rule, DebrisRule):
                found = self._debris(rule, zone, regions, t)
            else:
                found = self._dwell(rule, zone, tracks)
            hits.extend(h for h in found if not any(iou(h.box, b) >= 0.5 for b in rule.ignore))
        return hits

    def _in_zone(self, rule: Rule, zone: Zone, tracks: list[Track], classes: set[str]) -> list[Track]:
        return [
            tr for tr in tracks
            if (tr.label in classes or family(tr.label) in classes)
            and tr.peak >= rule.min_score
            and point_in_polygon(*bottom_centre(tr.box), zone.polygon)
        ]  # fmt: skip

    def _dwell(
        self, rule: ParkingRule | VendingRule | IntrusionRule, zone: Zone, tracks: list[Track]
    ) -> list[Hit]:
        inside = self._in_zone(rule, zone, tracks, set(rule.classes))
        since = self._since.setdefault(rule.id, {})
        for gone in set(since) - {tr.id for tr in inside}:
            del since[gone]
        hits = []
        for tr in inside:
            entered = since.setdefault(tr.id, tr.last_t)
            name = LABELS_ZH.get(tr.label, tr.label)
            if isinstance(rule, ParkingRule):
                dwell, needed = tr.last_t - max(entered, tr.still_since), rule.min_minutes * 60
                text = f"违章停车：{name}停留 {_minutes(dwell)} 分钟"
            elif isinstance(rule, VendingRule):
                dwell, needed = tr.last_t - entered, rule.min_minutes * 60
                text = f"占道经营：{name}停留 {_minutes(dwell)} 分钟"
            else:
                dwell, needed = tr.last_t - entered, rule.min_seconds
                text = f"闯入禁区：{name}进入{zone.name}"
            if dwell >= needed:
                key = f"{rule.id}:track:{tr.id}"
                hits.append(Hit(rule, zone, key, tr.label, tr.peak, tr.box, tr.id, text))
        return hits

    def _crowd(self, rule: CrowdRule, zone: Zone, tracks: list[Track], t: float) -> list[Hit]:
        half = rule.min_seconds / 2
        inside = self._in_zone(rule, zone, tracks, {"person"})
        since = self._since.setdefault(rule.id, {})
        for gone in set(since) - {tr.id for tr in inside}:
            del since[gone]
        standing = []
        for tr in inside:
            entered = since.setdefault(tr.id, tr.last_t)
            # Standing: in the zone for half the time and not wandering off — people passing through
            # are in the zone for a few seconds and move several box sizes.
            if tr.last_t - entered >= half and tr.displacement(half) <= CROWD_DISPLACEMENT:
                standing.append(tr)
        episode = self._episodes.get(rule.id, 0)
        group = self._group.get(rule.id)
        if len(standing) < rule.min_people:
            # The group must hold its size; a short dip (someone hidden a moment) keeps the episode.
            if group is not None and t - group[1] > min(30.0, half):
                del self._group[rule.id]
                self._episodes[rule.id] = episode + 1
            return []
        start = group[0] if group is not None else t
        self._group[rule.id] = (start, t, episode)
        if t - start < half:
            return []
        boxes = [tr.box for tr in standing]
        confidence = sum(tr.peak for tr in standing) / len(standing)
        text = f"人员聚集：{zone.name} {len(standing)} 人停留超过 {rule.min_seconds:g} 秒"
        key = f"{rule.id}:group:{episode}"
        return [Hit(rule, zone, key, "person", confidence, union_box(boxes), None, text, boxes)]

    def _debris(self, rule: DebrisRule, zone: Zone, regions: list[StaticRegion], t: float) -> list[Hit]:
        hits = []
        for region in regions:
            confidence = 0.5 + region.score / 2
            if (
                region.added
                and region.area >= rule.min_area
                and region.age(t) >= rule.min_minutes * 60
                and confidence >= rule.min_score
                and box_in_polygon(region.box, zone.polygon) >= 0.5
            ):
                text = f"暴露垃圾/堆物：{zone.name}出现静止物体 {_minutes(region.age(t))} 分钟"
                key = f"{rule.id}:region:{region.id}"
                hits.append(Hit(rule, zone, key, "debris", confidence, region.box, None, text))
        return hits
