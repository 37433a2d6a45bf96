"""Drone photos: EXIF/XMP reading, footprints, projection, refusals, the CLI — on the real DJI pair."""

from __future__ import annotations

import io
import json
import math
import struct
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Polygon

from shequ.core.geo import area_m2, bearing_deg, distance_m, local_projection
from shequ_vision.aerial import (
    PhotoError,
    camera_from_exif,
    cli_photo,
    footprint,
    headings_from_track,
    parse_dji_xmp,
    read_photo,
)
from shequ_vision.optics import CameraModel
from tests.conftest import SHARED_MEDIA
from tests.vision.conftest import _need

FC350 = CameraModel(6.17, 4.55, 3.61, 4000, 3000)


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return (
        _need(SHARED_MEDIA / "DJI_0061.JPG", "DJI_0061.JPG").read_bytes(),
        _need(SHARED_MEDIA / "DJI_0062.JPG", "DJI_0062.JPG").read_bytes(),
    )


def with_xmp(jpeg: bytes, attrs: dict[str, str]) -> bytes:
    """The JPEG with a DJI-style XMP packet in its own APP1 segment after the EXIF one."""
    body = " ".join(f'drone-dji:{k}="{v}"' for k, v in attrs.items())
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="DJI Meta Data" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
        f' xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" {body}/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    # After SOI, skip the APP0/APP1 segments already there and insert ours behind them.
    pos = 2
    while jpeg[pos] == 0xFF and jpeg[pos + 1] in (0xE0, 0xE1):
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
    return jpeg[:pos] + segment + jpeg[pos:]


def edit_exif(
    jpeg: bytes, gps: dict[int, object] | None = None, drop_gps: bool = False, **ifd0: object
) -> bytes:
    im = Image.open(io.BytesIO(jpeg))
    exif = im.getexif()
    g = exif.get_ifd(0x8825)
    if drop_gps:
        g.clear()
        del exif[0x8825]
    elif gps:
        g.update(gps)
    for key, value in ifd0.items():
        exif[int(key[1:])] = value
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif, quality=92)
    return out.getvalue()


# --- reading --------------------------------------------------------------------------------------


def test_real_photo_exif(pair: tuple[bytes, bytes]) -> None:
    m = read_photo(pair[0], name="DJI_0061.JPG")
    assert (m.width, m.height) == (2400, 1800)
    assert m.lat == pytest.approx(41 + 32 / 60 + 54.9462 / 3600, abs=1e-7)
    assert m.lon == pytest.approx(-(83 + 41 / 60 + 55.1356 / 3600), abs=1e-7)
    assert (m.alt_m, m.alt_source, m.alt_msl_m) == (
        pytest.approx(119.7),
        "gps_assumed_agl",
        pytest.approx(119.7),
    )
    assert m.heading is None and m.heading_source == "" and m.gimbal_pitch is None
    assert (m.make, m.model) == ("DJI", "FC350")
    assert m.taken_at is not None and m.taken_at.isoformat() == "2015-10-16T13:23:16+08:00"
    # The FC350 from the sensor table and the EXIF focal length, at the stored size.
    assert m.camera == CameraModel(6.17, 4.55, 3.61, 2400, 1800)
    g = read_photo(pair[0], ground_elevation_m=20.0)
    assert (g.alt_m, g.alt_source) == (pytest.approx(99.7), "gps_minus_ground")


def test_dji_xmp_read_from_a_real_jpeg(pair: tuple[bytes, bytes]) -> None:
    data = with_xmp(
        pair[0],
        {
            "AbsoluteAltitude": "+245.93",
            "RelativeAltitude": "+35.20",
            "GimbalRollDegree": "+0.00",
            "GimbalYawDegree": "-87.30",
            "GimbalPitchDegree": "-89.90",
            "FlightYawDegree": "-86.10",
        },
    )
    m = read_photo(data)
    assert (m.alt_m, m.alt_source, m.alt_msl_m) == (
        pytest.approx(35.2),
        "xmp_relative",
        pytest.approx(245.93),
    )
    assert (m.heading, m.heading_source) == (pytest.approx(272.7), "xmp_gimbal_yaw")
    assert (m.gimbal_pitch, m.gimbal_roll) == (pytest.approx(-89.9), pytest.approx(0.0))
    flight_only = read_photo(with_xmp(pair[0], {"FlightYawDegree": "+12.5"}))
    assert (flight_only.heading, flight_only.heading_source) == (pytest.approx(12.5), "xmp_flight_yaw")
    exif_dir = read_photo(edit_exif(pair[0], gps={16: "T", 17: 33.0}))
    assert (exif_dir.heading, exif_dir.heading_source) == (pytest.approx(33.0), "exif_img_direction")


