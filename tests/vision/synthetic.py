"""Drawn scenes with exact ground truth for the engine's tests.

A scene is a textured grey ground with coloured rectangles that appear, stand, move and leave at
known times; `ColourDetector` finds the rectangles by colour and names them (blue = car, green =
person, ...), so the tests know exactly what a perfect detector would report and when. Colours the
detector does not know (brown) play rubbish: only the debris model can see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

from shequ_vision.detect import Box, Detection
from shequ_vision.frames import Frame

W, H = 320, 240
# BGR; each far in brightness from the grey ground (120), since the motion gate compares grey levels.
COLOURS = {
    "car": (200, 60, 20),
    "person": (20, 100, 20),
    "truck": (30, 30, 220),
    "chair": (120, 0, 120),
}
BROWN = (30, 70, 120)  # rubbish: no detector class


def ground() -> np.ndarray:
    """A fixed, slightly textured grey: real ground has texture, and the ghost test reads edges."""
    rng = np.random.default_rng(7)
    noise = cv2.GaussianBlur(rng.normal(0, 12, (H, W)).astype(np.float32), (0, 0), 2)
    grey = np.clip(120 + noise, 0, 255).astype(np.uint8)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


@dataclass
class Thing:
    colour: tuple[int, int, int]
    box: Box | Callable[[float], Box]  # fractions, or a function of time (moving)
    start: float = 0.0
    end: float = float("inf")

    def box_at(self, t: float) -> Box | None:
        if not self.start <= t < self.end:
            return None
        return self.box(t) if callable(self.box) else self.box


def thing(
    label: str, box: Box | Callable[[float], Box], start: float = 0.0, end: float = float("inf")
) -> Thing:
    return Thing(COLOURS[label], box, start, end)


def walker(
    y: float, speed: float, start: float, size: tuple[float, float] = (0.05, 0.15)
) -> Callable[[float], Box]:
    """A box crossing left to right at `speed` image widths per second from time `start`."""

    def box(t: float) -> Box:
        x = -size[0] + speed * (t - start)
        return (x, y, x + size[0], y + size[1])

    return box


def render(things: list[Thing], t: float, base: np.ndarray | None = None) -> np.ndarray:
    image = (ground() if base is None else base).copy()
    for th in things:
        box = th.box_at(t)
        if box is None:
            continue
        x1, y1, x2, y2 = (round(v * s) for v, s in zip(box, (W, H, W, H), strict=True))
        cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), th.colour, -1)
    return image


def frames(
    things: list[Thing], seconds: float, fps: float = 1.0, wall: datetime | None = None
) -> Iterator[Frame]:
    base = ground()
    for i in range(round(seconds * fps)):
        t = i / fps
        stamp = None if wall is None else wall + timedelta(seconds=t)
        yield Frame(index=i, t=t, wall=stamp, image=render(things, t, base))


class ColourDetector:
    """Finds the scene's rectangles by colour. `blind` is a set of call numbers that return nothing
    (detector misses)."""

    name = "colour"

    def __init__(self, blind: set[int] | None = None, score: float = 0.9) -> None:
        self.calls = 0
        self.blind = blind or set()
        self.score = score

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        if self.calls in self.blind:
            return []
        h, w = image.shape[:2]
        found = []
        for label, colour in COLOURS.items():
            mask = cv2.inRange(image, np.subtract(colour, 12).clip(0), np.add(colour, 12).clip(max=255))
            count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            for i in range(1, count):
                x, y, bw, bh, area = (int(v) for v in stats[i])
                if area >= 20:
                    found.append(Detection(label, self.score, (x / w, y / h, (x + bw) / w, (y + bh) / h)))
        return found
