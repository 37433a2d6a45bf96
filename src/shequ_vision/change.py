"""New objects between two photos of the same place from different patrols (dumped rubbish, stalls).

1. Register at a coarse resolution (REGISTER_GSD_M): the footprints give a first homography
   (`after` pixel -> ground -> `before` pixel); ORB features matched across the photos and RANSAC
   give the exact one, which must agree with the footprints' (GPS and heading are good to metres,
   so a registration far from them is a false match and is refused). One homography holds for
   one plane and a lens without distortion: the rest is a smooth residual field from dense
   optical flow, its median over cells of RESIDUAL_CELL_M (larger than any object sought).
2. Candidates at a working resolution (WORK_GSD_M): `before` warped onto `after`, local colour
   and light matched on a scale of metres (sun, white balance, vignetting), a difference that
   forgives a misregistration of a few pixels (each pixel of `after` against the range of
   `before` in a small window around it), thresholded against the pair's own noise and the local
   clutter; connected regions of at least `min_area_m2`, compact (not the sliver along an edge
   that parallax or a moved shadow leaves), whose outline is sharper in `after` than in `before`
   (an object that appeared, not one that went away).
3. Verify each candidate at full resolution: a roof or a tree top stands above the ground the
   homography registers, so from two camera positions it lands up to `baseline * height /
   (altitude - height)` apart (parallax), along the line between the two camera positions
   (ParallaxSearch: that segment, widened by GPS and registration error). A candidate whose patch
   of `after` matches a patch of `before` there (normalised cross-correlation in colour) is
   something that was already there, seen from elsewhere; only a candidate that matches nothing
   is a change. Where that search reaches outside `before` (the edge of the overlap) nothing can
   be told new, and nothing is reported: a missed change costs less than operators drowned in
   false ones.

No Django import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from shequ.core.geo import distance_m

from .aerial import Footprint, PhotoError

Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]

REGISTER_GSD_M = 0.3  # ground metres per pixel for feature registration
WORK_GSD_M = 0.15  # ... for the candidate search (coarser: texture and JPEG noise fade)
VERIFY_GSD_M = 0.06  # finest ground resolution candidates are verified at (full resolution above it)
RESIDUAL_CELL_M = 8.0  # scale of the residual registration field: larger than any object sought
MAX_SEED_DISAGREEMENT_M = 25.0  # feature registration vs footprints: GPS + heading error budget
LOCAL_LIGHT_M = 6.0
MIN_CONTRAST = 20.0  # L*a*b* units
CLUTTER_WEIGHT = 1.0
MAX_OBJECT_HEIGHT_M = 30.0  # tallest thing whose parallax is forgiven (trees, a few storeys)
GPS_ERROR_M = 5.0  # in each camera position: widens the parallax search (direction and length)
MIN_SEARCH_M = 2.0  # search tolerance at the least (a repeat patrol from the same waypoint)
# A candidate's patch matching `before` this well where parallax allows was there already. On the
# real pair: parallax of roofs and trees 0.68..0.98; a pasted 1.5 m x 1 m object 0.34..0.59.
MATCH_NCC = 0.62
MARGIN_M = 1.0  # context around a candidate in its verification patch (at least; a quarter of its size)
MIN_COMPACTNESS = 0.35  # region area / its minimum-area rectangle's: parallax slivers fall below
MIN_WIDTH_M = 0.4  # narrower regions are edges, wires, shadows' rims


@dataclass(frozen=True)
class Change:
    box: tuple[float, float, float, float]  # image fractions (x1, y1, x2, y2) in AFTER
    lon: float
    lat: float
    area_m2: float
    score: float  # 0..1: how far the difference stands above the pair's noise


def _image(data: bytes | np.ndarray) -> Image:
    if isinstance(data, np.ndarray):
        image = data if data.ndim == 3 else cv2.cvtColor(data, cv2.COLOR_GRAY2BGR)
        return cast(Image, np.ascontiguousarray(image, dtype=np.uint8))
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # applies EXIF orientation
    if decoded is None:
        raise PhotoError("photo", "无法解码照片，不能比对")
    return cast(Image, decoded)


def _scaled(image: Image, k: float) -> Image:
    if k >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * k)), max(1, round(h * k)))
    return cast(Image, cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def _scale(kx: float, ky: float) -> npt.NDArray[np.float64]:
    return np.array([[kx, 0.0, 0.0], [0.0, ky, 0.0], [0.0, 0.0, 1.0]])


def _seed(
    before_fp: Footprint, after_fp: Footprint, bsize: tuple[int, int], asize: tuple[int, int]
) -> npt.NDArray[np.float64]:
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
    return np.asarray(h, np.float64)


def _transform(points: npt.NDArray[Any], h: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    pts = np.asarray(points, np.float32).reshape(-1, 1, 2)
    return np.asarray(cv2.perspectiveTransform(pts, h), np.float32).reshape(-1, 2)


def register(
    before: np.ndarray, after: np.ndarray, seed: npt.NDArray[np.float64] | None = None
) -> tuple[npt.NDArray[np.float64], int]:
    """Homography AFTER pixels -> BEFORE pixels from ORB matches and RANSAC, and its inlier count."""
    orb = cv2.ORB.create(nfeatures=2500, fastThreshold=10)
    ga, gb = (cv2.cvtColor(i, cv2.COLOR_BGR2GRAY) if i.ndim == 3 else i for i in (after, before))
    ka, da = orb.detectAndCompute(ga, None)
    kb, db = orb.detectAndCompute(gb, None)
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        raise PhotoError("registration", "照片纹理太少，无法配准")
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    pa = np.array([ka[m.queryIdx].pt for m in matches], np.float32).reshape(-1, 2)
    pb = np.array([kb[m.trainIdx].pt for m in matches], np.float32).reshape(-1, 2)
    if seed is not None and len(pa):
        # Matches far from where the footprints put them are false (repeated texture).
        near = np.linalg.norm(_transform(pa, seed) - pb, axis=1) < 0.25 * max(after.shape[:2])
        pa, pb = pa[near], pb[near]
    if len(pa) < 12:
        raise PhotoError("registration", "两张照片匹配的特征点太少，无法配准")
    h, mask = cv2.findHomography(pa, pb, cv2.RANSAC, 2.0, maxIters=5000, confidence=0.999)
    inliers = int(mask.sum()) if mask is not None else 0
    if h is None or inliers < 12:
        raise PhotoError("registration", "两张照片无法配准（没有一致的几何关系）")
    # Refit on the inliers with a tighter threshold: sub-pixel agreement keeps the difference clean.
    keep = mask.ravel() == 1
    h2, mask2 = cv2.findHomography(pa[keep], pb[keep], cv2.RANSAC, 1.0)
    if h2 is not None and int(mask2.sum()) >= 12:
        h, inliers = h2, int(mask2.sum())
    return np.asarray(h, np.float64), inliers


def _local_mean(image: Floats, weight: Floats, sigma: float) -> Floats:
    """Weighted Gaussian mean over `sigma` pixels, computed on a pyramid level (a blur tens of
    pixels wide at full size costs seconds; its result is smooth anyway)."""
    h, w = weight.shape
    k = max(1, int(sigma / 4))
    small = (max(1, w // k), max(1, h // k))
    num = cv2.resize(image * weight[..., None], small, interpolation=cv2.INTER_AREA)
    den = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
    num = cv2.GaussianBlur(num, (0, 0), sigma / k)
    den = cv2.GaussianBlur(den, (0, 0), sigma / k)[..., None]
    mean = np.asarray(num / (den + 1e-6), np.float32)
    return cast(Floats, cv2.resize(mean, (w, h), interpolation=cv2.INTER_LINEAR))


def _gradient(channel: Floats) -> Floats:
    gx = cv2.Sobel(channel, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(channel, cv2.CV_32F, 0, 1, ksize=3)
    return cast(Floats, cv2.magnitude(gx, gy))


@dataclass(frozen=True)
class ParallaxSearch:
    """Where BEFORE may show a thing of AFTER, relative to where the ground registration puts it.
    A point `h` metres above the ground, seen from camera positions A (after) and B (before) at
    `alt` metres, appears (A - B) * h / (alt - h) further along in BEFORE: from 0 (on the ground)
    to `reach` (at MAX_OBJECT_HEIGHT_M), along the baseline; `tolerance_m` either side of that
    segment covers GPS error in the baseline and misregistration."""

    reach: tuple[float, float]  # metres east-of-image-x, south-of-image-y: in AFTER's pixel axes
    tolerance_m: float

    @property
    def radius_m(self) -> float:
        return math.hypot(*self.reach) + self.tolerance_m


def parallax_search(before_fp: Footprint, after_fp: Footprint, size: tuple[int, int]) -> ParallaxSearch:
    """The search for a photo pair; `size` is AFTER's (width, height) in pixels."""
    altitude = min(before_fp.alt_m, after_fp.alt_m) or 100.0
    k = MAX_OBJECT_HEIGHT_M / max(altitude - MAX_OBJECT_HEIGHT_M, 0.25 * altitude)
    # The two camera positions in AFTER's image, in metres along its axes.
    xs, ys = after_fp.to_image_many(
        np.array([after_fp.origin[0], before_fp.origin[0]]),
        np.array([after_fp.origin[1], before_fp.origin[1]]),
    )
    a_b = distance_m(*before_fp.origin, *after_fp.origin)
    dx, dy = float(xs[0] - xs[1]) * size[0], float(ys[0] - ys[1]) * size[1]
    norm = math.hypot(dx, dy)
    ux, uy = (dx / norm, dy / norm) if norm > 1e-12 and a_b > 0.1 else (0.0, 0.0)
    tolerance = max(MIN_SEARCH_M, GPS_ERROR_M * k + 0.5)
    return ParallaxSearch((ux * a_b * k, uy * a_b * k), tolerance)


