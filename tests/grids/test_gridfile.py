import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from shapely.geometry import MultiPolygon, Point, Polygon

from shequ.grids.gridfile import (
    GridFileReport,
    ProblemKind,
    read_grid_file,
)

DATA = Path(__file__).parent / "data"
COMMUNITY = "620171103001"
GRIDS = [f"{COMMUNITY}0{i}" for i in range(1, 5)]


def read(name: str, **kwargs) -> GridFileReport:
    return read_grid_file((DATA / name).read_bytes(), name, **kwargs)


def read_json(doc: dict, filename: str = "grids.geojson") -> GridFileReport:
    return read_grid_file(json.dumps(doc, ensure_ascii=False).encode(), filename)


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def kinds(problems) -> list[tuple[str, str | None]]:
    return [(p.kind, p.code) for p in problems]


def square(x: float, y: float, size: float = 0.005) -> list:
    return [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]


def feature(code, name="网格", coords=None, **props) -> dict:
    props = {"code": code, "name": name, **props} if code is not None else {"name": name, **props}
    geometry = {"type": "Polygon", "coordinates": coords or square(103.68, 36.50)}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def kml(placemarks: str) -> bytes:
    return f'<kml xmlns="http://www.opengis.net/kml/2.2"><Document>{placemarks}</Document></kml>'.encode()


# --- valid files ---------------------------------------------------------------------------------


def test_valid_geojson_tiles_its_community():
    report = read("valid.geojson")

    assert report.ok, report.errors
    assert [f.code for f in report.features] == [COMMUNITY, *GRIDS]
    assert [f.level for f in report.features] == ["community"] + ["grid"] * 4
    assert [f.parent_code for f in report.features] == ["620171103"] + [COMMUNITY] * 4
    assert [f.name for f in report.features][:2] == ["示例社区", "第一网格"]
    # WGBM / WGMC aliases are mapped; other properties are kept.
    fourth = report.features[4]
    assert (fourth.code, fourth.name) == (GRIDS[3], "第四网格")
    assert fourth.extra == {"网格员": "张三", "households": 312}
    assert isinstance(fourth.geometry, Polygon)
    assert fourth.geometry.bounds == pytest.approx((103.685, 36.505, 103.69, 36.51))
    # The street (西岔镇) is not in the file: a warning only.
    assert kinds(report.warnings) == [(ProblemKind.PARENT_MISSING, COMMUNITY)]
    assert report.warnings[0].other_code == "620171103"
    assert report.warnings[0].feature_index == 0


def test_format_is_detected_from_content_not_filename():
    geojson = (DATA / "valid.geojson").read_bytes()
    assert read_grid_file(geojson, "grids.kml").ok
    assert read_grid_file((DATA / "valid.kml").read_bytes(), "export.json").ok
    assert read_grid_file((DATA / "valid.kmz").read_bytes(), "export.geojson").ok


def test_geojson_with_bom_and_gbk_encoding():
    text = (DATA / "valid.geojson").read_text(encoding="utf-8")
    assert read_grid_file("\ufeff".encode() + text.encode(), "bom.geojson").features[1].name == "第一网格"
    assert read_grid_file(text.encode("gbk"), "gbk.geojson").features[1].name == "第一网格"
    assert read_grid_file(text.encode("utf-16"), "utf16.geojson").ok


def test_single_feature_with_numeric_code_and_lowercase_aliases():
    doc = feature(None, wgbm=62017110300101, wgmc="一号网格", LEVEL="网格")
    del doc["properties"]["name"]
    report = read_json(doc)

    assert report.ok, report.errors
    [grid] = report.features
    assert (grid.code, grid.name, grid.level, grid.parent_code, grid.extra) == (
        "62017110300101",
        "一号网格",
        "grid",
        None,
        {},
    )


def test_multipolygon_keeps_its_parts():
    doc = feature("62017110300101")
    doc["geometry"] = {"type": "MultiPolygon", "coordinates": [square(103.68, 36.50), square(103.70, 36.50)]}
    report = read_json(doc)

    assert report.ok, report.errors
    assert isinstance(report.features[0].geometry, MultiPolygon)
    assert len(report.features[0].geometry.geoms) == 2


