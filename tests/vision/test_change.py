"""Change detection between patrols on the real DJI photos, with a real image patch pasted in."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from shequ.core.geo import distance_m
from shequ_vision.aerial import Footprint, PhotoError, footprint, headings_from_track, read_photo
from shequ_vision.change import Change, compare, parallax_search
from tests.conftest import SHARED_MEDIA
from tests.vision.conftest import _need, read_frame

LAWN = (1560, 700)  # pixel of open lawn in DJI_0062, inside the overlap with DJI_0061


@pytest.fixture(scope="module")
def pair() -> tuple[list[np.ndarray], list[Footprint]]:
    data = [_need(SHARED_MEDIA / n, n).read_bytes() for n in ("DJI_0061.JPG", "DJI_0062.JPG")]
    fps = [footprint(m) for m in headings_from_track([read_photo(d) for d in data])]
    return [np.asarray(cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)) for d in data], fps


@pytest.fixture(scope="module")
def patch(pair: tuple[list[np.ndarray], list[Footprint]], one_by_one: Path) -> np.ndarray:
    """A real patch (clothes from the Intel clip) the size of a dumped bag: 1.5 m x 1 m."""
    gsd = pair[1][1].gsd_m
    crop = read_frame(one_by_one, 800)[130:260, 384:500]
    return cv2.resize(crop, (round(1.5 / gsd), round(1.0 / gsd)), interpolation=cv2.INTER_AREA)


def paste(image: np.ndarray, patch: np.ndarray, at: tuple[int, int]) -> np.ndarray:
    out = image.copy()
    h, w = patch.shape[:2]
    out[at[1] - h // 2 : at[1] - h // 2 + h, at[0] - w // 2 : at[0] - w // 2 + w] = patch
    return out


def repeat_patrol(image: np.ndarray) -> np.ndarray:
    """The same waypoint on another day: 6 px off, brighter and warmer light, re-encoded."""
    shifted = cv2.warpAffine(
        image,
        np.array([[1, 0, 6], [0, 1, -4]], np.float32),
        (image.shape[1], image.shape[0]),
        borderMode=cv2.BORDER_REFLECT,
    )
    lit = np.clip(shifted.astype(np.float32) * np.array([1.05, 1.12, 1.2], np.float32) + 8, 0, 255).astype(
        np.uint8
    )
    return np.asarray(
        cv2.imdecode(cv2.imencode(".jpg", lit, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_COLOR)
    )


def near(changes: list[Change], lon: float, lat: float, metres: float) -> list[Change]:
    return [c for c in changes if distance_m(c.lon, c.lat, lon, lat) < metres]


def test_repeat_patrol_without_change_finds_nothing(pair: tuple[list[np.ndarray], list[Footprint]]) -> None:
    (_, after), (_, fp) = pair
    assert compare(after, fp, repeat_patrol(after), fp) == []


def test_repeat_patrol_finds_the_dumped_object(
    pair: tuple[list[np.ndarray], list[Footprint]], patch: np.ndarray
) -> None:
    (_, before), (_, fp) = pair
    after = paste(repeat_patrol(before), patch, LAWN)
    found = compare(before, fp, after, fp)
    assert len(found) == 1, found
    where = fp.to_ground(LAWN[0] / 2400, LAWN[1] / 1800)
    assert distance_m(found[0].lon, found[0].lat, *where) < 2.0
    assert 0.7 < found[0].area_m2 < 3.0 and 0 < found[0].score <= 1
    x1, y1, x2, y2 = found[0].box
    assert x1 <= LAWN[0] / 2400 <= x2 and y1 <= LAWN[1] / 1800 <= y2
    # The same object taken away: not a new object.
    assert compare(after, fp, before, fp) == []


def test_real_pair_without_change_finds_nothing(pair: tuple[list[np.ndarray], list[Footprint]]) -> None:
    """The two real photos, 22 m apart at ~120 m: roofs and trees lean differently from the two
    viewpoints (parallax of up to ~7 m for 30 m tall things), which is no change."""
    (before, after), (fp0, fp1) = pair
    assert compare(before, fp0, after, fp1) == []


def test_real_pair_with_an_object_pasted(
    pair: tuple[list[np.ndarray], list[Footprint]], patch: np.ndarray
) -> None:
    """The pasted object is exactly one change, in place; taken away again, none."""
    (before, after), (fp0, fp1) = pair
    pasted = paste(after, patch, LAWN)
    found = compare(before, fp0, pasted, fp1)
    where = fp1.to_ground(LAWN[0] / 2400, LAWN[1] / 1800)
    assert len(found) == 1, found
    assert distance_m(found[0].lon, found[0].lat, *where) < 2.5
    assert 0.5 <= found[0].area_m2 < 3.0
    # Taken away: the later photo is the plain one.
    assert compare(paste(before, patch, (1560, 480)), fp0, after, fp1) == []


def test_parallax_search_runs_along_the_baseline(pair: tuple[list[np.ndarray], list[Footprint]]) -> None:
    """A 30 m tall thing shifts (A - B) * 30 / (alt - 30) between the views: ~7.4 m for 22 m at
    ~120 m, along the flight line (the image's vertical axis here: the drone flew towards its top)."""
    _, (fp0, fp1) = pair
    search = parallax_search(fp0, fp1, (2400, 1800))
    dx, dy = search.reach
    baseline = distance_m(*fp0.origin, *fp1.origin)
    assert abs(math.hypot(dx, dy) - baseline * 30 / (fp0.alt_m - 30)) < 0.3
    assert abs(dx) < 0.5 and dy < -6.5  # towards the top: the after camera is ahead
    assert 2.0 <= search.tolerance_m < 3.0
    same = parallax_search(fp1, fp1, (2400, 1800))
    assert same.reach == (0.0, 0.0) and same.tolerance_m >= 2.0


def test_no_overlap_is_refused(pair: tuple[list[np.ndarray], list[Footprint]]) -> None:
    (before, after), (fp0, fp1) = pair
    far = footprint(
        replace(read_photo((SHARED_MEDIA / "DJI_0062.JPG").read_bytes()), lat=fp1.origin[1] + 0.01)
    )
    with pytest.raises(PhotoError) as info:
        compare(before, fp0, after, far)
    assert info.value.field == "registration"