@dataclass(frozen=True)
class _Candidate:
    x: int  # bounding box in working pixels
    y: int
    w: int
    h: int
    area_m2: float
    cx: float  # centroid in working pixels
    cy: float
    strength: float


def compare(
    before: bytes | np.ndarray,
    before_fp: Footprint,
    after: bytes | np.ndarray,
    after_fp: Footprint,
    *,
    min_area_m2: float = 0.5,
    max_area_m2: float = 400.0,
    tolerance_m: float = 0.6,
    search: ParallaxSearch | None = None,
) -> list[Change]:
    """Objects present in `after` and not in `before`, largest first. `search` overrides the
    parallax search (parallax_search). Raises PhotoError (field "registration") when the
    photos do not overlap or cannot be registered."""
    b_full, a_full = _image(before), _image(after)
    # The footprints' GSD is that of the photos they were computed for: the images given.
    a_gsd, b_gsd = after_fp.gsd_m, before_fp.gsd_m

    # Working (candidate search) and registration levels; each downscale from the next finer one.
    a, b_small = _scaled(a_full, a_gsd / WORK_GSD_M), _scaled(b_full, b_gsd / WORK_GSD_M)
    ra = _scaled(a, a_gsd * a_full.shape[1] / a.shape[1] / REGISTER_GSD_M)
    rb = _scaled(b_small, b_gsd * b_full.shape[1] / b_small.shape[1] / REGISTER_GSD_M)

    # 1. Registration on the coarse level, carried to the working and the full resolutions.
    seed = _seed(before_fp, after_fp, _size(rb), _size(ra))
    h_reg, _ = register(rb, ra, seed)
    probe = np.array(
        [[ra.shape[1] * x, ra.shape[0] * y] for x in (0.25, 0.5, 0.75) for y in (0.25, 0.5, 0.75)]
    )
    off_px = np.linalg.norm(_transform(probe, h_reg) - _transform(probe, seed), axis=1)
    reg_gsd = a_gsd * a_full.shape[1] / ra.shape[1]
    if float(np.median(off_px)) * reg_gsd > MAX_SEED_DISAGREEMENT_M:
        raise PhotoError("registration", "特征配准结果与 GPS 位置相差过大，可能不是同一地点")

    def between(image: np.ndarray, other: np.ndarray) -> npt.NDArray[np.float64]:
        """Pixels of `other` -> pixels of `image` (two levels of one photo)."""
        return _scale(image.shape[1] / other.shape[1], image.shape[0] / other.shape[0])

    h_full = between(b_full, rb) @ h_reg @ between(ra, a_full)  # full-resolution after -> before
    h_work = between(b_small, rb) @ h_reg @ between(ra, a)

    # 2. Candidates at the working resolution.
    ah, aw = a.shape[:2]
    gsd = a_gsd * a_full.shape[1] / aw  # metres per working pixel
    # The homography holds for one plane and a distortion-free lens; what is left (lens distortion,
    # sloping ground) is a smooth residual field, estimated from dense optical flow and smoothed
    # over metres so that neither an object nor a tree crown sways it.
    warped, valid = _warp(b_small, h_work, (aw, ah), None)
    flow = _residual(a, warped, valid, gsd)
    warped, valid = _warp(b_small, h_work, (aw, ah), flow)
    candidates, threshold = _candidates(a, warped, valid, gsd, min_area_m2, max_area_m2, tolerance_m)

    # 3. Verification at full resolution against parallax.
    search = search or parallax_search(before_fp, after_fp, _size(a_full))
    verify_k = min(1.0, a_gsd / VERIFY_GSD_M)  # full-resolution after pixels -> verification pixels
    v_gsd = a_gsd / verify_k
    found: list[Change] = []
    for c in candidates:
        fx, fy = flow[min(ah - 1, round(c.cy)), min(aw - 1, round(c.cx))] * (a_full.shape[1] / aw)
        if _explained(a_full, b_full, h_full @ _shift(float(fx), float(fy)), c, gsd, v_gsd, verify_k, search):
            continue
        lon, lat = after_fp.to_ground(c.cx / aw, c.cy / ah)
        found.append(
            Change(
                box=(c.x / aw, c.y / ah, (c.x + c.w) / aw, (c.y + c.h) / ah),
                lon=lon,
                lat=lat,
                area_m2=round(c.area_m2, 2),
                score=round(1.0 - math.exp(-(c.strength - threshold) / threshold), 3),
            )
        )
    found.sort(key=lambda c: -c.area_m2)
    return found


