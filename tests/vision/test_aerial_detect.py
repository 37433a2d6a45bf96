"""A detection's projected position lands in the right grid: a real person (Intel clip) pasted into
the real DJI photo, found by the real SSD detector, projected through the photo's footprint."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from shapely.geometry import Polygon, box

from shequ.core.geo import GridIndex, distance_m
from shequ_vision.aerial import analyse_photo, detect_tiled, headings_from_track, read_photo, read_photo_bgr
from shequ_vision.detect import Detection
from tests.conftest import SHARED_MEDIA
from tests.vision.conftest import _need, read_frame


def test_detection_lands_in_the_grid_on_its_side(one_by_one: Path, ssd: object) -> None:
    photos = [_need(SHARED_MEDIA / n, n).read_bytes() for n in ("DJI_0061.JPG", "DJI_0062.JPG")]
    heading = headings_from_track([read_photo(d) for d in photos])[0].heading  # ~272°: top faces west
    frame = read_frame(one_by_one, 800)  # one person, SSD finds them at 0.99
    person = cv2.resize(frame[8:389, 322:561], None, fx=2.0, fy=2.0)
    ph, pw = person.shape[:2]
    base = np.asarray(cv2.imdecode(np.frombuffer(photos[0], np.uint8), cv2.IMREAD_COLOR))
    meta = read_photo(photos[0])
    west_grid = east_grid = None
    for cy, side in ((0.27, "west"), (0.73, "east")):
        image = base.copy()
        x0, y0 = int(0.5 * 2400 - pw / 2), int(cy * 1800 - ph / 2)
        image[y0 : y0 + ph, x0 : x0 + pw] = person
        ok, jpeg = cv2.imencode(".jpg", image)
        assert ok
        # Re-encoding with OpenCV drops EXIF: give what the photo said (position is in the EXIF of
        # the original; here the drone's own record).
        data = _with_exif(jpeg.tobytes(), photos[0])
        m, fp, found = analyse_photo(data, ssd, heading=heading)  # type: ignore[arg-type]
        assert (m.lon, m.lat) == (meta.lon, meta.lat)
        people = [d for d in found if d.label == "person" and d.score > 0.55]
        assert len(people) == 1, found
        # Two grids splitting the footprint along the meridian through the photo centre.
        lon_c = fp.centre[0]
        ring = Polygon(fp.polygon)
        minx, miny, maxx, maxy = ring.bounds
        grids = GridIndex(
            [
                ("W", box(minx - 0.01, miny - 0.01, lon_c, maxy + 0.01)),
                ("E", box(lon_c, miny - 0.01, maxx + 0.01, maxy + 0.01)),
            ]
        )
        got = grids.locate(people[0].lon, people[0].lat)
        assert got == ("W" if side == "west" else "E")
        expected = fp.to_ground(0.5, cy)
        assert distance_m(people[0].lon, people[0].lat, *expected) < 5.0
        if side == "west":
            west_grid = got
        else:
            east_grid = got
    assert (west_grid, east_grid) == ("W", "E")


def test_tiles_find_the_small_person_the_whole_photo_misses(one_by_one: Path, ssd: object) -> None:
    """A person small in the 2400 x 1800 photo (shrunk to ~115 px tall), placed where two tiles
    overlap: the whole photo shrunk to SSD's 300-px input shows nothing; 640-px tiles find them once,
    with the box in fractions of the whole photo; analyse_photo runs the same tiling."""
    photo = _need(SHARED_MEDIA / "DJI_0061.JPG", "DJI_0061.JPG").read_bytes()
    meta, base = read_photo_bgr(photo, heading=272.0)
    assert base.shape == (meta.height, meta.width, 3) and base.dtype == np.uint8
    person = cv2.resize(read_frame(one_by_one, 800)[8:389, 322:561], None, fx=0.3, fy=0.3)
    ph, pw = person.shape[:2]
    x0, y0 = 520 - pw // 2, 300  # tiles start at x = 0 and 440 (5 tiles over 2400 px): both see it
    image = base.copy()
    image[y0 : y0 + ph, x0 : x0 + pw] = person

    def people(found: list) -> list:  # type: ignore[type-arg]
        return [d for d in found if d.label == "person" and d.score > 0.55]

    assert people(detect_tiled(image, ssd, tile_px=0)) == []  # type: ignore[arg-type]
    tiled = people(detect_tiled(image, ssd, tile_px=640, overlap=0.2))  # type: ignore[arg-type]
    assert len(tiled) == 1, tiled
    x1, y1, x2, y2 = tiled[0].box
    assert abs((x1 + x2) / 2 * 2400 - 520) < 20 and abs((y1 + y2) / 2 * 1800 - (y0 + ph / 2)) < 20
    data = _with_exif(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes(), photo)
    _, fp, ground = analyse_photo(data, ssd, tile_px=640, heading=272.0)  # type: ignore[arg-type]
    found = people(ground)
    assert len(found) == 1, found
    assert distance_m(found[0].lon, found[0].lat, *fp.to_ground((x1 + x2) / 2, (y1 + y2) / 2)) < 0.5


def _with_exif(jpeg: bytes, original: bytes) -> bytes:
    import io

    from PIL import Image

    exif = Image.open(io.BytesIO(original)).getexif()
    out = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


class _OneBoxPerTile:
    """Finds one small box in the middle of whatever it is shown, and counts its calls."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        return [Detection("person", 0.9, (0.45, 0.45, 0.47, 0.47))]


def test_tiled_detection_maps_boxes_to_the_whole_photo_once() -> None:
    image = np.zeros((1800, 2400, 3), np.uint8)
    detector = _OneBoxPerTile()
    found = detect_tiled(image, detector, 640)
    assert detector.calls > 4
    assert all(0 <= v <= 1 for d in found for v in d.box)
    # A box in the middle of each tile: one per tile (they do not overlap), in the whole photo.
    assert len(found) == detector.calls
    assert len({d.box for d in found}) == len(found)
    assert detect_tiled(image, detector, 0)[0].box == (0.45, 0.45, 0.47, 0.47)
