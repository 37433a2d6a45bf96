"""Static-region model for dumped rubbish and piled debris (rule kind "debris").

Debris is not a detector class, so it is found as a change to the scene that stays. The method is
the classic dual-background one (Porikli, Ivanov & Haga 2008, "Robust abandoned object detection
using dual foregrounds"), on a small blurred copy of the frame (160 px wide):

- a SHORT-term background follows the scene within seconds (time constant `short_tau`);
- a LONG-term background follows only slow drift (`long_tau`), and is frozen wherever the frame
  differs from it, and under tracked people and vehicles.

A pixel that differs from the long-term background but no longer from the short-term one belongs
to something that changed and then stood still: a static candidate. Connected candidate pixels
form regions; tracked people and vehicles are masked out (a parked car is the parking rule's, a
standing person is nobody's debris). A region's age is counted from the moment its pixels first
differed from the long-term background, so `min_minutes` is measured from the change itself.

Ghost rejection. A static change also appears where something that had been in the scene LEFT:
the exposed ground differs from the long-term background too. Because the long-term background is
frozen under a change, it still holds the scene as it was BEFORE the change, so the two cases can
be told apart by comparing the region in the current frame with the region in that old picture:

- boundary edges: an object that arrived brings its outline, so the gradient along the region's
  boundary is stronger now than before; when an object left, the outline was in the old picture;
- contrast with the surroundings: an arrived object differs from the ring of pixels around it now,
  while before the region looked like its surroundings; exposed ground looks like its surroundings.

Each cue is a normalised difference in [-1, 1] (now minus before); their mean is the region's
`score`. Above +0.1 the region is "added" (a debris candidate); below -0.1 it is a ghost: its
pixels are copied into the long-term background at once, so the ghost heals and can never fire.
A region that stays changed longer than `absorb_after` seconds is absorbed as well (a new bench
becomes part of the scene; a debris alert for it was raised long before).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .detect import Box


@dataclass(eq=False)
class StaticRegion:
    id: int
    box: Box  # image fractions
    area: float  # fraction of the image
    first_t: float  # when its pixels began to differ from the long-term background (median)
    last_t: float  # last update that saw it
    score: float  # ghost test: > 0 something arrived, < 0 something left

    @property
    def added(self) -> bool:
        return self.score > 0.1

    def age(self, t: float) -> float:
        return t - self.first_t


def _box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _max_channel(diff: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])


def _normalised(now: float, before: float) -> float:
    return (now - before) / (now + before + 1e-6)


class StaticModel:
    def __init__(
        self,
        *,
        width: int = 160,
        threshold: float = 30.0,
        short_tau: float = 8.0,
        long_tau: float = 120.0,
        absorb_after: float = 3600.0,
        min_pixels: int = 12,
        forget_after: float = 30.0,
    ) -> None:
        self.width = width
        self.threshold = threshold
        self.short_tau = short_tau
        self.long_tau = long_tau
        self.absorb_after = absorb_after
        self.min_pixels = min_pixels
        self.forget_after = forget_after
        self.regions: list[StaticRegion] = []
        self.ghosts = 0  # regions rejected as ghosts (for tests and diagnostics)
        self._long: np.ndarray | None = None
        self._short: np.ndarray | None = None
        self._since: np.ndarray | None = None  # per pixel: when it began to differ (NaN: it does not)
        self._t = 0.0
        self._next_id = 1

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        height = max(1, round(h * self.width / w))
        small = cv2.resize(image, (self.width, height), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)

    def reset(self, small: np.ndarray, t: float) -> None:
        self._long = small.copy()
        self._short = small.copy()
        self._since = np.full(small.shape[:2], np.nan, np.float32)
        self.regions = []
        self._t = t

    def update(self, image: np.ndarray, t: float, occupied: Sequence[Box] = ()) -> list[StaticRegion]:
        """Feed one frame (BGR) at time `t`; `occupied` are boxes of tracked people and vehicles."""
        small = self._prepare(image)
        if (
            self._long is None
            or self._short is None
            or self._since is None
            or small.shape != self._long.shape
        ):
            self.reset(small, t)
            return []
        h, w = small.shape[:2]
        dt = max(0.0, t - self._t)
        self._t = t
        fg_long = _max_channel(cv2.absdiff(small, self._long)) > self.threshold
        if fg_long.mean() > 0.5:
            # Half the picture changed at once: lights, the sun, a moved camera. Not debris; start over.
            self.reset(small, t)
            return []
        fg_short = _max_channel(cv2.absdiff(small, self._short)) > self.threshold
        occupied_mask = np.zeros((h, w), bool)
        for x1, y1, x2, y2 in occupied:
            occupied_mask[int(y1 * h) : int(np.ceil(y2 * h)), int(x1 * w) : int(np.ceil(x2 * w))] = True

        since = self._since
        since[~fg_long] = np.nan
        since[fg_long & np.isnan(since)] = t
        cv2.accumulateWeighted(small, self._short, float(1 - np.exp(-dt / self.short_tau)))
        learn = (~fg_long & ~occupied_mask).astype(np.uint8)
        cv2.accumulateWeighted(small, self._long, float(1 - np.exp(-dt / self.long_tau)), mask=learn)
        stale = fg_long & (t - np.nan_to_num(since, nan=t) > self.absorb_after)
        if stale.any():
            self._heal(stale, small)

        candidate: np.ndarray = (fg_long & ~fg_short & ~occupied_mask).astype(np.uint8)
        candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        candidate = cv2.morphologyEx(candidate, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
        seen: list[StaticRegion] = []
        for label in range(1, count):
            x, y, bw, bh, pixels = (int(v) for v in stats[label])
            if pixels < self.min_pixels:
                continue
            mask = labels == label
            box: Box = (x / w, y / h, (x + bw) / w, (y + bh) / h)
            first = float(np.nanmedian(since[mask])) if np.isfinite(since[mask]).any() else t
            score = self._ghost_score(mask, small)
            region = max(self.regions, key=lambda r: _box_iou(r.box, box), default=None)
            if region is None or region in seen or _box_iou(region.box, box) < 0.3:
                region = StaticRegion(self._next_id, box, pixels / (w * h), first, t, score)
                self._next_id += 1
                self.regions.append(region)
            region.box, region.area, region.last_t, region.score = box, pixels / (w * h), t, score
            region.first_t = min(region.first_t, first)
            seen.append(region)
            if score < -0.1:
                # A ghost: the scene behind something that left. Heal the background at once.
                self._heal(mask, small)
                self.ghosts += 1
                self.regions.remove(region)
                seen.remove(region)
        self.regions = [r for r in self.regions if r in seen or t - r.last_t <= self.forget_after]
        return [r for r in self.regions if r in seen]

    def _heal(self, mask: np.ndarray, small: np.ndarray) -> None:
        assert self._long is not None and self._short is not None and self._since is not None
        self._long[mask] = small[mask]
        self._short[mask] = small[mask]
        self._since[mask] = np.nan

    def _ghost_score(self, mask: np.ndarray, small: np.ndarray) -> float:
        """Mean of the edge cue and the contrast cue (see the module docstring): > 0 arrived."""
        assert self._long is not None
        m = mask.astype(np.uint8)
        kernel = np.ones((3, 3), np.uint8)
        band = (cv2.dilate(m, kernel) - cv2.erode(m, kernel)).astype(bool)
        ring = (cv2.dilate(m, kernel, iterations=3) - cv2.dilate(m, kernel)).astype(bool)
        if not band.any() or not ring.any():
            return 0.0

        def edges(img: np.ndarray) -> float:
            grey = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
            gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
            gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
            return float(np.hypot(gx, gy)[band].mean())

        def contrast(img: np.ndarray) -> float:
            return float(np.linalg.norm(img[mask].mean(axis=0) - img[ring].mean(axis=0)))

        edge_cue = _normalised(edges(small), edges(self._long))
        contrast_cue = _normalised(contrast(small), contrast(self._long))
        return (edge_cue + contrast_cue) / 2