def _size(image: np.ndarray) -> tuple[int, int]:
    return int(image.shape[1]), int(image.shape[0])


def _shift(dx: float, dy: float) -> npt.NDArray[np.float64]:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _warp(
    b: Image, h: npt.NDArray[np.float64], size: tuple[int, int], flow: Floats | None
) -> tuple[Image, npt.NDArray[np.bool_]]:
    """`b` seen from the other photo's pixels: pixel x takes b at h(x + flow(x)); and where b covers,
    away from its border."""
    w, hgt = size
    ys, xs = np.mgrid[0:hgt, 0:w].astype(np.float32)
    if flow is not None:
        xs += flow[..., 0]
        ys += flow[..., 1]
    m = h.astype(np.float32)
    den = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
    map_x = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / den
    map_y = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / den
    warped = cv2.remap(b, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    bh, bw = b.shape[:2]
    cover = ((map_x >= 0) & (map_x <= bw - 1) & (map_y >= 0) & (map_y <= bh - 1)).astype(np.uint8)
    valid = cv2.erode(cover, np.ones((15, 15), np.uint8)) > 0
    if valid.mean() < 0.02:
        raise PhotoError("registration", "两张照片的重叠部分太小，不能比对")
    return cast(Image, warped), valid


def _residual(a: Image, warped: Image, valid: npt.NDArray[np.bool_], gsd: float) -> Floats:
    """Smooth displacement (pixels) that carries `a` onto `warped`: dense flow, its median over
    cells of RESIDUAL_CELL_M, then a blur of as much."""
    ga = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)
    gw = cv2.cvtColor(warped, cv2.COLOR_BGR2GRAY)
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    # The stubs require an initial flow; None (start from zero) is what the C++ API takes.
    flow = np.asarray(dis.calc(ga, gw, cast(Any, None)), np.float32)
    h, w = ga.shape
    cell = max(4, round(RESIDUAL_CELL_M / gsd))
    rows, cols = math.ceil(h / cell), math.ceil(w / cell)
    coarse = np.zeros((rows, cols, 2), np.float32)
    known = np.zeros((rows, cols), bool)
    for i in range(rows):
        for j in range(cols):
            sl = (slice(i * cell, (i + 1) * cell), slice(j * cell, (j + 1) * cell))
            ok = valid[sl]
            if ok.mean() > 0.3:
                coarse[i, j] = np.median(flow[sl][ok], axis=0)
                known[i, j] = True
    if not known.any():
        return np.zeros((h, w, 2), np.float32)
    # Cells outside the overlap take the mean of their known neighbours, ring by ring.
    kernel = np.ones((3, 3), np.float32)
    while not known.all():
        weight = cv2.filter2D(known.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
        total = cv2.filter2D(coarse * known[..., None], -1, kernel, borderType=cv2.BORDER_CONSTANT)
        grow = ~known & (weight > 0)
        coarse[grow] = total[grow] / weight[grow][:, None]
        known |= grow
    coarse = cv2.medianBlur(coarse, 3) if min(rows, cols) >= 3 else coarse
    coarse = cv2.GaussianBlur(coarse, (0, 0), 1.0)
    return cast(Floats, cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR))