def test_xmp_bomb_and_garbage_are_ignored() -> None:
    bomb = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x></x:xmpmeta>'
    )
    assert parse_dji_xmp(bomb) == {}
    assert parse_dji_xmp(b"<x:xmpmeta <<< broken </x:xmpmeta>") == {}


@pytest.mark.parametrize(
    ("make", "model", "focal", "f35", "size", "fov_x"),
    [
        ("DJI", "FC350", 3.61, 20, (2400, 1800), 81.03),  # table
        ("Acme", "X1", 4.0, 24, (4000, 3000), 71.59),  # 35 mm equivalent, 4:3 diagonal
        ("Acme", "X1", None, 24, (4000, 3000), 71.59),
    ],
)
def test_camera_from_exif(
    make: str, model: str, focal: float | None, f35: float, size: tuple[int, int], fov_x: float
) -> None:
    cam = camera_from_exif(make, model, focal, f35, *size)
    assert cam is not None and cam.fov_x_deg == pytest.approx(fov_x, abs=0.05)
    assert camera_from_exif("Acme", "X1", None, None, 100, 100) is None


def test_refusals_are_clear(pair: tuple[bytes, bytes]) -> None:
    cases = [
        (b"GIF89a not really", "photo"),
        (b"", "photo"),
        (Path(__file__).read_bytes(), "photo"),
        (pair[0][: len(pair[0]) // 2], "photo"),  # truncated
        (edit_exif(pair[0], drop_gps=True), "gps"),
        (edit_exif(pair[0], gps={6: 5000.0}), "altitude"),
        (edit_exif(pair[0], gps={6: 0.0}), "altitude"),
        (with_xmp(pair[0], {"RelativeAltitude": "nan"}), "photo-or-altitude"),
    ]
    for data, field in cases[:-1]:
        with pytest.raises(PhotoError) as info:
            read_photo(data, name="x.jpg")
        assert info.value.field == field, (field, info.value.message)
        assert "x.jpg" in info.value.message
    with pytest.raises(PhotoError) as info:
        read_photo(pair[0], max_pixels=1_000_000)  # a decompression bomb is refused before decoding
    assert info.value.field == "photo" and "过大" in info.value.message
    with pytest.raises(PhotoError) as info:
        read_photo(pair[0], altitude_m=-3)
    assert info.value.field == "altitude"


# --- footprints -----------------------------------------------------------------------------------


def local(fp_poly: list[tuple[float, float]], lon0: float, lat0: float) -> np.ndarray:
    fwd, _ = local_projection(lon0, lat0)
    x, y = fwd(np.array([p[0] for p in fp_poly]), np.array([p[1] for p in fp_poly]))
    return np.column_stack([x, y])


def test_nadir_footprint_geometry(pair: tuple[bytes, bytes]) -> None:
    m = read_photo(pair[0], camera=FC350, heading=0.0)
    fp = footprint(m)
    w, h = FC350.ground_size(m.alt_m)
    xy = local(fp.polygon, m.lon, m.lat)
    assert len(fp.polygon) == 5 and fp.polygon[0] == fp.polygon[-1]
    # North-up: top-left is north-west; the sides are the camera's ground size.
    assert xy[0, 0] == pytest.approx(-w / 2, rel=1e-6) and xy[0, 1] == pytest.approx(h / 2, rel=1e-6)
    assert xy[2, 0] == pytest.approx(w / 2, rel=1e-6) and xy[2, 1] == pytest.approx(-h / 2, rel=1e-6)
    assert Polygon(fp.polygon).exterior.is_ccw
    assert fp.gsd_m == pytest.approx(FC350.scaled(2400, 1800).gsd_m(m.alt_m), rel=1e-3)
    assert fp.centre == pytest.approx((m.lon, m.lat), abs=1e-9)
    assert fp.geojson()["type"] == "Polygon"
    # Heading 90: the image's top faces east, its right side south.
    east = footprint(replace(m, heading=90.0))
    lon, lat = east.to_ground(0.5, 0.0)
    assert bearing_deg(m.lon, m.lat, lon, lat) == pytest.approx(90.0, abs=0.01)
    assert distance_m(m.lon, m.lat, lon, lat) == pytest.approx(h / 2, rel=3e-3)
    lon, lat = east.to_ground(1.0, 0.5)
    assert bearing_deg(m.lon, m.lat, lon, lat) == pytest.approx(180.0, abs=0.01)
    # to_image inverts to_ground.
    xs, ys = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.5, 0.7])
    gx, gy = east.to_image_many(*east.to_ground_many(xs, ys))
    assert np.allclose(gx, xs, atol=1e-9) and np.allclose(gy, ys, atol=1e-9)