def test_canonical_property_wins_over_alias():
    report = read_json(feature("62017110300101", "正式名称", wgmc="别名"))
    assert report.features[0].name == "正式名称"
    assert report.features[0].extra == {"wgmc": "别名"}


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("620171", "district"),
        ("620171103", "street"),
        ("620171103001", "community"),
        ("62017110300101", "grid"),
    ],
)
def test_level_from_code_length(code, level):
    assert read_json(feature(code)).features[0].level == level


@pytest.mark.parametrize(
    ("given", "level"), [("Community", "community"), ("单元网格", "grid"), ("乡镇", "street")]
)
def test_level_property_overrides_code_length(given, level):
    report = read_json(feature("6201711030010101", level=given))
    assert report.ok
    assert report.features[0].level == level


@pytest.mark.parametrize(("code", "given"), [("6201711030010101", None), ("62017110300101", "小区")])
def test_unknown_level(code, given):
    report = read_json(feature(code, **({"level": given} if given else {})))
    assert kinds(report.errors) == [(ProblemKind.BAD_LEVEL, code)]
    assert report.features == []


def test_valid_kml():
    report = read("valid.kml")

    assert report.ok, report.errors
    assert [(f.code, f.name, f.parent_code, f.level) for f in report.features] == [
        (GRIDS[0], "第一网格", COMMUNITY, "grid"),
        (GRIDS[1], "第二网格", COMMUNITY, "grid"),
    ]
    assert report.features[0].extra == {"网格员": "张三"}
    assert report.features[1].geometry.equals(Polygon(square(103.685, 36.50)[0]))
    assert kinds(report.warnings) == [
        (ProblemKind.PARENT_MISSING, GRIDS[0]),
        (ProblemKind.PARENT_MISSING, GRIDS[1]),
    ]


def test_kmz_reads_doc_kml():
    kmz, plain = read("valid.kmz"), read("valid.kml")
    assert kmz.ok
    assert [(f.code, f.name, f.geometry.wkt) for f in kmz.features] == [
        (f.code, f.name, f.geometry.wkt) for f in plain.features
    ]


def test_kml_code_from_name():
    ring = "103.68,36.50 103.685,36.50 103.685,36.505 103.68,36.505 103.68,36.50"
    boundary = (
        f"<outerBoundaryIs><LinearRing><coordinates>{ring}</coordinates></LinearRing></outerBoundaryIs>"
    )
    polygon = f"<Polygon>{boundary}</Polygon>"
    report = read_grid_file(
        kml(f"<Placemark><name>62017110300101 第一网格</name>{polygon}</Placemark>"), "a.kml"
    )

    assert report.ok, report.errors
    assert (report.features[0].code, report.features[0].name) == ("62017110300101", "第一网格")


# --- per-feature problems ------------------------------------------------------------------------


def test_bowtie_is_a_self_intersection_with_location():
    report = read("bowtie.geojson")

    assert kinds(report.errors) == [(ProblemKind.SELF_INTERSECTION, GRIDS[0])]
    assert report.errors[0].feature_index == 0
    assert report.errors[0].location == pytest.approx((103.6825, 36.5025))
    assert [f.code for f in report.features] == GRIDS[:2]
    assert not report.ok


def test_missing_code():
    report = read("missing_code.geojson")

    assert kinds(report.errors) == [(ProblemKind.MISSING_PROPERTY, None)]
    assert report.errors[0].feature_index == 1
    assert "'code'" in report.errors[0].message
    assert report.errors[0].location == (103.685, 36.5)
    assert [f.code for f in report.features] == [GRIDS[0]]


def test_blank_code_is_missing():
    report = read_json(feature("  "))
    assert kinds(report.errors) == [(ProblemKind.MISSING_PROPERTY, None)]


def test_missing_name():
    report = read_json(feature("62017110300101", name="  "))
    assert kinds(report.errors) == [(ProblemKind.MISSING_PROPERTY, "62017110300101")]
    assert report.features == []


