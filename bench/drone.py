"""Benchmark drone photo analysis on one CPU core: photos per second through

- read + footprint (full decode, EXIF/XMP, camera pose, ground footprint);
- detection alone (SSD-MobileNet-v2 on an already decoded photo): on the whole photo, and on 640-px
  tiles overlapping by a fifth (`aerial.detect_tiled`, what the platform runs: from 120 m a person
  is ~20 px tall and the whole photo shrunk to the detector's 300-px input shows nothing);
- the full path, read + footprint + detection + projection (`aerial.analyse_photo`, one decode),
  whole photo and tiled;

on the real DJI photos (2400x1800 JPEG), repeated; all stages measured in the same run, so the
ratios compare like with like. Pinned to one core with OpenCV at one thread; CPU time of this
process (process_time), the best of the runs.
    .venv/bin/python bench/drone.py [--photos 10] [--tiled-photos 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from shequ_vision.aerial import analyse_photo, detect_tiled, footprint, read_photo
from shequ_vision.detect import SsdMobileNet

ROOT = Path(__file__).resolve().parent.parent
MEDIA = Path(os.environ.get("SHEQU_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
TILE_PX, OVERLAP = 640, 0.2
HEADING = 272.0  # the real pair's flight line (the photos carry no heading)


def per_photo(fn: Callable[[Any], object], items: Sequence[Any], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.process_time()
        for item in items:
            fn(item)
        best = min(best, (time.process_time() - t) / len(items))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=10, help="photos per run, whole-photo stages")
    parser.add_argument("--tiled-photos", type=int, default=4, help="photos per run, tiled stages")
    parser.add_argument("--runs", type=int, default=3, help="runs per stage (the best counts)")
    args = parser.parse_args()
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    print(f"pinned to CPU {core}; OpenCV {cv2.__version__}, {cv2.getNumThreads()} thread")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    real = [(MEDIA / n).read_bytes() for n in ("DJI_0061.JPG", "DJI_0062.JPG")]
    photos = [real[i % 2] for i in range(args.photos)]
    tiled_photos = [real[i % 2] for i in range(args.tiled_photos)]
    detector = SsdMobileNet()
    decoded = [np.asarray(cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)) for d in real]
    images = [decoded[i % 2] for i in range(args.photos)]
    tiled_images = [decoded[i % 2] for i in range(args.tiled_photos)]
    detector.detect(decoded[0])  # the first call allocates
    tiles = len(detect_tiles(decoded[0].shape[:2]))

    runs = args.runs
    stages = {
        "read + footprint": per_photo(lambda d: footprint(read_photo(d, heading=HEADING)), photos, runs),
        "detection alone, whole photo": per_photo(detector.detect, images, runs),
        f"detection alone, {tiles} tiles of {TILE_PX} px": per_photo(
            lambda im: detect_tiled(im, detector, TILE_PX, OVERLAP), tiled_images, runs
        ),
        "full path, whole photo": per_photo(
            lambda d: analyse_photo(d, detector, heading=HEADING), photos, runs
        ),
        "full path, tiled (as the platform runs)": per_photo(
            lambda d: analyse_photo(d, detector, tile_px=TILE_PX, overlap=OVERLAP, heading=HEADING),
            tiled_photos,
            runs,
        ),
    }
    read_fp = stages["read + footprint"]
    whole = stages["detection alone, whole photo"]
    tiled = stages[f"detection alone, {tiles} tiles of {TILE_PX} px"]
    print(
        f"\n2400x1800 photos (DJI FC350); best of {runs} runs; {args.photos} photos a run "
        f"({args.tiled_photos} tiled); one core"
    )
    print(f"{'stage':<44} {'ms/photo':>9} {'photos/s':>9} {'vs detect':>10}")
    for name, s in stages.items():
        ref = tiled if "tile" in name else whole
        print(f"{name:<44} {s * 1000:>9.1f} {1 / s:>9.2f} {s / ref:>9.2f}x")
    for label, full, det in (
        ("whole photo", stages["full path, whole photo"], whole),
        ("tiled", stages["full path, tiled (as the platform runs)"], tiled),
    ):
        rest = full - det - read_fp
        print(
            f"full path, {label}: read+footprint {read_fp * 1000:.1f} + detection {det * 1000:.1f} "
            f"+ rest (pixels to BGR, projection) {rest * 1000:.1f} ms"
        )
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


def detect_tiles(shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """The tiles detect_tiled runs on a photo of this shape (for the label)."""
    from shequ_vision.aerial import _starts

    h, w = shape[:2]
    return [(x, y) for y in _starts(h, TILE_PX, OVERLAP) for x in _starts(w, TILE_PX, OVERLAP)]


if __name__ == "__main__":
    main()
