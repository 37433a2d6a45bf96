"""New objects between two photos of the same place from different patrols (dumped rubbish, stalls).

1. Register: the footprints give a first homography (`after` pixel -> ground -> `before` pixel);
   ORB features matched across the photos and RANSAC give the exact one, which must agree with
   the footprints' (GPS and heading are good to metres, so a registration far from them is a
   false match and is refused).
2. Warp `before` onto `after`; normalise colour (per-channel mean and spread of L*a*b* over the
   overlap) so a sunnier or duller day is not a change.
3. Difference that forgives a misregistration of a few pixels: each pixel of `after` is compared
   with the range of `before` in a small window around it.
4. Threshold against the photo pair's own noise, morphological opening and closing, connected
   components; keep those whose ground area is at least `min_area_m2` and whose outline is
   sharper in `after` than in `before` (an object that appeared, not one that went away).

No Django import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .aerial import Footprint, PhotoError

WORK_GSD_M = 0.15  # ground metres per pixel the comparison runs at (coarser: texture and JPEG noise fade)
MAX_SEED_DISAGREEMENT_M = 25.0
LOCAL_LIGHT_M = 6.0
MIN_CONTRAST = 20.0  # L*a*b* units
CLUTTER_WEIGHT = 1.0  # feature registration vs footprints: GPS + heading error budget


@dataclass(frozen=True)
class Change:
    box: tuple[float, float, float, float]  # image fractions (x1, y1, x2, y2) in AFTER
    lon: float
    lat: float
    area_m2: float
    score: float  # 0..1: how far the difference stands above the pair's noise


def _image(data: bytes | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data if data.ndim == 3 else cv2.cvtColor(data, cv2.COLOR_GRAY2BGR)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # applies EXIF orientation
    if image is None:
        raise PhotoError("photo", "无法解码照片，不能比对")
    return image


def _work_size(image: np.ndarray, gsd_m: float) -> np.ndarray:
    h, w = image.shape[:2]
    k = min(1.0, gsd_m / WORK_GSD_M)
    return (
        image if k == 1.0 else cv2.resize(image, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    )


def _seed(
    before_fp: Footprint, after_fp: Footprint, bsize: tuple[int, int], asize: tuple[int, int]
) -> np.ndarray:
    """Homography after-pixels -> before-pixels implied by the two footprints (flat ground)."""
    g = np.linspace(0.05, 0.95, 5)
    ax, ay = (a.ravel() for a in np.meshgrid(g, g))
    lon, lat = after_fp.to_ground_many(ax, ay)
    bx, by = before_fp.to_image_many(lon, lat)
    ok = np.isfinite(bx) & np.isfinite(by)
    if ok.sum() < 4:
        raise PhotoError("registration", "两张照片的地面范围不重叠，不能比对")
    src = np.column_stack([ax[ok] * asize[0], ay[ok] * asize[1]]).astype(np.float32)
    dst = np.column_stack([bx[ok] * bsize[0], by[ok] * bsize[1]]).astype(np.float32)
    h, _ = cv2.findHomography(src, dst, 0)
    if h is None:
        raise PhotoError("registration", "两张照片的地面范围不重叠，不能比对")
    return np.asarray(h)


def register(before: np.ndarray, after: np.ndarray, seed: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Homography AFTER pixels -> BEFORE pixels from ORB matches and RANSAC, and its inlier count."""
    orb = cv2.ORB_create(nfeatures=5000, fastThreshold=10)
    ga, gb = (cv2.cvtColor(i, cv2.COLOR_BGR2GRAY) for i in (after, before))
    ka, da = orb.detectAndCompute(ga, None)
    kb, db = orb.detectAndCompute(gb, None)
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        raise PhotoError("registration", "照片纹理太少，无法配准")
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    pa = np.float32([ka[m.queryIdx].pt for m in matches])
    pb = np.float32([kb[m.trainIdx].pt for m in matches])
    if seed is not None and len(pa):
        # Matches far from where the footprints put them are false (repeated texture).
        guess = cv2.perspectiveTransform(pa.reshape(-1, 1, 2), seed).reshape(-1, 2)
        near = np.linalg.norm(guess - pb, axis=1) < 0.25 * max(after.shape[:2])
        pa, pb = pa[near], pb[near]
    if len(pa) < 12:
        raise PhotoError("registration", "两张照片匹配的特征点太少，无法配准")
    h, mask = cv2.findHomography(pa, pb, cv2.RANSAC, 3.0, maxIters=5000, confidence=0.999)
    inliers = int(mask.sum()) if mask is not None else 0
    if h is None or inliers < 12:
        raise PhotoError("registration", "两张照片无法配准（没有一致的几何关系）")
    # Refit on the inliers with a tighter threshold: sub-pixel agreement keeps the difference clean.
    keep = mask.ravel() == 1
    h2, mask2 = cv2.findHomography(pa[keep], pb[keep], cv2.RANSAC, 1.5)
    if h2 is not None and int(mask2.sum()) >= 12:
        h, inliers = h2, int(mask2.sum())
    return np.asarray(h), inliers


