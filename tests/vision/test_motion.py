"""Motion gating on real footage: quiet frames of the empty room stay closed, a person walking in
opens the gate with a box where the person is; disabled gating is always open."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from shequ_vision.config import Motion
from shequ_vision.motion import MotionGate


def _frames(path: Path, indices: range) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    i = 0
    try:
        while i <= indices.stop:
            ok = cap.grab()
            assert ok
            if i in indices:
                out.append(cap.retrieve()[1])
            i += 1
    finally:
        cap.release()
    return out


def test_empty_room_is_quiet_and_a_person_entering_opens_the_gate(one_by_one: Path) -> None:
    gate = MotionGate(Motion())
    # Frames 0-40 (4 s at 10 fps): nobody there. The first frame primes the background.
    quiet = [gate.update(f) for f in _frames(one_by_one, range(0, 40, 2))]
    assert quiet[0].active
    assert not any(r.active for r in quiet[1:]), [r.fraction for r in quiet]
    assert max(r.fraction for r in quiet[1:]) < 0.001


def test_person_walking_in_is_motion_at_the_person(one_by_one: Path) -> None:
    gate = MotionGate(Motion())
    frames = _frames(one_by_one, range(0, 120, 5))
    results = [gate.update(f) for f in frames]
    active = [i for i, r in enumerate(results[1:], 1) if r.active]
    assert active, "somebody walks in during the first 12 seconds"
    # Where there is motion, its boxes overlap the person the detector sees in the middle.
    boxes = [b for i in active for b in results[i].boxes]
    assert any(x1 < 0.7 and x2 > 0.45 for x1, _, x2, _ in boxes)


def test_disabled_gate_is_always_open() -> None:
    gate = MotionGate(Motion(enabled=False))
    still = np.zeros((100, 200, 3), np.uint8)
    assert all(gate.update(still).active for _ in range(3))


def test_threshold_and_min_area_on_an_exact_sequence() -> None:
    gate = MotionGate(Motion(threshold=25, min_area=0.01, scale=200))
    base = np.full((100, 200, 3), 100, np.uint8)
    gate.update(base)
    assert not gate.update(base).active
    faint = base.copy()
    faint[20:60, 20:80] = 110  # 10 grey levels: below the threshold
    assert not gate.update(faint).active
    tiny = base.copy()
    tiny[10:13, 10:13] = 250  # 9 px of 20,000: below min_area even after dilation
    assert not gate.update(tiny).active
    block = base.copy()
    block[50:90, 100:180] = 250
    r = gate.update(block)
    assert r.active and len(r.boxes) == 1
    x1, y1, x2, y2 = r.boxes[0]
    assert 0.45 < x1 <= 0.5 and 0.9 <= x2 < 0.95 and 0.4 < y1 <= 0.5 and 0.9 <= y2 <= 1.0
