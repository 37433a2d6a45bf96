"""Rules on tracks, without images: zone geometry, dwell bookkeeping, crowd episodes, ignore boxes."""

from __future__ import annotations

from typing import Any

from shequ_vision.config import parse_analytics
from shequ_vision.detect import Detection
from shequ_vision.rules import RuleEngine, box_in_polygon, point_in_polygon
from shequ_vision.static import StaticRegion
from shequ_vision.track import Tracker

TRIANGLE = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
LOWER = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]


def engine(*rules: dict[str, Any]) -> RuleEngine:
    data = {
        "zones": [{"id": "z", "name": "路口", "polygon": LOWER}],
        "rules": [{"id": f"r{i}", "zone": "z", **r} for i, r in enumerate(rules)],
    }
    return RuleEngine(parse_analytics(data))


def test_geometry() -> None:
    assert point_in_polygon(0.2, 0.2, TRIANGLE) and not point_in_polygon(0.6, 0.6, TRIANGLE)
    assert box_in_polygon((0.0, 0.0, 0.2, 0.2), TRIANGLE) == 1.0
    assert box_in_polygon((0.6, 0.6, 0.9, 0.9), TRIANGLE) == 0.0
    assert 0.4 < box_in_polygon((0.0, 0.0, 1.0, 1.0), TRIANGLE) < 0.6


def test_people_count_where_they_stand_not_where_their_head_is() -> None:
    rules = engine({"kind": "intrusion"})
    tracker = Tracker()
    # Head above the zone line (y=0.5), feet in it: inside. Feet above the line: outside.
    standing_in = Detection("person", 0.9, (0.1, 0.3, 0.2, 0.6))
    standing_out = Detection("person", 0.9, (0.5, 0.1, 0.6, 0.45))
    hits = rules.evaluate(tracker.update([standing_in, standing_out], 0), [], 0, None)
    assert [h.box for h in hits] == [standing_in.box]


def test_min_score_classes_and_ignore() -> None:
    tracker = Tracker()
    tracks = tracker.update(
        [Detection("person", 0.4, (0.1, 0.5, 0.2, 0.9)), Detection("dog", 0.9, (0.5, 0.5, 0.6, 0.9))], 0
    )
    assert engine({"kind": "intrusion"}).evaluate(tracks, [], 0, None) == []  # 0.4 < 0.5; dogs are no class
    assert len(engine({"kind": "intrusion", "min_score": 0.3}).evaluate(tracks, [], 0, None)) == 1
    assert len(engine({"kind": "intrusion", "classes": ["dog"]}).evaluate(tracks, [], 0, None)) == 1
    ignored = engine({"kind": "intrusion", "classes": ["dog"], "ignore": [[0.5, 0.5, 0.6, 0.88]]})
    assert ignored.evaluate(tracks, [], 0, None) == []


def test_dwell_restarts_when_the_object_leaves_the_zone() -> None:
    rules = engine({"kind": "vending", "min_minutes": 1, "classes": ["person"]})
    tracker = Tracker(max_age_seconds=30)
    inside, halfway, outside = (0.1, 0.5, 0.2, 0.9), (0.1, 0.3, 0.2, 0.7), (0.1, 0.05, 0.2, 0.45)
    path = {50: halfway, 51: outside, 52: outside, 53: halfway}  # steps out for two seconds, one track
    for t in range(0, 113):
        tracks = tracker.update([Detection("person", 0.9, path.get(t, inside))], t)
        assert len(tracks) == 1 and rules.evaluate(tracks, [], t, None) == [], t
    # Out at 51 (feet above the line), back at 53: a fresh minute, so 112 is not enough and 113 is.
    hits = rules.evaluate(tracker.update([Detection("person", 0.9, inside)], 113), [], 113, None)
    assert len(hits) == 1 and hits[0].key == "r0:track:1" and "1 分钟" in hits[0].description


def test_crowd_keeps_its_episode_through_a_short_dip_and_starts_a_new_one_after() -> None:
    rules = engine({"kind": "crowd", "min_people": 3, "min_seconds": 10})
    tracker = Tracker(max_age_seconds=2)
    people = [Detection("person", 0.9, (0.1 * i, 0.5, 0.1 * i + 0.05, 0.8)) for i in range(3)]
    keys = set()
    for t in range(0, 40):
        seen = people if not 20 <= t < 23 else people[:2]  # one hidden for three frames: track survives
        if 25 <= t < 40:
            seen = people[:2] if t < 30 else people  # then really gone for 5 s (> max_age), and back
        keys |= {h.key for h in rules.evaluate(tracker.update(seen, t), [], t, None)}
    assert keys == {"r0:group:0"}
    for t in range(40, 60):
        keys |= {h.key for h in rules.evaluate(tracker.update(people, t), [], t, None)}
    assert keys == {"r0:group:0", "r0:group:1"}


def test_debris_needs_an_added_region_old_enough_big_enough_and_inside() -> None:
    rules = engine({"kind": "debris", "min_minutes": 1, "min_area": 0.01})
    good = StaticRegion(1, (0.4, 0.6, 0.6, 0.8), 0.04, first_t=0, last_t=70, score=0.8)
    assert [h.key for h in rules.evaluate([], [good], 70, None)] == ["r0:region:1"]
    assert rules.evaluate([], [good], 50, None) == []  # too young
    ghost = StaticRegion(2, (0.4, 0.6, 0.6, 0.8), 0.04, first_t=0, last_t=70, score=-0.6)
    small = StaticRegion(3, (0.4, 0.6, 0.45, 0.65), 0.005, first_t=0, last_t=70, score=0.8)
    outside = StaticRegion(4, (0.4, 0.1, 0.6, 0.3), 0.04, first_t=0, last_t=70, score=0.8)
    assert rules.evaluate([], [ghost, small, outside], 70, None) == []