def _candidates(
    a: Image,
    warped: Image,
    valid: npt.NDArray[np.bool_],
    gsd: float,
    min_area_m2: float,
    max_area_m2: float,
    tolerance_m: float,
) -> tuple[list[_Candidate], float]:
    """Regions of `a` that differ from `warped` (the other photo, registered) beyond noise and
    clutter, compact, at least min_area_m2, sharper in `a`; and the difference threshold used."""
    ah, aw = a.shape[:2]

    def lab(image: np.ndarray) -> Floats:
        blurred = cv2.GaussianBlur(image, (0, 0), 1.0)
        return np.asarray(cv2.cvtColor(blurred, cv2.COLOR_BGR2LAB), np.float32)

    lab_a, lab_b = lab(a), lab(warped)
    # Match local brightness and colour (vignetting, sun, white balance) on a scale of metres,
    # far larger than the objects sought, so that they do not shift their own background.
    v = valid.astype(np.float32)
    sigma = LOCAL_LIGHT_M / gsd
    lab_b += _local_mean(lab_a, v, sigma) - _local_mean(lab_b, v, sigma)
    # Lightness counts half: shadows move between patrols, colour is what a new object brings.
    weight = (0.5, 1.0, 1.0)
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
    raw = (diff > threshold + CLUTTER_WEIGHT * clutter).astype(np.uint8)
    opened = cv2.morphologyEx(raw, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))

    grad_a, grad_b = _gradient(lab_a[..., 0]), _gradient(lab_b[..., 0])
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    px_area = gsd * gsd
    out: list[_Candidate] = []
    for i in range(1, count):
        x, y, w, hgt, n = (int(s) for s in stats[i])
        area = n * px_area
        if not (min_area_m2 <= area <= max_area_m2):
            continue
        pad = 3
        y0, y1, x0, x1 = max(0, y - pad), min(ah, y + hgt + pad), max(0, x - pad), min(aw, x + w + pad)
        region = (labels[y0:y1, x0:x1] == i).astype(np.uint8)
        # Compact, and wide enough: parallax and moving shadows leave slivers along edges.
        points = cv2.findNonZero(region)
        (_, _), (rw, rh), _ = cv2.minAreaRect(points)
        if n < MIN_COMPACTNESS * max(1.0, rw * rh) or min(rw, rh) * gsd < MIN_WIDTH_M:
            continue
        # The object's outline: sharper in after than in before when it appeared there.
        ring = cv2.dilate(region, np.ones((5, 5), np.uint8)) - cv2.erode(region, np.ones((3, 3), np.uint8))
        ring_mask = ring > 0
        if float(grad_a[y0:y1, x0:x1][ring_mask].mean()) < float(grad_b[y0:y1, x0:x1][ring_mask].mean()):
            continue
        strength = float(diff[y : y + hgt, x : x + w][labels[y : y + hgt, x : x + w] == i].mean())
        cx, cy = centroids[i]
        out.append(_Candidate(x, y, w, hgt, area, float(cx), float(cy), strength))
    return out, threshold