def test_oblique_footprint_and_horizon(pair: tuple[bytes, bytes]) -> None:
    m = read_photo(pair[0], camera=FC350, heading=0.0)
    tilt = footprint(replace(m, gimbal_pitch=-60.0))
    # The optical axis meets the ground alt / tan(60°) north of the drone.
    lon, lat = tilt.to_ground(0.5, 0.5)
    assert distance_m(m.lon, m.lat, lon, lat) == pytest.approx(m.alt_m / math.tan(math.radians(60)), rel=3e-3)
    assert bearing_deg(m.lon, m.lat, lon, lat) == pytest.approx(0.0, abs=0.01)
    xy = local(tilt.polygon, m.lon, m.lat)
    top, bottom = np.linalg.norm(xy[3] - xy[0]), np.linalg.norm(xy[2] - xy[1])
    assert top > bottom  # a trapezoid: the far edge is the wider one
    assert tilt.gsd_m > footprint(m).gsd_m
    rolled = footprint(replace(m, gimbal_roll=10.0))
    lon, lat = rolled.to_ground(0.5, 0.5)
    assert bearing_deg(m.lon, m.lat, lon, lat) == pytest.approx(
        270.0, abs=0.01
    )  # right side down: looks left
    for pitch in (-20.0, 0.0, 10.0):
        with pytest.raises(PhotoError) as info:
            footprint(replace(m, gimbal_pitch=pitch))
        assert info.value.field == "gimbal"
    with pytest.raises(PhotoError) as info:
        footprint(replace(m, camera=None))
    assert info.value.field == "camera"


def test_exif_orientation_keeps_the_ground(pair: tuple[bytes, bytes]) -> None:
    """A copy stored rotated (orientation 8) shows the same ground: the same physical corner maps
    to the same place, the stored (upright) size is portrait."""
    base = read_photo(pair[0], heading=272.0)
    im = Image.open(io.BytesIO(pair[0]))
    exif = im.getexif()
    exif[0x0112] = 8  # stored rotated 90° clockwise: displaying it rotates back 90° counter-clockwise
    rotated = im.transpose(Image.Transpose.ROTATE_270)
    out = io.BytesIO()
    rotated.save(out, "JPEG", exif=exif, quality=92)
    turned = read_photo(out.getvalue(), heading=272.0)
    assert (turned.width, turned.height) == (2400, 1800) and turned.orientation == 8
    a, b = footprint(base), footprint(turned)
    for x, y in ((0.0, 0.0), (1.0, 0.0), (0.3, 0.8)):
        assert distance_m(*a.to_ground(x, y), *b.to_ground(x, y)) < 0.01


def test_headings_from_track(pair: tuple[bytes, bytes]) -> None:
    metas = [read_photo(d) for d in pair]
    filled = headings_from_track(list(reversed(metas)))  # time order wins over list order
    assert [m.heading_source for m in filled] == ["track", "track"]
    assert filled[0].heading == pytest.approx(272.2, abs=0.5)  # the drone flew west
    assert filled[0].heading == filled[1].heading
    kept = headings_from_track([replace(metas[0], heading=10.0, heading_source="given"), metas[1]])
    assert kept[0].heading == 10.0 and kept[1].heading_source == "track"
    assert headings_from_track([metas[0]])[0].heading is None  # one photo: no track


# --- the real overlapping pair --------------------------------------------------------------------


