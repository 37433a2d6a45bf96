"""Evidence photos: only real images are kept (decoded in full first), with their EXIF GPS and time;
a refused upload leaves no file and no row. Checked against real drone photos (../shared/media)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from shequ.cases.models import Case, Evidence, Source
from shequ.cases.services import intake
from shequ.core.errors import Forbidden, Invalid
from shequ.core.models import AuditEntry
from tests.cases.conftest import IN_GRID11, make_jpeg, stored_files
from tests.conftest import SHARED_MEDIA

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
DRONE_PHOTOS = [SHARED_MEDIA / "DJI_0061.JPG", SHARED_MEDIA / "DJI_0062.JPG"]
EXIFTOOL = {
    "DJI_0061.JPG": (41.5485961666667, -83.6986487777778),
    "DJI_0062.JPG": (41.5486038333333, -83.6989119722222),
}


def raw_exif_gps(path: Path) -> tuple[float, float]:
    """(lon, lat) read straight from the file's bytes, without Pillow: the JPEG APP1 segment, its
    TIFF header, IFD0's GPS pointer, and the GPS IFD's refs and RATIONAL triples, in exact fractions
    — the arithmetic exiftool's -n output does."""
    data = path.read_bytes()
    at = 2
    while True:
        assert data[at] == 0xFF, "not a JPEG segment"
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2 : at + 4])[0]
        if marker == 0xE1 and data[at + 4 : at + 10] == b"Exif\0\0":
            tiff = data[at + 10 : at + 2 + length]
            break
        at += 2 + length
    order = "<" if tiff[:2] == b"II" else ">"

    def ifd(offset: int) -> dict[int, tuple[int, int, bytes]]:
        (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
        entries = {}
        for i in range(count):
            start = offset + 2 + 12 * i
            tag, kind, n, value = struct.unpack(order + "HHI4s", tiff[start : start + 12])
            entries[tag] = (kind, n, value)
        return entries

    ifd0 = ifd(struct.unpack(order + "I", tiff[4:8])[0])
    gps = ifd(struct.unpack(order + "I", ifd0[0x8825][2])[0])

    def degrees(tag: int) -> Fraction:
        kind, n, value = gps[tag]
        assert (kind, n) == (5, 3)  # three RATIONALs: degrees, minutes, seconds
        (offset,) = struct.unpack(order + "I", value)
        d, m, s = (
            Fraction(*struct.unpack(order + "II", tiff[offset + 8 * i : offset + 8 * i + 8]))
            for i in range(3)
        )
        return d + m / 60 + s / 3600

    lat, lon = degrees(2), degrees(4)
    if gps[1][2][:1] == b"S":
        lat = -lat
    if gps[3][2][:1] == b"W":
        lon = -lon
    return float(lon), float(lat)


@pytest.fixture
def case(case_users: dict[str, Any]) -> Case:
    found, _ = intake.report_case(
        actor=case_users["worker11"],
        source=Source.GRID_WORKER,
        description="无人机巡查发现",
        lon=IN_GRID11[0],
        lat=IN_GRID11[1],
    )
    return found


@pytest.mark.parametrize("path", DRONE_PHOTOS, ids=lambda p: p.name)
def test_real_drone_photo_keeps_its_gps_time_and_bytes(case, case_users, case_media, path):
    with path.open("rb") as upload:
        evidence = intake.add_evidence(
            case, upload, actor=case_users["worker11"], kind=Evidence.Kind.SNAPSHOT
        )
    expected_lon, expected_lat = raw_exif_gps(path)
    assert evidence.lon == pytest.approx(expected_lon, abs=1e-9)
    assert evidence.lat == pytest.approx(expected_lat, abs=1e-9)
    # And by a second method: what `exiftool -n -GPSLatitude -GPSLongitude` (12.57) prints for these
    # files, the ODM test field in Ohio; west of Greenwich is negative.
    assert (evidence.lat, evidence.lon) == pytest.approx(EXIFTOOL[path.name], abs=1e-12)
    evidence.refresh_from_db()
    assert evidence.taken_at is not None
    assert (
        evidence.taken_at.astimezone(SHANGHAI).replace(tzinfo=None)
        == {
            "DJI_0061.JPG": dt.datetime(2015, 10, 16, 13, 23, 16),
            "DJI_0062.JPG": dt.datetime(2015, 10, 16, 13, 23, 23),
        }[path.name]
    )
    data = path.read_bytes()
    assert (evidence.width, evidence.height, evidence.content_type) == (2400, 1800, "image/jpeg")
    assert (evidence.size, evidence.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert evidence.file.name.endswith(".jpg") and evidence.file.read() == data
    assert stored_files(case_media) == [Path(evidence.file.path)]
    assert AuditEntry.objects.filter(action="case.evidence", target_id=str(case.pk)).count() == 1


def test_south_and_east_and_the_exif_offset(case, case_users):
    photo = make_jpeg(gps=("S", (33.0, 51.0, 54.0), "E", (151.0, 12.0, 36.0)), taken="2026:11:29 08:15:00")
    evidence = intake.add_evidence(case, SimpleUploadedFile("x.jpg", photo), actor=case_users["worker11"])
    assert (evidence.lon, evidence.lat) == (pytest.approx(151.21), pytest.approx(-33.865))
    assert evidence.taken_at == dt.datetime(2026, 11, 29, 8, 15, tzinfo=SHANGHAI)
    shot = intake.inspect_photo(photo)
    assert shot.taken_at is not None and shot.taken_at.utcoffset() == dt.timedelta(hours=8)


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_are_kept(case, case_users, fmt, content_type):
    evidence = intake.add_evidence(case, make_jpeg((30, 20), fmt=fmt), actor=case_users["worker11"])
    assert (evidence.content_type, evidence.width, evidence.height) == (content_type, 30, 20)
    assert (evidence.lon, evidence.taken_at) == (None, None)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge image in a few bytes: what a decompression bomb looks like."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def refused_uploads() -> list[Any]:
    drone = DRONE_PHOTOS[0].read_bytes()
    return [
        pytest.param(b"%PDF-1.4 not an image", "不是", id="not-an-image"),
        pytest.param((SHARED_MEDIA / "people-detection.gif").read_bytes(), "不是", id="gif"),
        pytest.param(drone[: len(drone) // 2], "损坏", id="truncated-jpeg"),
        pytest.param(make_jpeg(fmt="PNG")[:-30], "损坏", id="truncated-png"),
        pytest.param(png_header_only(20_000, 20_000), "像素", id="bomb"),
        pytest.param(b"", "空", id="empty"),
    ]


@pytest.mark.parametrize(("upload", "says"), refused_uploads())
def test_refused_uploads_leave_no_file_and_no_row(case, case_users, case_media, upload, says):
    before = (Evidence.objects.count(), AuditEntry.objects.count())
    with pytest.raises(Invalid) as err:
        intake.add_evidence(case, SimpleUploadedFile("photo.jpg", upload), actor=case_users["worker11"])
    assert says in err.value.message and err.value.field == "photo"
    assert (Evidence.objects.count(), AuditEntry.objects.count()) == before
    assert stored_files(case_media) == []


def test_the_size_limit_is_a_setting(case, case_users, case_media, settings):
    settings.CASE_PHOTO_MAX_MB = 1
    with pytest.raises(Invalid) as err, DRONE_PHOTOS[0].open("rb") as upload:
        intake.add_evidence(case, upload, actor=case_users["worker11"])
    assert "1 MB" in err.value.message
    # Without a size attribute the read stops just past the limit, with the same answer.
    with pytest.raises(Invalid):
        intake.add_evidence(case, io.BufferedReader(DRONE_PHOTOS[0].open("rb")), actor=case_users["worker11"])
    assert Evidence.objects.count() == 0 and stored_files(case_media) == []


def test_who_may_add_photos(case, case_users, case_media):
    for outsider in (case_users["worker21"], case_users["resident"], case_users["handler"]):
        with pytest.raises(Forbidden):
            intake.add_evidence(case, make_jpeg(), actor=outsider)
    assert stored_files(case_media) == []
    intake.add_evidence(case, make_jpeg(), actor=case_users["operator"])
    resident = case_users["resident"]
    own, _ = intake.report_case(actor=resident, source=Source.RESIDENT, description="楼道堆物")
    intake.add_evidence(own, make_jpeg(), actor=resident)
    with pytest.raises(Invalid):
        intake.add_evidence(own, make_jpeg(), actor=resident, kind="selfie")


def test_a_report_with_the_drone_photos(case_users, case_media):
    photos = [p.open("rb") for p in DRONE_PHOTOS]
    try:
        found, created = intake.report_case(
            actor=case_users["operator"],
            source=Source.DRONE,
            description="无人机巡查发现屋顶违建",
            lon=IN_GRID11[0],
            lat=IN_GRID11[1],
            photos=photos,
        )
    finally:
        for f in photos:
            f.close()
    assert created
    kept = list(found.evidence.order_by("id"))
    assert [e.taken_at.astimezone(SHANGHAI).second for e in kept if e.taken_at] == [16, 23]
    assert {e.history.action for e in kept if e.history} == {"report"}
    assert len(stored_files(case_media)) == 2


def test_a_report_without_a_location_is_placed_by_its_photo(case_users, case_media):
    # No GPS fix in the browser: the first geotagged photo says where it was taken (EXIF is WGS-84).
    with DRONE_PHOTOS[0].open("rb") as photo:
        found, created = intake.report_case(
            actor=case_users["operator"], source=Source.DRONE, description="无人机照片", photos=[photo]
        )
    lat, lon = EXIFTOOL["DJI_0061.JPG"]
    assert created and found.lon == pytest.approx(lon, abs=1e-9) and found.lat == pytest.approx(lat, abs=1e-9)
    assert found.grid_id is None  # Ohio is in none of the test grids