def _explained(
    a_full: Image,
    b_full: Image,
    h_full: npt.NDArray[np.float64],
    c: _Candidate,
    gsd: float,
    v_gsd: float,
    verify_k: float,
    search: ParallaxSearch,
) -> bool:
    """Whether the candidate's patch of AFTER (its box and a margin, at the verification resolution)
    matches BEFORE anywhere `search` allows: then it is something that stood there already,
    displaced by parallax or misregistration, not a new object."""
    k = gsd / v_gsd  # working pixels -> verification pixels
    margin = max(MARGIN_M, 0.25 * max(c.w, c.h) * gsd) / v_gsd
    tx0, ty0 = c.x * k - margin, c.y * k - margin
    tw, th = round((c.w * k) + 2 * margin), round((c.h * k) + 2 * margin)
    # Offsets (verification pixels) that parallax, GPS and registration error can explain: within
    # `tol` of the segment from 0 to the reach.
    ex, ey = search.reach[0] / v_gsd, search.reach[1] / v_gsd
    tol = search.tolerance_m / v_gsd
    left, right = math.floor(min(0.0, ex) - tol), math.ceil(max(0.0, ex) + tol)
    top, bottom = math.floor(min(0.0, ey) - tol), math.ceil(max(0.0, ey) + tol)
    # verification pixels -> full-resolution after pixels (and, through h_full, before pixels)
    v_to_a = np.linalg.inv(_scale(verify_k, verify_k))

    def window(x0: float, y0: float, w: int, h: int, to_source: npt.NDArray[np.float64], src: Image) -> Image:
        m = to_source @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        out = cv2.warpPerspective(
            src, m, (w, h), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
        )
        return cast(Image, cv2.GaussianBlur(out, (0, 0), 1.0))

    template = window(tx0, ty0, tw, th, v_to_a, a_full)
    if float(template.std()) < 4.0:  # flat: nothing to recognise (and nothing new either)
        return True
    sx, sy, sw, sh = tx0 + left, ty0 + top, tw + right - left, th + bottom - top
    corners = _transform(
        np.array([[sx, sy], [sx + sw, sy], [sx, sy + sh], [sx + sw, sy + sh]]), h_full @ v_to_a
    )
    bh, bw = b_full.shape[:2]
    if corners.min() < 0 or np.any(corners.max(axis=0) > (bw - 1, bh - 1)):
        # Where parallax may have put it lies outside BEFORE: it cannot be told new.
        return True
    before = window(sx, sy, sw, sh, h_full @ v_to_a, b_full)
    scores = cv2.matchTemplate(before, template, cv2.TM_CCOEFF_NORMED)
    oy, ox = np.mgrid[top : bottom + 1, left : right + 1].astype(np.float32)
    t = np.clip((ox * ex + oy * ey) / max(ex * ex + ey * ey, 1e-9), 0.0, 1.0)
    allowed = np.hypot(ox - t * ex, oy - t * ey) <= tol
    best = float(scores[allowed].max())
    return best >= MATCH_NCC
