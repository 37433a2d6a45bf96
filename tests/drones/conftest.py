"""Fixtures of the drones app: two unit grids where the team's real DJI photos were taken, users of
every role with their grids, a dock and a drone with the optics of those photos (DJI FC350), and
the photos themselves. Built through the services, as the application does.

The real photos (../shared/media/DJI_0061.JPG, DJI_0062.JPG) were taken near 41.5486 N, 83.6987 W,
the drone flying west (the top of each image faces ~272°). `grid1` (west) holds both photos'
centres; `grid2` (east) starts ~55 m east of them, so the bottom (eastern) strip of each photo lies
in grid2: a detection there must land in grid2.

Missing real media skips a test on a developer's machine and fails it in CI (CI=1).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from shequ.accounts.models import Department, Role
from shequ_vision.detect import Detection
from tests.conftest import SHARED_MEDIA, square

# Where the real photos were taken (DJI_0061's EXIF GPS), and the grid boundary east of them.
PHOTO_LON, PHOTO_LAT = -83.698649, 41.548596
GRID_SPLIT_LON = -83.6980
OUTSIDE = (-83.80, 41.60)  # in no grid


@pytest.fixture(autouse=True)
def drone_media(settings: Any, tmp_path: Path) -> Path:
    """Stored files go to a folder of the test's own, so a test can see what was (not) stored."""
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    settings.MEDIA_ROOT = str(media)
    return media


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


def _rect(lon1: float, lat1: float, lon2: float, lat2: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[lon1, lat1], [lon2, lat1], [lon2, lat2], [lon1, lat2], [lon1, lat1]]],
    }


@pytest.fixture
def grids(system_user: Any) -> dict[str, Any]:
    """A street (`street`) with one community (`community`) of two unit grids: `grid1` west of
    GRID_SPLIT_LON (both real photos' centres), `grid2` east of it."""
    from shequ.grids.services import save_grid

    street = save_grid(code="390950001", name="航拍街道", actor=system_user)
    community = save_grid(
        code="390950001001",
        name="航拍社区",
        parent=street,
        actor=system_user,
        geometry=_rect(-83.706, 41.544, -83.690, 41.553),
    )
    grid1 = save_grid(
        code="39095000100101",
        name="航拍社区第1网格",
        parent=community,
        actor=system_user,
        geometry=_rect(-83.706, 41.544, GRID_SPLIT_LON, 41.553),
    )
    grid2 = save_grid(
        code="39095000100102",
        name="航拍社区第2网格",
        parent=community,
        actor=system_user,
        geometry=_rect(GRID_SPLIT_LON, 41.544, -83.690, 41.553),
    )
    return {"street": street, "community": community, "grid1": grid1, "grid2": grid2}


@pytest.fixture
def admin_user(system_user: Any) -> Any:
    return system_user


@pytest.fixture
def operator(make_user: Callable[..., Any], grids: dict[str, Any]) -> Any:
    """A command operator of the street (both grids)."""
    return make_user(Role.COMMAND_OPERATOR, grids=(grids["street"],), display_name="坐席小王")


@pytest.fixture
def leader(make_user: Callable[..., Any], grids: dict[str, Any]) -> Any:
    return make_user(Role.LEADER, grids=(grids["street"],))


@pytest.fixture
def grid_worker(make_user: Callable[..., Any], grids: dict[str, Any]) -> Any:
    """The grid worker of grid1 only."""
    return make_user(Role.GRID_WORKER, grids=(grids["grid1"],), display_name="网格员张")


@pytest.fixture
def grid_worker2(make_user: Callable[..., Any], grids: dict[str, Any]) -> Any:
    """The grid worker of grid2 only."""
    return make_user(Role.GRID_WORKER, grids=(grids["grid2"],))


@pytest.fixture
def handler(make_user: Callable[..., Any], system_user: Any) -> Any:
    from shequ.accounts.services import create_department

    squad = create_department(
        code="ZF09", name="城管执法中队", kind=Department.Kind.ENFORCEMENT, actor=system_user
    )
    return make_user(Role.DEPARTMENT_HANDLER, department=squad)


@pytest.fixture
def resident(make_user: Callable[..., Any]) -> Any:
    return make_user(Role.RESIDENT, display_name="居民李")


@pytest.fixture
def dock(system_user: Any, grids: dict[str, Any]) -> Any:
    """A dock in grid1 covering both grids, its ground elevation unknown: the real photos' GPS
    altitude is the height above the take-off point (early DJI firmware), so with no elevation to
    subtract it is taken as the height above ground. Made directly: the dock and drone services
    are another part's (fleet); the rows are all these tests need."""
    from shequ.drones.models import Dock

    dock = Dock.objects.create(code="JC-01", name="航拍社区机巢", lon=PHOTO_LON - 0.002, lat=PHOTO_LAT)
    dock.grids.set([grids["grid1"], grids["grid2"]])
    return dock


@pytest.fixture
def drone(dock: Any) -> Any:
    """The DJI FC350 (Phantom 3/Inspire 1 camera) of the real photos: sensor 6.17×4.55 mm, focal
    length 3.61 mm, 4000×3000 pixels."""
    from shequ.drones.models import Drone

    return Drone.objects.create(
        code="UAV-01",
        name="巡查一号",
        model="DJI FC350",
        dock=dock,
        sensor_width_mm=6.17,
        sensor_height_mm=4.55,
        focal_length_mm=3.61,
        image_width=4000,
        image_height=3000,
    )