def test_duplicate_code():
    report = read("duplicate_code.geojson")

    assert kinds(report.errors) == [(ProblemKind.DUPLICATE_CODE, GRIDS[0])]
    assert report.errors[0].feature_index == 1
    assert "#0" in report.errors[0].message


@pytest.mark.parametrize(
    "code", ["6201711030010A", "12345", "620171-103", "６２０１７１", 6.2e13, True, "1" * 21]
)
def test_bad_codes(code):
    report = read_json(feature(code))
    assert kinds(report.errors) == [(ProblemKind.BAD_CODE, None)]


def test_bad_parent_code():
    report = read_json(feature("62017110300101", parent_code="社区"))
    assert kinds(report.errors) == [(ProblemKind.BAD_CODE, "62017110300101")]
    assert "parent_code" in report.errors[0].message


def test_parent_code_equal_to_own_code():
    report = read_json(feature("62017110300101", parent_code="62017110300101"))
    assert kinds(report.errors) == [(ProblemKind.BAD_CODE, "62017110300101")]


def test_swapped_lat_lon():
    report = read("swapped.geojson")

    assert kinds(report.errors) == [(ProblemKind.OUT_OF_RANGE, GRIDS[0])]
    assert "swapped" in report.errors[0].message
    assert report.errors[0].location == (36.5, 103.68)


def test_projected_coordinates():
    coords = square(13_400_000.0, 4_370_000.0, 500.0)
    report = read_json(feature("62017110300101", coords=coords))
    assert kinds(report.errors) == [(ProblemKind.OUT_OF_RANGE, "62017110300101")]
    assert "projected" in report.errors[0].message


def test_outside_china_is_a_warning():
    report = read_json(feature("62017110300101", coords=square(139.70, 35.68)))  # Tokyo
    assert report.ok
    assert kinds(report.warnings) == [(ProblemKind.OUT_OF_RANGE, "62017110300101")]


@pytest.mark.parametrize(
    ("coords", "words"),
    [
        ([[[103.68, 36.50], [103.69, 36.50], [103.69, 36.51], [103.68, 36.51]]], "not closed"),
        ([[[103.68, 36.50], [103.69, 36.50], [103.68, 36.50]]], "at least 4"),
        ([[[103.68, 36.50], [103.69, 36.50], [103.70, 36.50], [103.68, 36.50]]], "zero area"),
        ([[[103.68, 36.50], [103.69, 36.50], [103.69, "x"], [103.68, 36.50]]], "malformed position"),
        (
            [[[103.68, 36.5], [103.69, 36.51], [103.68, 36.500000001], [103.67, 36.51], [103.68, 36.5]]],
            "only 0.",
        ),
        (
            [square(103.68, 36.50, 0.01)[0], square(103.70, 36.50, 0.001)[0]],
            "Hole lies outside shell",
        ),
    ],
)
def test_bad_geometry(coords, words):
    report = read_json(feature("62017110300101", coords=coords))
    assert kinds(report.errors) == [(ProblemKind.BAD_GEOMETRY, "62017110300101")]
    assert words in report.errors[0].message


def test_unsupported_geometry_type():
    doc = feature("62017110300101")
    doc["geometry"] = {"type": "Point", "coordinates": [103.68, 36.5]}
    report = read_json(doc)
    assert kinds(report.errors) == [(ProblemKind.BAD_GEOMETRY, "62017110300101")]
    assert "'Point'" in report.errors[0].message


def test_kml_placemark_without_code_and_loose_coordinates():
    ring = "103.68, 36.50  103.685, 36.50\n103.685, 36.505 103.68, 36.505 103.68, 36.50"
    boundary = (
        f"<outerBoundaryIs><LinearRing><coordinates>{ring}</coordinates></LinearRing></outerBoundaryIs>"
    )
    report = read_grid_file(
        kml(f"<Placemark><name>第一网格</name><Polygon>{boundary}</Polygon></Placemark>"), "a.kml"
    )
    assert kinds(report.errors) == [(ProblemKind.MISSING_PROPERTY, None)]
    assert report.errors[0].location == (103.68, 36.5)


