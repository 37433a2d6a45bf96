"""Tests for shequ.core.geo: pure functions, no Django."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from shequ.core import geo
from shequ.core.geo import CRS, GridIndex

# --- Published reference pairs -------------------------------------------------------------------

# googollee/eviltransform, python/test.py and go/transform_test.go (TESTS: wgsLat, wgsLng, gcjLat, gcjLng),
# reordered here to (lon, lat). Full double precision, so they pin the forward formula exactly.
EVILTRANSFORM_WGS_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]

# hujiulong/gcoord, test/unit/crs/{WGS84,GCJ02,BD09}.spec.ts, all from the point [123, 45].
# gcoord asserts them with toBeCloseTo(x, 5), i.e. |diff| < 5e-6; its GCJ->WGS stops iterating at 1e-6
# and its BD->GCJ is the one-step inverse, so those two get that tolerance, the forward ones far less.
GCOORD_123_45 = [
    (geo.wgs84_to_gcj02, (123.00607541, 45.00197815), 2e-8),
    (geo.wgs84_to_bd09, (123.0124491, 45.0083293), 2e-7),
    (geo.gcj02_to_bd09, (123.00636499, 45.00636899), 2e-8),
    (geo.gcj02_to_wgs84, (122.99395597, 44.99804071), 5e-6),
    (geo.bd09_to_gcj02, (122.99363304, 44.99365430), 5e-6),
    (geo.bd09_to_wgs84, (122.98762210, 44.99171540), 5e-6),
]

# hujiulong/gcoord, test/fixtures/china-cities.json: (WGS84, GCJ02, BD09) per city, 7 decimals.
# Its GCJ02/BD09 columns agree with the BD-09 formula to ~1 cm; its WGS84 column sits a systematic
# ~0.66 m from the GCJ-02 formula (gcoord itself only checks 4 decimals ≈ 5 m), hence 1 m below.
GCOORD_CITIES = {
    "驻马店": ((114.0164322, 33.0133556), (114.022306, 33.0115324), (114.0287781, 33.0176697)),
    "那曲": ((92.0499619, 31.4784436), (92.0512438, 31.4762063), (92.0576832, 31.4824421)),
    "凉山": ((102.2658401, 27.8850446), (102.2673386, 27.8816151), (102.2738428, 27.8876621)),
    "沈阳": ((123.4253306, 41.8032629), (123.4314787, 41.8057023), (123.438095, 41.8114013)),
    "钦州": ((108.6503952, 21.9828281), (108.6541485, 21.9799392), (108.6607283, 21.9856319)),
    "锡林郭勒": ((116.0414035, 43.9312805), (116.0482308, 43.9334573), (116.0546232, 43.9397782)),
    "酒泉": ((98.4937175, 39.7319946), (98.4943595, 39.7328234), (98.5008441, 39.7388949)),
    "金昌": ((102.1860478, 38.5196469), (102.1880474, 38.5200925), (102.194653, 38.5258128)),
    "汕头": ((116.6775114, 23.3567569), (116.6819735, 23.3540964), (116.6885014, 23.3598884)),
}

CHINA_GRID = [(lon, lat) for lon in np.arange(74.0, 135.0, 2.5) for lat in np.arange(18.5, 53.5, 2.5)]
LANZHOU_NEW_AREA = (103.68, 36.50)


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return geo.distance_m(a[0], a[1], b[0], b[1])


# --- Datum conversion ---------------------------------------------------------------------------


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert geo.wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_gcj02_to_wgs84_exact_inverse(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    # eviltransform only asks < 0.5 m of its "exact" inverse; ours is iterated to convergence.
    assert _dist(geo.gcj02_to_wgs84(*gcj), wgs) < 1e-3


@pytest.mark.parametrize(("func", "expected", "tol"), GCOORD_123_45)
def test_gcoord_reference_point(
    func: Callable[[float, float], tuple[float, float]], expected: tuple[float, float], tol: float
) -> None:
    assert func(123.0, 45.0) == pytest.approx(expected, abs=tol)


@pytest.mark.parametrize("city", GCOORD_CITIES)
def test_gcoord_cities(city: str) -> None:
    wgs, gcj, bd = GCOORD_CITIES[city]
    assert _dist(geo.wgs84_to_gcj02(*wgs), gcj) < 1.0
    assert _dist(geo.gcj02_to_wgs84(*gcj), wgs) < 1.0
    assert _dist(geo.gcj02_to_bd09(*gcj), bd) < 0.02
    assert _dist(geo.bd09_to_gcj02(*bd), gcj) < 0.02
    assert _dist(geo.bd09_to_wgs84(*bd), wgs) < 1.0


def test_gcj_shift_is_hundreds_of_metres_in_china() -> None:
    shifted = geo.wgs84_to_gcj02(*LANZHOU_NEW_AREA)
    assert 100 < _dist(shifted, LANZHOU_NEW_AREA) < 1000


def test_round_trips_across_china_within_a_centimetre() -> None:
    worst = 0.0
    for lon, lat in CHINA_GRID:
        p = (float(lon), float(lat))
        worst = max(worst, _dist(geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(*p)), p))
        worst = max(worst, _dist(geo.wgs84_to_gcj02(*geo.gcj02_to_wgs84(*p)), p))
        worst = max(worst, _dist(geo.bd09_to_wgs84(*geo.wgs84_to_bd09(*p)), p))
        worst = max(worst, _dist(geo.bd09_to_gcj02(*geo.gcj02_to_bd09(*p)), p))
    assert worst < 0.01


@pytest.mark.parametrize(
    "point",
    [(139.6917, 35.6895), (-0.1276, 51.5072), (151.2093, -33.8688), (-74.006, 40.7128), (183.0, 45.0)],
    ids=["tokyo", "london", "sydney", "new-york", "gcoord-183-45"],
)
def test_outside_china_not_shifted_by_gcj02(point: tuple[float, float]) -> None:
    assert geo.out_of_china(*point)
    assert geo.wgs84_to_gcj02(*point) == point
    assert geo.gcj02_to_wgs84(*point) == point
    assert geo.to_crs(*point, CRS.GCJ02) == point


def test_out_of_china_scalar_and_array() -> None:
    assert geo.out_of_china(0.0, 0.0) is True
    assert geo.out_of_china(*LANZHOU_NEW_AREA) is False
    np.testing.assert_array_equal(geo.out_of_china(np.array([0.0, 103.68]), np.array([0.0, 36.5])), [1, 0])


def test_vectorised_conversions_match_scalar() -> None:
    lons = np.array([p[0] for p in CHINA_GRID] + [139.6917, -0.1276])
    lats = np.array([p[1] for p in CHINA_GRID] + [35.6895, 51.5072])
    pairs = [
        (geo.wgs84_to_gcj02_many, geo.wgs84_to_gcj02),
        (geo.gcj02_to_wgs84_many, geo.gcj02_to_wgs84),
        (geo.gcj02_to_bd09_many, geo.gcj02_to_bd09),
        (geo.bd09_to_gcj02_many, geo.bd09_to_gcj02),
        (geo.wgs84_to_bd09_many, geo.wgs84_to_bd09),
        (geo.bd09_to_wgs84_many, geo.bd09_to_wgs84),
    ]
    for many, one in pairs:
        out_lon, out_lat = many(lons, lats)
        expected = np.array([one(float(x), float(y)) for x, y in zip(lons, lats, strict=True)])
        np.testing.assert_allclose(out_lon, expected[:, 0], rtol=0, atol=1e-11, err_msg=many.__name__)
        np.testing.assert_allclose(out_lat, expected[:, 1], rtol=0, atol=1e-11, err_msg=many.__name__)


def test_vectorised_accepts_empty_and_scalars() -> None:
    lon, lat = geo.wgs84_to_gcj02_many([], [])
    assert lon.shape == lat.shape == (0,)
    lon, lat = geo.gcj02_to_wgs84_many([], [])
    assert lon.shape == (0,)
    lon, lat = geo.wgs84_to_bd09_many(103.68, [36.5, 36.6])
    assert lon.shape == (2,)


def test_scalar_conversions_return_plain_floats() -> None:
    for func in (geo.wgs84_to_gcj02, geo.gcj02_to_wgs84, geo.wgs84_to_bd09, geo.bd09_to_wgs84):
        lon, lat = func(*LANZHOU_NEW_AREA)
        assert type(lon) is float and type(lat) is float


@pytest.mark.parametrize("crs", list(CRS))
def test_to_crs_from_crs_round_trip(crs: CRS) -> None:
    there = geo.to_crs(*LANZHOU_NEW_AREA, crs)
    assert _dist(geo.from_crs(*there, crs), LANZHOU_NEW_AREA) < 1e-3
    assert geo.to_crs(*LANZHOU_NEW_AREA, crs.value) == there  # plain strings accepted too


def test_crs_identity_and_dispatch() -> None:
    assert geo.to_crs(*LANZHOU_NEW_AREA, CRS.WGS84) == LANZHOU_NEW_AREA
    assert geo.to_crs(*LANZHOU_NEW_AREA, CRS.CGCS2000) == LANZHOU_NEW_AREA
    assert geo.to_crs(*LANZHOU_NEW_AREA, CRS.GCJ02) == geo.wgs84_to_gcj02(*LANZHOU_NEW_AREA)
    assert geo.to_crs(*LANZHOU_NEW_AREA, CRS.BD09) == geo.wgs84_to_bd09(*LANZHOU_NEW_AREA)
    with pytest.raises(ValueError):
        geo.to_crs(*LANZHOU_NEW_AREA, "epsg:3857")


# --- Distances, local plane, areas -------------------------------------------------------------


def test_distance_beijing_shanghai() -> None:
    # Tiananmen to People's Square; the commonly quoted great-circle distance is ≈ 1067 km.
    d = geo.distance_m(116.4074, 39.9042, 121.4737, 31.2304)
    assert d == pytest.approx(1_067_000, rel=0.005)


def test_distance_basics() -> None:
    assert geo.distance_m(103.68, 36.5, 103.68, 36.5) == 0.0
    # One degree of arc on the mean sphere.
    assert geo.distance_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(geo.EARTH_RADIUS_M * math.pi / 180)
    assert geo.distance_m(0.0, 0.0, 180.0, 0.0) == pytest.approx(geo.EARTH_RADIUS_M * math.pi)
    assert geo.distance_m(1.0, 2.0, 3.0, 4.0) == geo.distance_m(3.0, 4.0, 1.0, 2.0)


@pytest.mark.parametrize(
    ("dest", "expected"),
    [((103.68, 36.6), 0.0), ((103.78, 36.5), 90.0), ((103.68, 36.4), 180.0), ((103.58, 36.5), 270.0)],
)
def test_bearing_cardinal(dest: tuple[float, float], expected: float) -> None:
    assert geo.bearing_deg(*LANZHOU_NEW_AREA, *dest) == pytest.approx(expected, abs=0.05)


def test_bearing_beijing_to_shanghai_is_south_south_east() -> None:
    b = geo.bearing_deg(116.4074, 39.9042, 121.4737, 31.2304)
    assert 0.0 <= b < 360.0
    assert 145 < b < 160


def test_offset_moves_by_metres() -> None:
    moved = geo.offset(*LANZHOU_NEW_AREA, 300.0, 400.0)
    # The plane uses ellipsoidal radii, haversine the mean sphere: they agree to ~0.3 %.
    assert _dist(moved, LANZHOU_NEW_AREA) == pytest.approx(500.0, rel=0.005)
    expected_bearing = math.degrees(math.atan2(300.0, 400.0))
    assert geo.bearing_deg(*LANZHOU_NEW_AREA, *moved) == pytest.approx(expected_bearing, abs=0.5)
    assert geo.offset(*LANZHOU_NEW_AREA, 0.0, 0.0) == LANZHOU_NEW_AREA


def test_local_projection_round_trip_and_consistency_with_offset() -> None:
    fwd, inv = geo.local_projection(*LANZHOU_NEW_AREA)
    x, y = fwd(*LANZHOU_NEW_AREA)
    assert (x, y) == (0.0, 0.0)
    x, y = fwd(*geo.offset(*LANZHOU_NEW_AREA, 120.0, -80.0))
    assert (x, y) == pytest.approx((120.0, -80.0), abs=1e-6)
    lons = np.array([103.5, 103.68, 103.9])
    lats = np.array([36.3, 36.5, 36.7])
    back_lon, back_lat = inv(*fwd(lons, lats))
    np.testing.assert_allclose(back_lon, lons, atol=1e-12)
    np.testing.assert_allclose(back_lat, lats, atol=1e-12)


def test_local_projection_geometry_buffer_in_metres() -> None:
    proj = geo.local_projection(*LANZHOU_NEW_AREA)
    circle = proj.from_local(proj.to_local(Point(*LANZHOU_NEW_AREA)).buffer(100.0, quad_segs=64))
    assert geo.area_m2(circle) == pytest.approx(math.pi * 100.0**2, rel=1e-3)
    lon, lat = circle.exterior.coords[0]
    assert geo.distance_m(*LANZHOU_NEW_AREA, lon, lat) == pytest.approx(100.0, rel=0.005)


def _ellipsoid_quad_area(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Exact area of a lon/lat rectangle on the WGS-84 ellipsoid (authalic latitude formula)."""
    a, f = 6378137.0, 1 / 298.257223563
    e = math.sqrt(f * (2 - f))
    b2 = (a * (1 - f)) ** 2

    def q(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return s / (1 - e * e * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return b2 * math.radians(lon2 - lon1) / 2 * (q(lat2) - q(lat1))


@pytest.mark.parametrize("size_deg", [0.001, 0.01, 0.1])
def test_area_m2_matches_ellipsoid(size_deg: float) -> None:
    lon, lat = LANZHOU_NEW_AREA
    geom = box(lon, lat, lon + size_deg, lat + size_deg)
    expected = _ellipsoid_quad_area(lon, lat, lon + size_deg, lat + size_deg)
    assert geo.area_m2(geom) == pytest.approx(expected, rel=1e-6)


def test_area_m2_edge_cases() -> None:
    assert geo.area_m2(Polygon()) == 0.0
    assert geo.area_m2(Point(*LANZHOU_NEW_AREA)) == 0.0
    lon, lat = LANZHOU_NEW_AREA
    two = MultiPolygon([box(lon, lat, lon + 0.01, lat + 0.01), box(lon + 0.02, lat, lon + 0.03, lat + 0.01)])
    assert geo.area_m2(two) == pytest.approx(2 * geo.area_m2(two.geoms[0]), rel=1e-6)


# --- GridIndex ----------------------------------------------------------------------------------


def _quad_grids() -> list[tuple[str, Polygon]]:
    """Four 1×1 boxes A B / C D (A top-left) sharing borders at x=1 and y=1."""
    return [("A", box(0, 1, 1, 2)), ("B", box(1, 1, 2, 2)), ("C", box(0, 0, 1, 1)), ("D", box(1, 0, 2, 1))]


def _voronoi_grids(n: int, seed: int) -> list[tuple[int, Polygon]]:
    rng = np.random.default_rng(seed)
    area = box(103.55, 36.40, 103.85, 36.62)
    seeds = shapely.points(np.column_stack((rng.uniform(103.55, 103.85, n), rng.uniform(36.40, 36.62, n))))
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=area, ordered=True)
    cells = shapely.intersection(shapely.get_parts(cells), area)
    return [(1000 + i, cell) for i, cell in enumerate(cells)]


def test_grid_index_inside_and_outside() -> None:
    index = GridIndex(_quad_grids())
    assert index.locate(0.5, 1.5) == "A"
    assert index.locate(1.5, 1.5) == "B"
    assert index.locate(0.5, 0.5) == "C"
    assert index.locate(1.5, 0.5) == "D"
    assert index.locate(2.5, 0.5) is None
    assert index.locate(-1e-9, 0.5) is None
    assert index.locate_many([0.5, 5.0, 1.5], [0.5, 5.0, 1.5]) == ["C", None, "B"]


def test_grid_index_border_goes_to_first_inserted() -> None:
    grids = _quad_grids()
    index = GridIndex(grids)
    assert index.locate(1.0, 1.5) == "A"  # A|B edge
    assert index.locate(0.5, 1.0) == "A"  # A/C edge
    assert index.locate(1.5, 1.0) == "B"  # B/D edge
    assert index.locate(1.0, 0.5) == "C"  # C|D edge
    assert index.locate(1.0, 1.0) == "A"  # corner of all four
    assert index.locate(2.0, 2.0) == "B"  # outer boundary still counts
    reversed_index = GridIndex(reversed(grids))
    assert reversed_index.locate(1.0, 1.0) == "D"
    assert reversed_index.locate_many([1.0, 1.0], [1.5, 0.5]) == ["B", "D"]


def test_grid_index_shared_vertices_get_exactly_one_grid() -> None:
    grids = _voronoi_grids(40, seed=7)
    index = GridIndex(grids)
    coords = np.unique(np.concatenate([shapely.get_coordinates(g) for _, g in grids]), axis=0)
    got = index.locate_many(coords[:, 0], coords[:, 1])
    for (lon, lat), key in zip(coords, got, strict=True):
        p = Point(lon, lat)
        owners = [k for k, g in grids if g.intersects(p)]
        assert owners, "every vertex lies on some grid"
        assert key == owners[0]


def test_grid_index_bulk_matches_per_point_and_shapely_loop() -> None:
    grids = _voronoi_grids(60, seed=3)
    index = GridIndex(grids)
    rng = np.random.default_rng(11)
    lons = rng.uniform(103.50, 103.90, 3000)
    lats = rng.uniform(36.35, 36.67, 3000)
    bulk = index.locate_many(lons, lats)
    points = [Point(x, y) for x, y in zip(lons, lats, strict=True)]
    loop = [next((k for k, g in grids if g.covers(p)), None) for p in points]
    assert bulk == loop
    assert bulk[:200] == [index.locate(x, y) for x, y in zip(lons[:200], lats[:200], strict=True)]
    assert None in bulk and len(set(bulk)) > 50


def test_grid_index_indices_and_multipolygon() -> None:
    mp = MultiPolygon([box(0, 0, 1, 1), box(5, 5, 6, 6)])
    index = GridIndex([(("street", 1), mp), (("street", 2), box(2, 2, 3, 3))])
    assert index.locate(5.5, 5.5) == ("street", 1)  # tuple keys stay tuples
    assert index.locate(2.5, 2.5) == ("street", 2)
    assert index.locate(3.5, 3.5) is None
    np.testing.assert_array_equal(index.locate_indices([0.5, 2.5, 9.0], [0.5, 2.5, 9.0]), [0, 1, -1])


def test_grid_index_odd_inputs() -> None:
    index = GridIndex(_quad_grids())
    assert index.locate(math.nan, 0.5) is None
    assert index.locate_many([], []) == []
    assert index.locate_many(np.array([[0.5, 1.5]]), np.array([[0.5, 0.5]])) == ["C", "D"]
    with pytest.raises(ValueError):
        index.locate_many([0.5, 1.5, 2.5], [0.5, 0.5])


def test_grid_index_metadata() -> None:
    index = GridIndex(_quad_grids())
    assert len(index) == 4
    assert index.keys == ("A", "B", "C", "D")
    assert index.bounds == (0.0, 0.0, 2.0, 2.0)


def test_grid_index_empty() -> None:
    index: GridIndex[str] = GridIndex([])
    assert len(index) == 0
    assert index.keys == ()
    assert index.bounds is None
    assert index.locate(103.68, 36.5) is None
    assert index.locate_many([103.68, 0.0], [36.5, 0.0]) == [None, None]


def test_grid_index_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        GridIndex([("A", box(0, 0, 1, 1)), ("A", box(1, 0, 2, 1))])
    with pytest.raises(TypeError):
        GridIndex([("A", Point(0, 0))])