def compare(
    before: bytes | np.ndarray,
    before_fp: Footprint,
    after: bytes | np.ndarray,
    after_fp: Footprint,
    *,
    min_area_m2: float = 0.5,
    max_area_m2: float = 400.0,
    tolerance_m: float = 0.6,
) -> list[Change]:
    """Objects present in `after` and not in `before`, largest first. Raises PhotoError (field
    "registration") when the photos do not overlap or cannot be registered."""
    b_full, a_full = _image(before), _image(after)
    b, a = _work_size(b_full, before_fp.gsd_m), _work_size(a_full, after_fp.gsd_m)
    ah, aw = a.shape[:2]
    bh, bw = b.shape[:2]
    seed = _seed(before_fp, after_fp, (bw, bh), (aw, ah))
    h, _ = register(b, a, seed)
    # The feature registration must agree with the footprints within the GPS/heading error budget.
    gsd = after_fp.gsd_m * a_full.shape[1] / aw  # metres per working pixel
    probe = np.float32([[aw * x, ah * y] for x in (0.25, 0.5, 0.75) for y in (0.25, 0.5, 0.75)]).reshape(
        -1, 1, 2
    )
    off_px = np.linalg.norm(
        cv2.perspectiveTransform(probe, h) - cv2.perspectiveTransform(probe, seed), axis=2
    )
    if float(np.median(off_px)) * gsd > MAX_SEED_DISAGREEMENT_M:
        raise PhotoError("registration", "特征配准结果与 GPS 位置相差过大，可能不是同一地点")

    # Before, seen from after's viewpoint; `valid` is the overlap, away from the warped border.
    warped = cv2.warpPerspective(b, h, (aw, ah), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    valid = cv2.warpPerspective(
        np.full((bh, bw), 255, np.uint8), h, (aw, ah), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    )
    valid = cv2.erode(valid, np.ones((15, 15), np.uint8)) > 0
    if valid.mean() < 0.02:
        raise PhotoError("registration", "两张照片的重叠部分太小，不能比对")

    lab_a = cv2.cvtColor(cv2.GaussianBlur(a, (0, 0), 1.0), cv2.COLOR_BGR2LAB).astype(np.float32)
    lab_b = cv2.cvtColor(cv2.GaussianBlur(warped, (0, 0), 1.0), cv2.COLOR_BGR2LAB).astype(np.float32)
    # Match local brightness and colour (vignetting, sun, white balance) on a scale of metres,
    # far larger than the objects sought, so that they do not shift their own background.
    sigma = LOCAL_LIGHT_M / gsd
    v = valid.astype(np.float32)
    support = cv2.GaussianBlur(v, (0, 0), sigma)[..., None] + 1e-6
    lab_b += (
        cv2.GaussianBlur(lab_a * v[..., None], (0, 0), sigma)
        - cv2.GaussianBlur(lab_b * v[..., None], (0, 0), sigma)
    ) / support
    # Lightness counts half: shadows move between patrols, colour is what a new object brings.
    weight = np.array([0.5, 1.0, 1.0], np.float32)
    r = max(1, round(tolerance_m / gsd))
    kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    excess = np.zeros((ah, aw), np.float32)
    spread = np.zeros((ah, aw), np.float32)
    for c in range(3):
        hi, lo = cv2.dilate(lab_b[..., c], kernel), cv2.erode(lab_b[..., c], kernel)
        d = np.maximum(0.0, np.maximum(lab_a[..., c] - hi, lo - lab_a[..., c])) * weight[c]
        excess += d * d
        spread += ((hi - lo) * weight[c]) ** 2
    diff = np.sqrt(excess)
    diff[~valid] = 0.0
    # Busy ground (foliage, tall things that shift between viewpoints) must differ by more than
    # its own local contrast; quiet ground (road, lawn, pavement) by the pair's noise floor.
    clutter = cv2.blur(np.sqrt(spread), (2 * r + 1, 2 * r + 1))
    values = diff[valid]
    noise = float(np.median(values) + 1.4826 * np.median(np.abs(values - np.median(values))))
    threshold = max(MIN_CONTRAST, 4.0 * noise)
    mask = (diff > threshold + CLUTTER_WEIGHT * clutter).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))

    grad_a = _gradient(lab_a[..., 0])
    grad_b = _gradient(lab_b[..., 0])
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found: list[Change] = []
    px_area = gsd * gsd
    for i in range(1, count):
        x, y, w, hgt, n = (int(v) for v in stats[i])
        area = n * px_area
        if not (min_area_m2 <= area <= max_area_m2):
            continue
        blob = labels[y : y + hgt, x : x + w] == i
        # The object's outline: sharper in after than in before when it appeared there.
        pad = 3
        y0, y1, x0, x1 = max(0, y - pad), min(ah, y + hgt + pad), max(0, x - pad), min(aw, x + w + pad)
        region = (labels[y0:y1, x0:x1] == i).astype(np.uint8)
        ring = cv2.dilate(region, np.ones((5, 5), np.uint8)) - cv2.erode(region, np.ones((3, 3), np.uint8))
        ring_mask = ring > 0
        edge_a = float(grad_a[y0:y1, x0:x1][ring_mask].mean())
        edge_b = float(grad_b[y0:y1, x0:x1][ring_mask].mean())
        if edge_a < edge_b:
            continue
        strength = float(diff[y : y + hgt, x : x + w][blob].mean())
        cx, cy = centroids[i]
        lon, lat = after_fp.to_ground(float(cx) / aw, float(cy) / ah)
        found.append(
            Change(
                box=(x / aw, y / ah, (x + w) / aw, (y + hgt) / ah),
                lon=lon,
                lat=lat,
                area_m2=round(area, 2),
                score=round(1.0 - math.exp(-(strength - threshold) / threshold), 3),
            )
        )
    found.sort(key=lambda c: -c.area_m2)
    return found


def _gradient(channel: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(channel, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(channel, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(cv2.magnitude(gx, gy))
