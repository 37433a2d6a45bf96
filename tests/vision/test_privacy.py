"""Faces and plates are obscured in images shown outside the command center: on a real frame the
person's head loses its detail, and every pixel outside the obscured regions is untouched."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from shequ_vision import privacy
from shequ_vision.detect import Detection, SsdMobileNet
from shequ_vision.privacy import blur_jpeg, blur_sensitive, regions_from_detections

from .conftest import read_frame


def _detail(image: np.ndarray) -> float:
    """High-frequency energy: variance of the Laplacian of the grey image."""
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def _mask(shape: tuple[int, ...], rects: list[tuple[int, int, int, int]]) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for x1, y1, x2, y2 in rects:
        mask[max(0, y1) : y2, max(0, x1) : x2] = True
    return mask


def test_head_of_a_detected_person_is_obscured_and_the_rest_untouched(
    one_by_one: Path, ssd: SsdMobileNet
) -> None:
    image = read_frame(one_by_one, 800)
    people = [d for d in ssd.detect(image) if d.label == "person"]
    assert people, "the frame has a person"
    out = blur_sensitive(image, people)
    h, w = image.shape[:2]
    rects = regions_from_detections(people, w, h)
    assert len(rects) == 1
    x1, y1, x2, y2 = rects[0]
    # The head band is the top of the person box, not the whole body.
    _, py1, _, py2 = (np.array(people[0].box) * [w, h, w, h]).astype(int)
    assert y1 <= py1 + 2 and py1 + (py2 - py1) // 5 <= y2 < py1 + (py2 - py1) // 2
    head_before, head_after = image[y1:y2, x1:x2], out[y1:y2, x1:x2]
    assert _detail(head_after) < 0.1 * _detail(head_before)
    outside = ~_mask(image.shape, rects + privacy.regions_from_cascades(image))
    assert np.array_equal(out[outside], image[outside])
    assert not np.array_equal(out, image)


def test_vehicle_plate_band_is_the_low_middle_of_the_box() -> None:
    car = Detection("car", 0.9, (0.2, 0.4, 0.6, 0.8))
    [(x1, y1, x2, y2)] = regions_from_detections([car], 1000, 500)
    assert (x1, x2) == (240, 560) and 300 < y1 < 320 and y2 == 400
    assert regions_from_detections([Detection("dog", 0.9, (0.1, 0.1, 0.5, 0.5))], 100, 100) == []


def test_blur_jpeg_finds_people_itself(one_by_one: Path) -> None:
    image = read_frame(one_by_one, 800)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    blurred = cv2.imdecode(np.frombuffer(blur_jpeg(data.tobytes()), np.uint8), cv2.IMREAD_COLOR)
    assert blurred is not None and blurred.shape == image.shape
    det = privacy.default_detector()
    assert det is not None
    people = [d for d in det.detect(image) if d.label == "person"]
    [(x1, y1, x2, y2)] = regions_from_detections(people, image.shape[1], image.shape[0])
    assert _detail(blurred[y1:y2, x1:x2]) < 0.1 * _detail(image[y1:y2, x1:x2])
    # Far from the person (the left third of the room) the picture is the same, up to JPEG noise.
    left = slice(0, image.shape[1] // 3)
    assert np.abs(blurred[:, left].astype(int) - image[:, left].astype(int)).mean() < 3


def test_blur_jpeg_rejects_what_is_not_an_image() -> None:
    with pytest.raises(ValueError, match="不是有效的图像"):
        blur_jpeg(b"not a jpeg")


def test_without_any_way_to_find_faces_the_whole_image_is_obscured(
    one_by_one: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fail closed: simulate a host where neither the SSD model nor Haar cascades are installed.
    monkeypatch.setattr(privacy, "default_detector", lambda: None)
    monkeypatch.setattr(privacy, "cascades_available", lambda: False)
    image = read_frame(one_by_one, 800)
    assert _detail(blur_sensitive(image)) < 0.1 * _detail(image)


class _Blind:
    """A detector that finds nothing: what is left is the face cascade."""

    name = "blind"

    def detect(self, image: np.ndarray) -> list[Detection]:
        return []


def test_a_face_the_detector_missed_is_found_by_the_cascade_and_obscured(one_by_one: Path) -> None:
    """Frame 240 of the real clip shows a face (about 100 px) front on. With no person box at all,
    OpenCV's frontal-face cascade (why the project pins OpenCV 4.x) still finds and obscures it."""
    assert privacy.cascades_available()
    image = read_frame(one_by_one, 240)
    rects = privacy.regions_from_cascades(image)
    assert rects, "the cascade finds the face"
    x1, y1, x2, y2 = max(rects, key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
    assert 60 <= x2 - x1 <= 200  # a face, not the whole frame
    out = blur_sensitive(image, detector=_Blind())
    assert _detail(out[y1:y2, x1:x2]) < 0.1 * _detail(image[y1:y2, x1:x2])
    outside = ~_mask(image.shape, rects)
    assert np.array_equal(out[outside], image[outside])
