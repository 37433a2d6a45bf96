"""The offline basemap: `shequ basemap` builds a real PMTiles file with tippecanoe from the
registers, and /onemap/basemap.pmtiles serves it in byte ranges."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pmtiles.reader import MmapSource, Reader, all_tiles
from tests.onemap.conftest import client_for

from shequ.onemap import basemap
from shequ.onemap.views import byte_range
from shequ.registry.models import Building, Road

pytestmark = pytest.mark.django_db


def body(response: Any) -> bytes:
    """The body, whether streamed (a 206 range, a whole file) or not."""
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def var_dir(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def places(two_communities: dict[str, Any]) -> dict[str, Any]:
    g = two_communities
    Road.objects.create(
        name="新区大道",
        kind=Road.Kind.ARTERIAL,
        geometry={"type": "LineString", "coordinates": [[103.60, 36.505], [103.64, 36.505]]},
    )
    Building.objects.create(
        code="B1",
        name="1号楼",
        address="新区大道1号",
        lon=103.605,
        lat=36.507,
        grid=g["grid11"],
        footprint={
            "type": "Polygon",
            "coordinates": [
                [[103.6049, 36.5069], [103.6051, 36.5069], [103.6051, 36.5071], [103.6049, 36.5069]]
            ],
        },
    )
    Building.objects.create(
        code="B2", name="2号楼", address="新区大道2号", lon=103.625, lat=36.507, grid=g["grid21"]
    )
    return g


def test_basemap_command_builds_pmtiles_with_the_three_layers(places, var_dir, capsys):
    call_command("basemap")
    target = var_dir / "basemap.pmtiles"
    assert target.exists() and "grids 4, roads 1, buildings 2" in capsys.readouterr().out
    with target.open("rb") as f:
        reader = Reader(MmapSource(f))
        header = reader.header()
        meta = reader.metadata()
        assert (header["min_zoom"], header["max_zoom"]) == (basemap.MIN_ZOOM, basemap.MAX_ZOOM)
        layers = {layer["id"] for layer in meta["vector_layers"]}
        assert layers == {"grids", "roads", "buildings"}
        zooms = {zxy[0] for zxy, _ in all_tiles(reader.get_bytes)}
        assert zooms == set(range(basemap.MIN_ZOOM, basemap.MAX_ZOOM + 1))
    # the community lies within the file's bounds (E7 degrees)
    assert header["min_lon_e7"] <= 1036000000 <= header["max_lon_e7"]
    assert header["min_lat_e7"] <= 365050000 <= header["max_lat_e7"]


def test_a_building_without_footprint_is_a_small_square():
    geometry = basemap.square(103.6, 36.5)
    ring = geometry["coordinates"][0]
    assert geometry["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) == 5
    width_m = (ring[1][0] - ring[0][0]) * 111_320 * 0.8039  # cos(36.5°)
    assert 11 < width_m < 13


def test_basemap_served_with_ranges(places, var_dir, case_users):
    call_command("basemap")
    data = (var_dir / "basemap.pmtiles").read_bytes()
    size = len(data)
    client = client_for(case_users["operator"])
    whole = client.get("/onemap/basemap.pmtiles")
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == data
    head = client.get("/onemap/basemap.pmtiles", HTTP_RANGE="bytes=0-126")
    assert head.status_code == 206
    assert head["Content-Range"] == f"bytes 0-126/{size}"
    first = body(head)  # a streamed body is read once
    assert head["Content-Length"] == "127" and first == data[:127] and first[:7] == b"PMTiles"
    tail = client.get("/onemap/basemap.pmtiles", HTTP_RANGE="bytes=-10")
    assert tail.status_code == 206 and body(tail) == data[-10:]
    assert tail["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    rest = client.get("/onemap/basemap.pmtiles", HTTP_RANGE=f"bytes={size - 5}-")
    assert rest.status_code == 206 and body(rest) == data[-5:]
    over = client.get("/onemap/basemap.pmtiles", HTTP_RANGE=f"bytes=100-{size + 1000}")
    assert over.status_code == 206 and body(over) == data[100:]  # the end is clamped
    for bad in (f"bytes={size}-", "bytes=50-10", "bytes=-0", "bytes=abc", "bytes=-"):
        refused = client.get("/onemap/basemap.pmtiles", HTTP_RANGE=bad)
        assert refused.status_code == 416, bad
        assert refused["Content-Range"] == f"bytes */{size}"
    # If-Range with an old validator: the whole new file
    stale = client.get("/onemap/basemap.pmtiles", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"old"')
    assert stale.status_code == 200
    fresh = client.get("/onemap/basemap.pmtiles", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=whole["ETag"])
    assert fresh.status_code == 206


def test_basemap_tiles_hold_our_features(places, var_dir):
    call_command("basemap")
    with (var_dir / "basemap.pmtiles").open("rb") as f:
        reader = Reader(MmapSource(f))
        tiles = list(all_tiles(reader.get_bytes))
    z17 = [raw for (z, _x, _y), raw in tiles if z == basemap.MAX_ZOOM]
    blob = b"".join(gzip.GzipFile(fileobj=io.BytesIO(t)).read() if t[:2] == b"\x1f\x8b" else t for t in z17)
    for text in ("新区大道", "1号楼", "2号楼", "社区1第1网格"):
        assert text.encode() in blob, text


def test_basemap_missing_is_404_and_the_page_says_so(var_dir, case_users):
    client = client_for(case_users["operator"])
    assert client.get("/onemap/basemap.pmtiles").status_code == 404
    page = client.get("/onemap/")
    assert page.status_code == 200
    assert 'id="onemap-notice"' in body(page).decode()


def test_basemap_is_for_map_roles_only(places, var_dir, case_users):
    call_command("basemap")
    for who in ("worker11", "handler", "resident"):
        assert client_for(case_users[who]).get("/onemap/basemap.pmtiles").status_code == 403


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("items=0-1", None),
        ("bytes=0-1,5-6", None),
        ("bytes=0-0", (0, 0)),
        ("bytes=10-", (10, 99)),
        ("bytes=-1", (99, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes=100-", False),
        ("bytes=5-4", False),
        ("bytes=x-", False),
        # Regression: thousands of digits made int() raise (its 4,300-digit limit), a 500.
        ("bytes=" + "1" * 5000 + "-", False),
        ("bytes=0-" + "9" * 5000, (0, 99)),
        ("bytes=-" + "9" * 5000, (0, 99)),
        ("bytes=" + "0" * 5000 + "5-", (5, 99)),
        ("bytes=\u0661-", False),  # an Arabic-Indic digit is no DIGIT of RFC 9110
    ],
)
def test_byte_range_parsing(header, expected):
    assert byte_range(header, 100) == expected


def test_hostile_ranges_are_not_500s(places, var_dir, case_users):
    """Regression: a Range of thousands of digits was a 500; an If-Range naming an older file made an
    unsatisfiable range a 416, where RFC 9110 (13.2.2) ignores the Range: the whole file, 200."""
    call_command("basemap")
    size = (var_dir / "basemap.pmtiles").stat().st_size
    client = client_for(case_users["operator"])
    huge = client.get("/onemap/basemap.pmtiles", HTTP_RANGE="bytes=" + "7" * 5000 + "-")
    assert huge.status_code == 416 and huge["Content-Range"] == f"bytes */{size}"
    clamped = client.get("/onemap/basemap.pmtiles", HTTP_RANGE="bytes=0-" + "7" * 5000)
    assert clamped.status_code == 206 and len(body(clamped)) == size
    for bad in (f"bytes={size}-", "bytes=abc"):
        stale = client.get("/onemap/basemap.pmtiles", HTTP_RANGE=bad, HTTP_IF_RANGE='"old"')
        assert stale.status_code == 200, bad
        assert len(b"".join(stale.streaming_content)) == size


def test_metadata_is_json(places, var_dir):
    call_command("basemap", "--min-zoom", "12", "--max-zoom", "14")
    with (var_dir / "basemap.pmtiles").open("rb") as f:
        reader = Reader(MmapSource(f))
        assert (reader.header()["min_zoom"], reader.header()["max_zoom"]) == (12, 14)
        json.dumps(reader.metadata())