def _need(path: Path) -> bytes:
    if path.is_file():
        return path.read_bytes()
    message = f"real media missing: {path}"
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must run the real-media tests")
    pytest.skip(message)


@pytest.fixture(scope="session")
def dji_0061() -> bytes:
    """DJI FC350, 2400×1800, GPS 41.5486 N 83.6987 W, GPS altitude 119.7 m (behaves as AGL)."""
    return _need(SHARED_MEDIA / "DJI_0061.JPG")


@pytest.fixture(scope="session")
def dji_0062() -> bytes:
    """The next photo of the same patrol, ~22 m west of DJI_0061."""
    return _need(SHARED_MEDIA / "DJI_0062.JPG")


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def gps_jpeg(
    *,
    size: tuple[int, int] = (400, 300),
    gps: bool = True,
    altitude: float | None = 100.0,
    seed: int = 0,
    taken: str = "2026:05:01 10:00:00",
    lonlat: tuple[float, float] = (-83.698611, 41.548611),
) -> bytes:
    """A real JPEG of a DJI FC350 with EXIF GPS (by default at the real photos' place) and
    altitude, its pixels noise."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "DJI", "FC350"
    sub = exif.get_ifd(0x8769)
    sub[36867] = taken
    sub[0x920A] = 3.61
    if gps:
        lon, lat = lonlat
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2] = ("N" if lat >= 0 else "S"), _dms(lat)
        ifd[3], ifd[4] = ("E" if lon >= 0 else "W"), _dms(lon)
        if altitude is not None:
            ifd[5], ifd[6] = b"\x00", altitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=85)
    return out.getvalue()


def bomb_png() -> bytes:
    """A 20000×20000 PNG of a few kilobytes: 400 megapixels once decoded."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    return out.getvalue()


class Scripted:
    """A detector that returns the given boxes (fractions of what it is given) on every image."""

    name = "scripted"

    def __init__(self, detections: Sequence[Detection]) -> None:
        self.detections = list(detections)

    def detect(self, image: np.ndarray) -> list[Detection]:
        return list(self.detections)


def crowd_at(x: float, y: float, n: int = 6) -> list[Detection]:
    """`n` people in a row around image point (x, y): a crowd."""
    return [
        Detection("person", 0.7 + i * 0.01, (x + i * 0.006, y, x + i * 0.006 + 0.004, y + 0.015))
        for i in range(n)
    ]


def stall_at(x: float, y: float) -> list[Detection]:
    """Two sunshades side by side around image point (x, y): a street stall."""
    return [
        Detection("umbrella", 0.8, (x, y, x + 0.01, y + 0.012)),
        Detection("umbrella", 0.75, (x + 0.012, y, x + 0.022, y + 0.012)),
    ]


@pytest.fixture
def media(
    operator: Any, drone: Any, grids: Any, dji_0061: bytes, dji_0062: bytes, settings: Any
) -> dict[str, Any]:
    """Photos and findings across the scopes, made by the services:
    - `p1` DJI_0061 (centre in grid1) with `f1` a crowd at its centre (grid1) and `f2` a stall near
      its bottom edge, which faces east (grid2);
    - `p2` DJI_0062 (grid1), not analysed, no findings;
    - `p3` a photo outside every grid with `f3` a crowd there (no grid)."""
    from shequ.drones.models import Finding, FindingKind, Photo
    from shequ.drones.services import photos

    settings.DRONE_DETECT_TILE_PX = 0
    # The analysis jobs stay unrun: their on_commit never fires inside the test's transaction.
    pair = [("DJI_0061.JPG", dji_0061), ("DJI_0062.JPG", dji_0062)]  # a pair: headings from the track
    photos.ingest_photos(actor=operator, files=pair, drone=drone)
    photos.ingest_photos(actor=operator, files=[("outside.jpg", gps_jpeg(lonlat=OUTSIDE, seed=5))])
    p1, p2, p3 = (Photo.objects.get(name=n) for n in ("DJI_0061.JPG", "DJI_0062.JPG", "outside.jpg"))
    photos.analyse_photo(p1, det=Scripted(crowd_at(0.48, 0.48) + stall_at(0.5, 0.92)))
    photos.analyse_photo(p3, det=Scripted(crowd_at(0.45, 0.45)))
    f1 = Finding.objects.get(photo=p1, kind=FindingKind.CROWD)
    f2 = Finding.objects.get(photo=p1, kind=FindingKind.VENDING)
    f3 = Finding.objects.get(photo=p3)
    assert (f1.grid, f2.grid, f3.grid) == (grids["grid1"], grids["grid2"], None), "fixture geometry"
    assert (p1.grid, p2.grid, p3.grid) == (grids["grid1"], grids["grid1"], None), "fixture geometry"
    return {"p1": p1, "p2": p2, "p3": p3, "f1": f1, "f2": f2, "f3": f3}


__all__ = [
    "GRID_SPLIT_LON",
    "OUTSIDE",
    "PHOTO_LAT",
    "PHOTO_LON",
    "Scripted",
    "bomb_png",
    "crowd_at",
    "gps_jpeg",
    "square",
    "stall_at",
    "stored_files",
]
