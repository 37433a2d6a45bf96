"""Blur faces and number plates in images shown outside the command center (issue 5, Alerts).

Where the regions come from:
- the head band of every detected person and the plate band of every detected vehicle (the
  detector's boxes);
- OpenCV's Haar cascades for frontal / profile faces and Russian-style plates (`cv2.data.
  haarcascades`), which catch a face the detector missed as a person. The project pins OpenCV 4.x
  for them: OpenCV 5 moved cascades out of the main wheels (there only the first source is left).
When nothing can look for people at all (no detector model and no cascades), the whole image is
blurred: failing closed is the only safe default for a privacy filter.

A region is pixelated and then blurred, which, unlike a Gaussian alone, leaves nothing that
deconvolution could sharpen back into a face.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from .detect import Detection, Detector, SsdMobileNet

PERSON = frozenset({"person"})
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})

Rect = tuple[int, int, int, int]  # pixels x1, y1, x2, y2

_CASCADE_FILES = {
    "face": ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml"),
    "plate": ("haarcascade_russian_plate_number.xml", "haarcascade_licence_plate_rus_16stages.xml"),
}
_lock = threading.Lock()
_cascades: dict[str, list[object]] | None = None
_detector: Detector | None = None
_detector_failed = False


def _load_cascades() -> dict[str, list[object]]:
    global _cascades
    with _lock:
        if _cascades is None:
            found: dict[str, list[object]] = {"face": [], "plate": []}
            classifier = getattr(cv2, "CascadeClassifier", None)
            base = getattr(getattr(cv2, "data", None), "haarcascades", "")
            if classifier is not None and base:
                for kind, names in _CASCADE_FILES.items():
                    for name in names:
                        if (Path(base) / name).is_file():
                            c = classifier(str(Path(base) / name))
                            if not c.empty():
                                found[kind].append(c)
            _cascades = found
        return _cascades


def cascades_available() -> bool:
    c = _load_cascades()
    return bool(c["face"] or c["plate"])


def default_detector() -> Detector | None:
    """The detector used to find people and vehicles to blur, shared by the process; a lower score
    threshold than alerting uses, because a missed face costs more than a blurred lamp post."""
    global _detector, _detector_failed
    with _lock:
        if _detector is None and not _detector_failed:
            try:
                _detector = SsdMobileNet(min_score=0.2, classes=sorted(PERSON | VEHICLES))
            except (FileNotFoundError, cv2.error):
                _detector_failed = True
        return _detector


def _px(box: tuple[float, float, float, float], w: int, h: int) -> Rect:
    x1, y1, x2, y2 = box
    return (
        max(0, int(x1 * w)),
        max(0, int(y1 * h)),
        min(w, int(np.ceil(x2 * w))),
        min(h, int(np.ceil(y2 * h))),
    )


def regions_from_detections(detections: Iterable[Detection], width: int, height: int) -> list[Rect]:
    """Head bands of people and plate bands of vehicles, in pixels."""
    rects: list[Rect] = []
    for d in detections:
        x1, y1, x2, y2 = _px(d.box, width, height)
        bw, bh = x2 - x1, y2 - y1
        if bw <= 0 or bh <= 0:
            continue
        if d.label in PERSON:
            # A head is about an eighth of a standing body; take the top quarter (bending,
            # sitting, boxes cut by the frame) and at least the box's width as height.
            band = min(bh, max(bh // 4, int(bw * 0.8)))
            rects.append((x1, max(0, y1 - band // 10), x2, y1 + band))
        elif d.label in VEHICLES:
            # Plates sit low and central at the front and back; the side of a car has none.
            top = y1 + int(bh * 0.55)
            rects.append((x1 + bw // 10, top, x2 - bw // 10, y2))
    return rects


def regions_from_cascades(image: np.ndarray) -> list[Rect]:
    cascades = _load_cascades()
    if not (cascades["face"] or cascades["plate"]):
        return []
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    rects: list[Rect] = []
    # On the grey image and on its equalised copy: each finds faces the other misses (a backlit
    # face, a flat indoor one); for a privacy filter a missed face costs more than a blurred wall.
    for variant in (grey, cv2.equalizeHist(grey)):
        for kind in ("face", "plate"):
            for c in cascades[kind]:
                found = c.detectMultiScale(variant, scaleFactor=1.1, minNeighbors=4, minSize=(16, 16))  # type: ignore[attr-defined]
                rects.extend(_padded(found))
    return rects


def _padded(found: Iterable[Iterable[int]]) -> list[Rect]:
    rects: list[Rect] = []
    for x, y, w, h in found:
        m = int(0.15 * max(w, h))  # faces and plates bleed past the cascade's box
        rects.append((max(0, x - m), max(0, y - m), x + w + m, y + h + m))
    return rects


def _obscure(image: np.ndarray, rect: Rect) -> None:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(0, rect[0]), max(0, rect[1]), min(w, rect[2]), min(h, rect[3])
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    roi = image[y1:y2, x1:x2]
    cells = max(2, min(roi.shape[0], roi.shape[1]) // 10)
    small = cv2.resize(
        roi, (max(1, roi.shape[1] // cells), max(1, roi.shape[0] // cells)), interpolation=cv2.INTER_AREA
    )
    coarse = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_NEAREST)
    k = (cells * 2) | 1
    image[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0)


def blur_sensitive(
    image: np.ndarray, detections: list[Detection] | None = None, *, detector: Detector | None = None
) -> np.ndarray:
    """A copy of `image` with faces and number plates obscured. `detections`: the boxes already
    found for this frame (an alert's); None: find people and vehicles here with `detector` (or the
    process's default detector)."""
    out = image.copy()
    h, w = out.shape[:2]
    if detections is None:
        det = detector or default_detector()
        if det is None and not cascades_available():
            _obscure(out, (0, 0, w, h))  # nothing can look for faces: fail closed
            return out
        detections = det.detect(image) if det is not None else []
    for rect in regions_from_detections(detections, w, h) + regions_from_cascades(image):
        _obscure(out, rect)
    return out


def blur_from_above(image: np.ndarray, detections: Iterable[Detection], *, pad: float = 0.25) -> np.ndarray:
    """A copy of an aerial image with every person and vehicle obscured as a whole box (padded by
    `pad` of its size on each side): seen from above, a head or a plate may lie anywhere in the box,
    and the cascades cannot find faces a few pixels wide."""
    out = image.copy()
    h, w = out.shape[:2]
    for d in detections:
        if d.label not in PERSON | VEHICLES:
            continue
        x1, y1, x2, y2 = d.box
        px, py = (x2 - x1) * pad, (y2 - y1) * pad
        _obscure(
            out, (int((x1 - px) * w), int((y1 - py) * h), int((x2 + px) * w) + 1, int((y2 + py) * h) + 1)
        )
    return out


def blur_jpeg(data: bytes, *, detections: list[Detection] | None = None, quality: int = 85) -> bytes:
    """Decode a JPEG (or PNG), blur faces and plates, encode as JPEG. ValueError if not an image.
    `detections`, when given, are added to what the detector finds (e.g. an alert's own box)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("不是有效的图像")
    blurred = blur_sensitive(image)
    if detections:
        blurred = blur_sensitive(blurred, detections)
    ok, encoded = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("图像编码失败")
    return encoded.tobytes()