def test_kml_placemark_without_polygon():
    report = read_grid_file(kml("<Placemark><name>62017110300101</name><Point/></Placemark>"), "a.kml")
    assert kinds(report.errors) == [(ProblemKind.BAD_GEOMETRY, "62017110300101")]


# --- overlaps and gaps ---------------------------------------------------------------------------


def test_overlap_between_grids():
    report = read("overlap.geojson")

    assert kinds(report.errors) == [(ProblemKind.OVERLAP, GRIDS[0])]
    [problem] = report.errors
    assert problem.other_code == GRIDS[1]
    assert GRIDS[0] in problem.message and GRIDS[1] in problem.message
    # 0.001° of longitude × 0.005° of latitude at 36.5°N.
    assert problem.area_m2 == pytest.approx(89.4 * 556.0, rel=0.01)
    assert Polygon(square(103.684, 36.50)[0]).contains(Point(problem.location))


def test_gap_between_grids():
    report = read("gap.geojson")

    assert kinds(report.errors) == [(ProblemKind.GAP, None)]
    [problem] = report.errors
    assert problem.area_m2 == pytest.approx(89.4 * 111.2, rel=0.01)
    assert Polygon(square(103.681, 36.501, 0.001)[0]).contains(Point(problem.location))
    assert all(code in problem.message for code in GRIDS)


def test_gap_inside_parent_is_reported_once_against_the_parent():
    doc = load("gap.geojson")
    for item in doc["features"]:
        item["properties"]["parent_code"] = COMMUNITY
    doc["features"].append(feature(COMMUNITY, "社区", square(103.68, 36.50, 0.003)))
    report = read_json(doc)

    assert kinds(report.errors) == [(ProblemKind.GAP, COMMUNITY)]
    assert report.errors[0].area_m2 == pytest.approx(89.4 * 111.2, rel=0.01)
    assert report.errors[0].feature_index == 4


def test_missing_child_leaves_a_gap_in_the_parent():
    doc = load("valid.geojson")
    del doc["features"][4]
    report = read_json(doc)

    assert kinds(report.errors) == [(ProblemKind.GAP, COMMUNITY)]
    assert Polygon(square(103.685, 36.505)[0]).contains(Point(report.errors[0].location))


def test_child_sticking_out_of_its_parent():
    doc = load("valid.geojson")
    doc["features"][4]["geometry"]["coordinates"] = [
        [[103.685, 36.505], [103.691, 36.505], [103.691, 36.51], [103.685, 36.51], [103.685, 36.505]]
    ]
    report = read_json(doc)

    assert kinds(report.errors) == [(ProblemKind.OVERLAP, GRIDS[3])]
    assert report.errors[0].other_code == COMMUNITY
    assert "outside parent" in report.errors[0].message
    assert report.errors[0].area_m2 == pytest.approx(89.4 * 556.0, rel=0.01)


def test_grids_of_different_levels_may_overlap():
    doc = load("valid.geojson")
    for item in doc["features"]:
        item["properties"].pop("parent_code", None)
    report = read_json(doc)
    assert report.ok and report.warnings == []


def test_invalid_grid_does_not_also_leave_a_gap():
    doc = load("gap.geojson")
    doc["features"].append(
        feature(
            "62017110300105",
            coords=[
                [
                    [103.681, 36.501],
                    [103.682, 36.502],
                    [103.682, 36.501],
                    [103.681, 36.502],
                    [103.681, 36.501],
                ]
            ],
        )
    )
    report = read_json(doc)
    assert kinds(report.errors) == [(ProblemKind.SELF_INTERSECTION, "62017110300105")]


def test_slivers_below_tolerance_are_ignored():
    # Neighbours overlapping by 1e-6° (~0.1 m) along a 550 m edge: ~0.5 m² in total.
    a = feature("62017110300101", coords=square(103.68, 36.50))
    b = feature("62017110300102", coords=square(103.685 - 1e-8, 36.50))
    assert read_json(collection(a, b)).ok


