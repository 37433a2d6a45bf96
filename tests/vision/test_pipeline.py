"""The pipeline on drawn scenes with exact ground truth: dwell times, de-dup, cooldown, crowd vs
passers-by, schedules, debris and ghosts, ignore boxes, evidence and motion gating.

Frames carry synthetic times (frame.t), so a scene of twenty minutes runs in a second or two."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from shequ_vision.config import parse_analytics
from shequ_vision.pipeline import Firing, Pipeline

from .synthetic import BROWN, COLOURS, ColourDetector, Thing, frames, thing, walker

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROAD = [[0.0, 0.4], [1.0, 0.4], [1.0, 1.0], [0.0, 1.0]]  # the lower part of the picture


def analytics(*rules: dict[str, Any], **extra: Any) -> Any:
    data = {"zones": [{"id": "road", "name": "消防通道", "polygon": ROAD}], "clip_seconds": 0, **extra}
    data["rules"] = [{"id": f"r{i}", "zone": "road", **r} for i, r in enumerate(rules)]
    return parse_analytics(data)


def run(
    config: Any, things: list[Thing], seconds: float, fps: float = 1.0, **kwargs: Any
) -> tuple[list[Firing], Pipeline]:
    detector = kwargs.pop("detector", None) or ColourDetector()
    pipeline = Pipeline(config, detector, **kwargs)
    firings = [f for frame in frames(things, seconds, fps) for f in pipeline.process(frame).firings]
    return firings, pipeline


def test_parking_fires_at_n_minutes_once_per_car() -> None:
    parked = thing("car", (0.2, 0.5, 0.4, 0.65), start=10)
    firings, pipeline = run(
        analytics({"kind": "parking", "min_minutes": 5, "category": "0501"}), [parked], 900
    )
    assert len(firings) == 1  # fifteen minutes parked: one alert, not one a minute
    f = firings[0]
    # Not before five minutes; at most one recheck interval (5 s) after, since a standing car makes
    # no motion and is confirmed by the periodic recheck.
    assert 10 + 300 <= f.t <= 10 + 300 + 5
    assert f.kind == "parking" and f.label == "car" and f.category == "0501"
    assert f.key == f"r0:track:{f.track_id}" and "违章停车" in f.description and "5 分钟" in f.description
    assert abs(f.box[0] - 0.2) < 0.01 and abs(f.box[3] - 0.65) < 0.01
    # The car never moves after arriving, so the detector ran on motion plus periodic rechecks only.
    assert pipeline.metrics.detector_calls < 900 / 4 and pipeline.metrics.firings == 1


def test_a_car_that_leaves_before_n_minutes_never_fires() -> None:
    # Leaves at 4 min 58 s; the tracker keeps its track a little longer, but dwell counts sightings.
    brief = thing("car", (0.2, 0.5, 0.4, 0.65), start=0, end=298)
    firings, _ = run(analytics({"kind": "parking", "min_minutes": 5}), [brief], 600)
    assert firings == []


def test_a_car_outside_the_zone_or_moving_does_not_fire() -> None:
    above = thing("car", (0.2, 0.1, 0.4, 0.3))  # bottom centre at y=0.3, the zone starts at 0.4
    driving = Thing(COLOURS["car"], walker(0.6, 0.004, 0, size=(0.2, 0.15)))  # crosses in 300 s
    firings, _ = run(analytics({"kind": "parking", "min_minutes": 2}), [above, driving], 400)
    assert firings == []


def test_detector_misses_do_not_split_a_parked_car() -> None:
    parked = thing("car", (0.2, 0.5, 0.4, 0.65))
    # Calls 3-5 return nothing: with one recheck every 5 s that is a 15 s gap.
    detector = ColourDetector(blind={3, 4, 5})
    firings, pipeline = run(
        analytics({"kind": "parking", "min_minutes": 1, "cooldown_seconds": 0}),
        [parked],
        300,
        detector=detector,
    )
    assert len(firings) == 1 and firings[0].track_id == 1
    assert pipeline.tracker.tracks[0].id == 1


def test_cooldown_suppresses_a_second_car_then_lets_it_fire() -> None:
    config = analytics({"kind": "parking", "min_minutes": 1, "cooldown_seconds": 300})
    first = thing("car", (0.05, 0.5, 0.25, 0.65), start=0)
    second = thing("car", (0.7, 0.5, 0.9, 0.65), start=100)  # qualifies at 160 s, within cooldown
    brief = thing("truck", (0.4, 0.7, 0.6, 0.9), start=120, end=230)  # qualifies at 180 s, gone by 230 s
    firings, _ = run(config, [first, second, brief], 500)
    assert [(f.t, round(f.box[0], 2)) for f in firings] == [(60, 0.05), (360, 0.7)]


def test_crowd_standing_group_fires_passers_by_do_not() -> None:
    rule = {"kind": "crowd", "min_people": 4, "min_seconds": 30}
    group = [thing("person", (0.1 + 0.15 * i, 0.5, 0.15 + 0.15 * i, 0.7), start=20 + i) for i in range(4)]
    firings, _ = run(analytics(rule), group, 120)
    assert len(firings) == 1 and firings[0].kind == "crowd"
    # The fourth person arrives at 23 s: in place 15 s at 38 s, group held 15 s more -> 53 s; a
    # standing group makes no motion, so it is confirmed by the 5 s rechecks: at most 5 s later.
    assert 53 <= firings[0].t <= 58 and "4 人" in firings[0].description
    # Twelve people walking through the zone in three lanes, one every 4 s, about five in the zone
    # at any moment: more than four people, but never a standing group.
    stream = [Thing(COLOURS["person"], walker(0.45 + 0.17 * (i % 3), 0.05, 4 * i)) for i in range(12)]
    firings, _ = run(analytics(rule), stream, 120)
    assert firings == []
    # Three standing are fewer than four.
    firings, _ = run(analytics(rule), group[:3], 120)
    assert firings == []


def test_intrusion_only_in_its_hours() -> None:
    rule = {"kind": "intrusion", "schedule": [{"start": "22:00", "end": "06:00"}]}
    intruder = thing("person", (0.5, 0.5, 0.55, 0.7), start=30)
    night = datetime(2026, 11, 27, 23, 0, tzinfo=SHANGHAI)
    firings, _ = run(analytics(rule), [intruder], 60, clock=night)
    assert [(f.t, f.kind, f.label) for f in firings] == [(30, "intrusion", "person")]
    day = datetime(2026, 11, 27, 14, 0, tzinfo=SHANGHAI)
    assert run(analytics(rule), [intruder], 60, clock=day)[0] == []
    # Entering at 05:59:40 is inside the window (and fires at once), at 06:00:10 outside.
    dawn = datetime(2026, 11, 28, 5, 59, 10, tzinfo=SHANGHAI)
    assert len(run(analytics(rule), [intruder], 60, clock=dawn)[0]) == 1
    late = datetime(2026, 11, 28, 5, 59, 40, tzinfo=SHANGHAI)
    assert run(analytics(rule), [intruder], 60, clock=late)[0] == []


def test_vending_counts_time_in_hours_only() -> None:
    rule = {"kind": "vending", "min_minutes": 2, "schedule": [{"start": "17:00", "end": "21:00"}]}
    stall = [thing("chair", (0.3, 0.6, 0.36, 0.7)), thing("person", (0.4, 0.5, 0.45, 0.7))]
    # Set up at 16:58: the two minutes count from 17:00, so the first firing is at 17:02.
    start = datetime(2026, 11, 27, 16, 58, tzinfo=SHANGHAI)
    firings, _ = run(analytics(rule, {"kind": "vending", "min_minutes": 2}), stall, 300, clock=start)
    # Both qualify at once; the rule's cooldown (600 s) holds the second back.
    assert [f.t for f in firings if f.rule_id == "r0"] == [240]
    assert [f.t for f in firings if f.rule_id == "r1"] == [120]  # the same rule without hours


def test_ignore_box_of_a_dismissed_alert_suppresses_it() -> None:
    parked = thing("car", (0.2, 0.5, 0.4, 0.65))
    rule = {"kind": "parking", "min_minutes": 1}
    assert len(run(analytics(rule), [parked], 120)[0]) == 1
    ignored = {**rule, "ignore": [[0.21, 0.5, 0.4, 0.66]]}
    assert run(analytics(ignored), [parked], 120)[0] == []
    elsewhere = {**rule, "ignore": [[0.6, 0.5, 0.8, 0.66]]}
    assert len(run(analytics(elsewhere), [parked], 120)[0]) == 1


def test_debris_left_in_the_zone_fires_after_min_minutes() -> None:
    rule = {"kind": "debris", "min_minutes": 2, "min_area": 0.002}
    bag = Thing(BROWN, (0.45, 0.6, 0.53, 0.68), start=60)  # nothing detects brown: only the static model
    firings, _ = run(analytics(rule), [bag], 400)
    assert len(firings) == 1
    f = firings[0]
    assert f.kind == "debris" and f.key.startswith("r0:region:") and 180 <= f.t <= 190
    assert abs(f.box[0] - 0.45) < 0.03 and abs(f.box[2] - 0.53) < 0.03 and f.confidence > 0.6
    # Dropped by a passer-by: the person walks over the spot as the bag appears and walks on. The
    # person is tracked and masked out of the static model; the bag stays and fires, the person not.
    passer = Thing(COLOURS["person"], walker(0.55, 0.05, 50, size=(0.05, 0.2)))  # over the bag at ~60 s
    firings, _ = run(analytics(rule), [bag, passer], 400)
    assert [(f.kind, round(f.box[0], 1)) for f in firings] == [("debris", 0.5)] and 180 <= firings[0].t <= 190


def test_debris_ghost_of_a_removed_object_never_fires() -> None:
    rule = {"kind": "debris", "min_minutes": 1, "min_area": 0.002}
    removed = Thing(BROWN, (0.45, 0.6, 0.53, 0.68), start=0, end=60)  # there from the start, then gone
    firings, pipeline = run(analytics(rule), [removed], 400)
    assert firings == [] and pipeline.regions == []
    assert pipeline.static is not None and pipeline.static.ghosts == 1  # seen, judged a ghost, healed
    # The same object arriving instead of leaving does fire: the verdict is what tells them apart.
    arrived = Thing(BROWN, (0.45, 0.6, 0.53, 0.68), start=60)
    firings, pipeline = run(analytics(rule), [arrived], 400)
    assert len(firings) == 1 and pipeline.static is not None and pipeline.static.ghosts == 0


def test_debris_ignores_a_parked_car_and_the_zone_outside() -> None:
    rule = {"kind": "debris", "min_minutes": 1}
    car = thing("car", (0.2, 0.5, 0.4, 0.65), start=20)
    outside = Thing(BROWN, (0.45, 0.1, 0.53, 0.2), start=20)
    assert run(analytics(rule), [car, outside], 300)[0] == []


def test_evidence_snapshot_and_clip(tmp_path: Path) -> None:
    parked = thing("car", (0.2, 0.5, 0.4, 0.65), start=2)
    firings, _ = run(analytics({"kind": "parking", "min_minutes": 0.1}, clip_seconds=4), [parked], 20, fps=2)
    f = firings[0]
    snapshot = cv2.imdecode(np.frombuffer(f.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snapshot is not None and snapshot.shape == (240, 320, 3)
    # The red box is drawn around the car and the yellow zone edge along y = 0.4.
    b, g, r = (int(v) for v in snapshot[int(0.57 * 240), int(0.2 * 320)])  # the box's left edge
    assert r > 150 and r > g + 60 and r > b + 60
    b, g, r = (int(v) for v in snapshot[int(0.4 * 240), 250])
    assert r > 180 and g > 150 and b < g - 60
    assert f.clip_mp4 is not None and f.clip_mp4[4:8] == b"ftyp"
    path = tmp_path / "clip.mp4"
    path.write_bytes(f.clip_mp4)
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 9  # 4 s at 2 frames/s, both ends included
    cap.release()


def test_motion_gating_and_metrics() -> None:
    # An empty street: the detector runs on the first frame and then once a minute only.
    _, pipeline = run(analytics({"kind": "parking"}), [], 600)
    m = pipeline.metrics
    assert (m.frames_decoded, m.frames_analysed, m.detector_calls, m.firings) == (600, 10, 10, 0)
    # With motion gating off the detector runs on every frame.
    _, pipeline = run(analytics({"kind": "parking"}, motion={"enabled": False}), [], 60)
    assert pipeline.metrics.detector_calls == 60


def test_a_source_that_restarts_its_clock_keeps_the_state() -> None:
    # A reopened stream starts again at t=0: the parked car keeps its track and its one alert.
    parked = thing("car", (0.2, 0.5, 0.4, 0.65))
    pipeline = Pipeline(
        analytics({"kind": "parking", "min_minutes": 2, "cooldown_seconds": 0}), ColourDetector()
    )
    first = [f for frame in frames([parked], 150) for f in pipeline.process(frame).firings]
    again = [f for frame in frames([parked], 300) for f in pipeline.process(frame).firings]
    assert len(first) == 1 and again == [] and [t.id for t in pipeline.tracker.tracks] == [1]
