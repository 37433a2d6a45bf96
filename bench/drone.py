"""Benchmark drone photo analysis on one CPU core: photos per second through

- read + footprint (full decode, EXIF/XMP, camera pose, ground footprint);
- detection alone (SSD-MobileNet-v2 on an already decoded photo);
- read + footprint + detection + projection (`analyse_photo`, one decode);

on the real DJI photos (2400x1800 JPEG), repeated. Pinned to one core with OpenCV at one thread;
CPU time of this process (process_time), the best of three runs.
    .venv/bin/python bench/drone.py [--photos 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from shequ_vision.aerial import analyse_photo, footprint, read_photo
from shequ_vision.detect import SsdMobileNet

ROOT = Path(__file__).resolve().parent.parent
MEDIA = Path(os.environ.get("SHEQU_SHARED_MEDIA", ROOT.parent / "shared" / "media"))


def per_photo(fn, items) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for item in items:
            fn(item)
        best = min(best, (time.process_time() - t) / len(items))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=20, help="photos per run (the two real ones, repeated)")
    args = parser.parse_args()
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    print(f"pinned to CPU {core}; OpenCV {cv2.__version__}, {cv2.getNumThreads()} thread")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    real = [(MEDIA / n).read_bytes() for n in ("DJI_0061.JPG", "DJI_0062.JPG")]
    photos = [real[i % 2] for i in range(args.photos)]
    detector = SsdMobileNet()
    images = [cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR) for d in real]
    detector.detect(images[0])  # the first call allocates

    read_fp = per_photo(lambda d: footprint(read_photo(d, heading=272.0)), photos)
    detect = per_photo(detector.detect, [images[i % 2] for i in range(args.photos)])
    full = per_photo(lambda d: analyse_photo(d, detector, heading=272.0), photos)
    print(f"\n{len(photos)} photos of 2400x1800 (DJI FC350), best of 3 runs, one core")
    print(f"{'stage':<44} {'ms/photo':>9} {'photos/s':>9} {'vs detect':>10}")
    for name, s in (
        ("read + footprint", read_fp),
        ("detection alone (decoded image)", detect),
        ("read + footprint + detection + projection", full),
    ):
        print(f"{name:<44} {s * 1000:>9.1f} {1 / s:>9.1f} {s / detect:>9.2f}x")
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