def test_ten_thousand_grids_are_checked_quickly():
    size = 0.001
    features = [
        feature(f"620171103{row:03d}{col:02d}", coords=square(103.0 + col * size, 36.0 + row * size, size))
        for row in range(100)
        for col in range(100)
    ]
    # One overlap and one hole, to be found among them.
    features[5050]["geometry"]["coordinates"] = square(103.0 + 50 * size + size / 2, 36.0 + 50 * size, size)
    started = time.perf_counter()
    report = read_json(collection(*features))
    elapsed = time.perf_counter() - started

    assert len(report.features) == 10_000
    assert {p.kind for p in report.errors} == {ProblemKind.OVERLAP, ProblemKind.GAP}
    assert elapsed < 10, elapsed


# --- hostile or unreadable files -----------------------------------------------------------------


def test_billion_laughs_is_rejected_quickly():
    started = time.perf_counter()
    report = read("billion_laughs.kml")

    assert time.perf_counter() - started < 2
    assert kinds(report.errors) == [(ProblemKind.FORMAT, None)]
    assert "entity" in report.errors[0].message
    assert report.features == []


def test_external_entity_is_rejected():
    payload = b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]><kml>&x;</kml>'
    report = read_grid_file(payload, "xxe.kml")
    assert kinds(report.errors) == [(ProblemKind.FORMAT, None)]


def test_zip_bomb_is_rejected():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", b" " * 2_000_000)
    data = buffer.getvalue()
    assert len(data) < 10_000

    report = read_grid_file(data, "bomb.kmz", max_uncompressed_bytes=1_000_000)
    assert kinds(report.errors) == [(ProblemKind.FORMAT, None)]
    assert "uncompressed" in report.errors[0].message


def test_zip_bomb_with_lying_size_header_is_rejected():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", b" " * 2_000_000)
    # Rewrite the declared uncompressed size (central directory and local header) to 100 bytes.
    data = bytearray(buffer.getvalue())
    real = (2_000_000).to_bytes(4, "little")
    start = 0
    while (at := data.find(real, start)) != -1:
        data[at : at + 4] = (100).to_bytes(4, "little")
        start = at + 4
    report = read_grid_file(bytes(data), "bomb.kmz", max_uncompressed_bytes=1_000_000)
    assert kinds(report.errors) == [(ProblemKind.FORMAT, None)]


def test_too_large_file():
    report = read("valid.geojson", max_bytes=100)
    assert kinds(report.errors) == [(ProblemKind.FORMAT, None)]
    assert "limit" in report.errors[0].message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x01\x02\xff\xfe garbage", "not a GeoJSON, KML or KMZ"),
        (b"", "not a GeoJSON, KML or KMZ"),
        (b"{not json", "invalid JSON"),
        (b'{"type": "Polygon", "coordinates": []}', "FeatureCollection"),
        (b'{"type": "FeatureCollection", "features": []}', "no grid features"),
        (b"<kml><Document>", "invalid XML"),
        (b"<gpx></gpx>", "not <kml>"),
        (b"PK\x03\x04 truncated zip", "cannot read the KMZ"),
        (b"[" * 100_000, "not a GeoJSON"),
        (b'{"a":' * 100_000, "invalid JSON"),
    ],
)
def test_unreadable_files(data, words):
    report = read_grid_file(data, "upload.bin")
    assert kinds(report.errors) == [(ProblemKind.FORMAT, None)]
    assert words in report.errors[0].message
    assert report.features == []


def test_kmz_without_kml():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("grids.shp", b"\x00" * 10)
    report = read_grid_file(buffer.getvalue(), "grids.kmz")
    assert kinds(report.errors) == [(ProblemKind.FORMAT, None)]
    assert "no .kml" in report.errors[0].message


def test_non_feature_item_in_collection():
    report = read_json(collection(feature("62017110300101"), {"type": "Point"}))
    assert kinds(report.errors) == [(ProblemKind.FORMAT, None)]
    assert report.errors[0].feature_index == 1
    assert len(report.features) == 1
