"""Rules on real footage with the real detector (SSD-MobileNet-v2 on OpenCV DNN).

one-by-one-person-detection.mp4 shows people entering a room ONE at a time; each walks to the
middle, stands there for 10-25 s and leaves to the right (a detection pass at 1 frame/s, run once
to write these tests, puts the standing spells at about 8-18 s, 76-84 s, 94-118 s and 125-134 s).
No moment of it has two people, so for the crowd rule the test tiles four moments of the clip
into one 2x2 picture: four real people, really standing, found by the real detector in one frame.
The detector runs once per module over the frames (2 frames/s); each rule then replays those
detections through the whole pipeline (motion gate, tracker, rules, de-dup, evidence).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from shequ_vision.config import parse_analytics
from shequ_vision.detect import Detection
from shequ_vision.frames import Frame, open_source
from shequ_vision.pipeline import Firing, Pipeline

FPS = 2.0
EVENING = datetime(2026, 11, 27, 22, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
NOON = datetime(2026, 11, 27, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
# Where the standing people are in tile time: clip time = t + offset, t in [0, SECONDS).
OFFSETS = (0.0, 68.0, 86.0, 117.0)
SECONDS = 20.0
EVERYWHERE = [[0, 0], [1, 0], [1, 1], [0, 1]]


@dataclass
class Replay:
    """Detections found once by the real detector, handed back for the same frame."""

    by_image: dict[int, list[Detection]]
    name: str = "ssd-replay"

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.by_image[id(image)]


@dataclass
class Recorded:
    frames: list[Frame]
    detector: Replay


def _record(frames: list[Frame], detector: Any) -> Recorded:
    return Recorded(frames, Replay({id(f.image): detector.detect(f.image) for f in frames}))


def _sampled(path: Path, until: float) -> Iterator[Frame]:
    with open_source(str(path), sample_fps=FPS) as source:
        for frame in source:
            if frame.t >= until:
                break
            yield frame


@pytest.fixture(scope="module")
def room(one_by_one: Path, ssd: Any) -> Recorded:
    """The first 14 s of the clip: empty room, then the first person walks in and stands."""
    return _record(list(_sampled(one_by_one, 14.0)), ssd)


@pytest.fixture(scope="module")
def four_standing(one_by_one: Path, ssd: Any) -> Recorded:
    """2x2 tiles of the clip at four moments (OFFSETS), each tile at half size."""
    tiles: dict[float, dict[int, np.ndarray]] = {o: {} for o in OFFSETS}
    for frame in _sampled(one_by_one, max(OFFSETS) + SECONDS):
        for offset in OFFSETS:
            step = round((frame.t - offset) * FPS)
            if 0 <= step < SECONDS * FPS:
                tiles[offset][step] = cv2.resize(frame.image, (384, 216), interpolation=cv2.INTER_AREA)
    steps = sorted(set.intersection(*(set(t) for t in tiles.values())))
    assert len(steps) >= SECONDS * FPS - 1, "the clip did not decode as expected"
    frames = []
    for step in steps:
        a, b, c, d = (tiles[o][step] for o in OFFSETS)
        image = np.vstack([np.hstack([a, b]), np.hstack([c, d])])
        frames.append(Frame(index=step, t=step / FPS, wall=None, image=image))
    return _record(frames, ssd)


def _run(
    recorded: Recorded, rules: list[dict[str, Any]], polygon: list[Any], clock: datetime = NOON
) -> list[Firing]:
    config = parse_analytics({
        "sample_fps": FPS,
        "clip_seconds": 2,
        "zones": [{"id": "z", "name": "大厅", "polygon": polygon}],
        "rules": [{"zone": "z", **r} for r in rules],
    })  # fmt: skip
    pipeline = Pipeline(config, recorded.detector, clock=clock)
    return [f for frame in recorded.frames for f in pipeline.process(frame).firings]


def test_crowd_fires_when_four_people_stand(four_standing: Recorded) -> None:
    firings = _run(
        four_standing, [{"id": "crowd", "kind": "crowd", "min_people": 4, "min_seconds": 6}], EVERYWHERE
    )
    assert len(firings) == 1, [(f.t, f.description) for f in firings]
    f = firings[0]
    # All four stand from about 8 s; three seconds in place each, three more as a group.
    assert 12 <= f.t <= 17 and f.kind == "crowd" and "4 人" in f.description
    assert f.box[0] < 0.3 and f.box[2] > 0.8 and f.box[1] < 0.1 and f.box[3] > 0.9  # spans the four tiles
    snapshot = cv2.imdecode(np.frombuffer(f.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snapshot is not None and snapshot.shape == (432, 768, 3)
    assert f.clip_mp4 is not None and len(f.clip_mp4) > 1000


def test_crowd_does_not_fire_for_more_people_than_stand_or_a_longer_stay(four_standing: Recorded) -> None:
    assert (
        _run(four_standing, [{"id": "c5", "kind": "crowd", "min_people": 5, "min_seconds": 6}], EVERYWHERE)
        == []
    )
    # The spells overlap for about 8 s: a group must stay 30 s for this rule.
    assert (
        _run(four_standing, [{"id": "c30", "kind": "crowd", "min_people": 4, "min_seconds": 30}], EVERYWHERE)
        == []
    )
    # Only the top two tiles in the zone: two people, not four.
    top = [[0, 0], [1, 0], [1, 0.5], [0, 0.5]]
    assert _run(four_standing, [{"id": "c4", "kind": "crowd", "min_people": 4, "min_seconds": 6}], top) == []
    assert (
        len(_run(four_standing, [{"id": "c2", "kind": "crowd", "min_people": 2, "min_seconds": 6}], top)) == 1
    )


def test_intrusion_fires_when_the_first_person_enters(room: Recorded) -> None:
    # The floor in the middle of the room; the schedule is the night, and it is 22:30.
    middle = [[0.3, 0.6], [0.8, 0.6], [0.8, 1.0], [0.3, 1.0]]
    rule = {
        "id": "night",
        "kind": "intrusion",
        "schedule": [{"start": "22:00", "end": "06:00"}],
        "category": "0901",
    }
    firings = _run(room, [rule], middle, clock=EVENING)
    assert [(f.kind, f.label, f.category) for f in firings] == [("intrusion", "person", "0901")]
    assert 6.5 <= firings[0].t <= 9  # the empty room gave nothing for 6.5 s
    # At noon the same rule is off; a zone by the door (left) never sees anyone stand in it.
    assert _run(room, [rule], middle, clock=NOON) == []
    door = [[0.0, 0.0], [0.25, 0.0], [0.25, 1.0], [0.0, 1.0]]
    assert _run(room, [{**rule, "schedule": []}], door) == []


def test_parking_does_not_fire_on_passing_traffic(bikes: Path, ssd: Any) -> None:
    # bikes.mp4: cyclists, pedestrians and cars pass a street for 10 s. A six-second stay in any part
    # of the picture would be a parked vehicle; nothing there stays that long.
    recorded = _record(list(_sampled(bikes, 10.0)), ssd)
    assert any(d.label in {"car", "bus", "truck"} for ds in recorded.detector.by_image.values() for d in ds)
    assert (
        _run(recorded, [{"id": "p", "kind": "parking", "min_minutes": 0.1, "min_score": 0.4}], EVERYWHERE)
        == []
    )
    # The pipeline is not simply blind here: the same traffic makes a zero-second intrusion fire.
    anything = {
        "id": "i",
        "kind": "intrusion",
        "classes": ["car", "bus", "truck", "person", "bicycle"],
        "min_score": 0.4,
    }
    assert _run(recorded, [anything], EVERYWHERE)