def test_real_pair_ground_positions_agree(pair: tuple[bytes, bytes]) -> None:
    """Features matched between the two real photos land on the same ground through each photo's
    own footprint (GPS, altitude, heading from the track): a few metres apart at most."""
    metas = headings_from_track([read_photo(d) for d in pair])
    fps = [footprint(m) for m in metas]
    grays = [np.asarray(cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_GRAYSCALE)) for d in pair]
    orb = cv2.ORB.create(4000)
    (k1, d1), (k2, d2) = (orb.detectAndCompute(g, None) for g in grays)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d1, d2)
    p1 = np.array([k1[m.queryIdx].pt for m in matches], np.float32)
    p2 = np.array([k2[m.trainIdx].pt for m in matches], np.float32)
    hom, mask = cv2.findHomography(p1, p2, cv2.RANSAC, 3.0)
    keep = mask.ravel() == 1
    assert keep.sum() >= 100
    p1, p2 = p1[keep], p2[keep]
    g1 = fps[0].to_ground_many(p1[:, 0] / 2400, p1[:, 1] / 1800)
    g2 = fps[1].to_ground_many(p2[:, 0] / 2400, p2[:, 1] / 1800)
    err = np.array([distance_m(g1[0][i], g1[1][i], g2[0][i], g2[1][i]) for i in range(len(p1))])
    assert np.median(err) < 3.0 and np.percentile(err, 90) < 6.0, (np.median(err), np.percentile(err, 90))

    # The footprints' centres are offset exactly as the GPS positions are.
    c1, c2 = fps[0].centre, fps[1].centre
    gps = distance_m(metas[0].lon, metas[0].lat, metas[1].lon, metas[1].lat)
    assert gps == pytest.approx(22.0, abs=1.5)
    assert distance_m(*c1, *c2) == pytest.approx(gps, abs=0.01)
    # The footprints overlap by as much as the images do (photo 1 warped into photo 2).
    corners = np.array([[0, 0], [2400, 0], [2400, 1800], [0, 1800]], np.float32).reshape(-1, 1, 2)
    warped = Polygon(cv2.perspectiveTransform(corners, hom).reshape(-1, 2))
    image_share = warped.intersection(Polygon(corners.reshape(-1, 2))).area / (2400 * 1800)
    a, b = Polygon(fps[0].polygon), Polygon(fps[1].polygon)
    ground_share = area_m2(a.intersection(b)) / area_m2(b)
    assert ground_share == pytest.approx(image_share, abs=0.05), (ground_share, image_share)


# --- command line ---------------------------------------------------------------------------------


def test_cli_photo_json_and_batch_errors(
    pair: tuple[bytes, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"hello")
    nogps = tmp_path / "nogps.jpg"
    nogps.write_bytes(edit_exif(pair[0], drop_gps=True))
    files = [str(SHARED_MEDIA / "DJI_0061.JPG"), str(bad), str(nogps), str(SHARED_MEDIA / "DJI_0062.JPG")]
    out, err = io.StringIO(), io.StringIO()
    assert cli_photo([*files, "--json", "--detector", "none"], out=out, err=err) == 1
    rows = json.loads(out.getvalue())
    assert [r["file"] for r in rows] == files
    assert rows[1]["error"]["field"] == "photo" and rows[2]["error"]["field"] == "gps"
    assert "notes.jpg" in err.getvalue() and "nogps.jpg" in err.getvalue()
    ok = rows[0]
    assert ok["heading_source"] == "track" and ok["heading"] == pytest.approx(272.2, abs=0.5)
    assert ok["alt_source"] == "gps_assumed_agl" and ok["gsd_cm"] == pytest.approx(8.53, abs=0.05)
    assert len(ok["footprint"]["coordinates"][0]) == 5 and ok["detections"] == []
    out = io.StringIO()
    assert cli_photo([files[0], files[3], "--ground", "19.7", "--detector", "none"], out=out, err=err) == 0
    assert "gps_minus_ground" in out.getvalue() and "100.0 m above ground" in out.getvalue()
    assert cli_photo([], out=out, err=io.StringIO()) == 2
    assert cli_photo([files[0], "--detector", "yolo"], out=out, err=io.StringIO()) == 2
    capsys.readouterr()
