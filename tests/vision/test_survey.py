"""The route planner (shequ_vision.survey): a survey's photos cover the area completely, checked
geometrically with the camera's footprint at every photo position; lines are spaced for the side
overlap asked for; perimeter and drawn routes; the ground a track sees."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box

from shequ.core.geo import local_projection, offset
from shequ_vision.optics import CameraModel
from shequ_vision.survey import (
    SurveyError,
    ground_coverage,
    plan_perimeter,
    plan_survey,
    plan_waypoints,
)

# DJI FC350 (the real photos' camera) and DJI Mavic 3 Enterprise's wide camera.
FC350 = CameraModel(6.17, 4.55, 3.61, 4000, 3000)
M3E = CameraModel(17.3, 13.0, 12.29, 5280, 3956)
LON0, LAT0 = 103.690, 36.505  # the demo community, Lanzhou New Area


def from_metres(geom: shapely.Geometry) -> shapely.Geometry:
    """A shape drawn in metres east/north of (LON0, LAT0), as lon/lat."""
    return local_projection(LON0, LAT0).from_local(geom)


def rectangle() -> Polygon:
    return from_metres(box(0, 0, 420, 260))


def rotated() -> Polygon:
    return from_metres(affinity.rotate(box(0, 0, 500, 180), 32, origin=(0, 0)))


def concave_l() -> Polygon:
    return from_metres(Polygon([(0, 0), (400, 0), (400, 120), (140, 120), (140, 380), (0, 380)]))


def demo_grid() -> Polygon:
    from shequ.demo import layout

    plan = layout.plan_cluster(20260101, 0, 1)
    polygon = max(plan.grids, key=lambda g: len(g.polygon.exterior.coords)).polygon
    return layout.to_lonlat(layout.projection(), polygon)


def multipolygon() -> MultiPolygon:
    return from_metres(MultiPolygon([box(0, 0, 200, 150), box(320, 40, 520, 300)]))


SHAPES = {
    "rectangle": rectangle,
    "rotated": rotated,
    "concave_l": concave_l,
    "demo_grid": demo_grid,
    "multipolygon": multipolygon,
}
SETTINGS = [
    (FC350, 40.0, 0.7, 0.6),
    (FC350, 80.0, 0.8, 0.7),
    (M3E, 120.0, 0.5, 0.3),
    (M3E, 60.0, 0.1, 0.05),
]


def footprints(route, camera: CameraModel, proj) -> shapely.Geometry:  # type: ignore[no-untyped-def]
    """The union of the nadir footprints at every planned photo position, in metres: the camera's
    long side across the track, its top edge facing the heading (the planner's convention)."""
    shapes = []
    for lon, lat, alt, heading in route.photos:
        w, h = camera.ground_size(alt)
        x, y = proj.forward(lon, lat)
        rect = box(-w / 2, -h / 2, w / 2, h / 2)  # width along x (across), height along y (along)
        rect = affinity.rotate(rect, -heading, origin=(0, 0))  # clockwise from north
        shapes.append(affinity.translate(rect, float(x), float(y)))
    return shapely.union_all(shapes)


def local_lines(route, proj) -> list[tuple[np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    pts = [np.array(proj.forward(lon, lat), dtype=float) for lon, lat, _ in route.waypoints]
    return [(pts[i], pts[i + 1]) for i in range(0, len(pts) - 1, 2)]


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize(("camera", "altitude", "front", "side"), SETTINGS)
def test_survey_photos_cover_the_area_completely(
    shape_name: str, camera: CameraModel, altitude: float, front: float, side: float
) -> None:
    area = SHAPES[shape_name]()
    route = plan_survey(area, camera, altitude, front_overlap=front, side_overlap=side)
    c = area.centroid
    proj = local_projection(c.x, c.y)
    target = proj.to_local(area)
    seen = footprints(route, camera, proj)
    missed = target.difference(seen).area
    assert missed < 1e-6 * target.area, f"{shape_name}: {missed:.3f} m² of {target.area:.0f} m² unseen"
    assert seen.buffer(0.01).covers(target)
    assert route.photo_count == len(route.photos) > 0
    # The route's own coverage is what the photos see.
    assert proj.to_local(route.coverage).buffer(0.01).covers(target)


@pytest.mark.parametrize(("camera", "altitude", "front", "side"), SETTINGS)
def test_line_and_photo_spacing_give_the_overlaps_asked_for(
    camera: CameraModel, altitude: float, front: float, side: float
) -> None:
    area = rotated()
    route = plan_survey(area, camera, altitude, front_overlap=front, side_overlap=side)
    width, height = camera.ground_size(altitude)
    c = area.centroid
    proj = local_projection(c.x, c.y)
    lines = local_lines(route, proj)
    assert len(lines) == route.lines >= 2
    for (a1, b1), (a2, b2) in itertools.pairwise(lines):
        u = (b1 - a1) / np.linalg.norm(b1 - a1)
        d = a2 - a1
        gap = abs(float(u[0] * d[1] - u[1] * d[0]))  # distance between the parallel lines
        measured = 1 - gap / width
        assert measured == pytest.approx(side, abs=0.01), "side overlap between adjacent lines"
        # Boustrophedon: the next line is flown the other way.
        assert float(np.dot(u, b2 - a2)) < 0
    # Consecutive photos of a line are spaced for the front overlap.
    xy = np.array([proj.forward(lon, lat) for lon, lat, _, _ in route.photos], dtype=float)
    headings = np.array([p[3] for p in route.photos])
    steps = np.hypot(*np.diff(xy, axis=0).T)
    on_line = steps[headings[1:] == headings[:-1]]  # the heading turns round between lines
    assert len(on_line) > 5
    assert np.allclose(1 - on_line / height, front, atol=0.01)
    assert route.photo_spacing_m == pytest.approx(height * (1 - front))
    assert route.line_spacing_m == pytest.approx(width * (1 - side))


def bearing_of(p: np.ndarray, q: np.ndarray) -> float:
    d = q - p
    return math.degrees(math.atan2(d[0], d[1])) % 180.0


def test_lines_run_along_the_longest_side_or_the_angle_given() -> None:
    area = rotated()  # 500 m side turned 32° counter-clockwise from east: bearing 90 - 32 = 58°
    route = plan_survey(area, FC350, 60)
    assert route.angle_deg == pytest.approx(58.0, abs=0.01)
    c = area.centroid
    proj = local_projection(c.x, c.y)
    a, b = local_lines(route, proj)[0]
    assert bearing_of(a, b) == pytest.approx(58.0, abs=0.05)
    across = plan_survey(area, FC350, 60, angle_deg=148)
    a, b = local_lines(across, proj)[0]
    assert bearing_of(a, b) == pytest.approx(148.0, abs=0.05)
    # Along the long side the same area takes fewer turns.
    assert across.lines > route.lines


def test_a_concave_area_is_flown_across_its_gap_on_one_line() -> None:
    area = concave_l()
    route = plan_survey(area, FC350, 40, angle_deg=90)  # east-west lines across the L's arms
    c = area.centroid
    proj = local_projection(c.x, c.y)
    lines = local_lines(route, proj)
    # Lines in the lower arm span the whole width; those in the upper arm only the narrow one.
    widths = sorted(float(np.linalg.norm(b - a)) for a, b in lines)
    assert widths[-1] > 400 > 300 > widths[0]
    assert route.length_m > 0 and route.duration_s == pytest.approx(route.length_m / 8.0)


def test_limits_and_bad_input_are_refused_naming_the_field() -> None:
    area = rectangle()
    for altitude in (5, 501, math.nan):
        with pytest.raises(SurveyError) as err:
            plan_survey(area, FC350, altitude)
        assert err.value.field == "altitude_m" and "飞行高度" in err.value.message
    with pytest.raises(SurveyError) as err:
        plan_survey(area, FC350, 60, side_overlap=0.96)
    assert err.value.field == "side_overlap"
    with pytest.raises(SurveyError) as err:
        plan_survey(area, FC350, 60, front_overlap=-0.1)
    assert err.value.field == "front_overlap"
    with pytest.raises(SurveyError) as err:
        plan_survey(shapely.Point(LON0, LAT0), FC350, 60)  # type: ignore[arg-type]
    assert err.value.field == "area"
    with pytest.raises(SurveyError):
        plan_survey(box(200, 0, 201, 1), FC350, 60)  # not lon/lat
    # A square kilometre at 10 m with 95 % overlaps: too many lines for any drone.
    with pytest.raises(SurveyError) as err:
        plan_survey(from_metres(box(0, 0, 5000, 5000)), FC350, 10, side_overlap=0.95, front_overlap=0.95)
    assert err.value.field in ("side_overlap", "front_overlap")


def test_perimeter_flies_a_quarter_footprint_inside_the_edge() -> None:
    area = concave_l()
    route = plan_perimeter(area, FC350, 50)
    width, _ = FC350.ground_size(50)
    c = area.centroid
    proj = local_projection(c.x, c.y)
    target = proj.to_local(area)
    ring = [shapely.Point(proj.forward(lon, lat)) for lon, lat, _ in route.waypoints]
    assert route.waypoints[0] == route.waypoints[-1]
    assert len(route.waypoints) == 7  # the L's six corners, back to the start
    for point in ring:
        assert target.contains(point)
        # d from both edges of a corner: d at a convex one, d·√2 from the inner corner's vertex.
        assert (
            width / 4 * (1 - 1e-6) <= target.exterior.distance(point) <= width / 4 * math.sqrt(2) * 1.000001
        )
    path = shapely.LineString([(p.x, p.y) for p in ring])
    assert path.distance(target.exterior) == pytest.approx(width / 4, rel=1e-6)
    # The swath covers the boundary, and a quarter footprint beyond the middle of every side.
    seen = proj.to_local(route.coverage)
    assert seen.covers(target.exterior.buffer(0.01))
    for a, b in zip(target.exterior.coords, target.exterior.coords[1:], strict=False):
        mid = shapely.Point((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        out = shapely.Point(mid.x + (b[1] - a[1]), mid.y - (b[0] - a[0]))  # right of a ccw ring: out
        beyond = shapely.LineString([mid, out]).interpolate(width / 4 - 0.05)
        assert not target.contains(beyond) and seen.covers(beyond)
    assert route.photo_count > 0 and route.length_m > 0


def test_drawn_waypoints_are_flown_as_given() -> None:
    points = [
        (*offset(LON0, LAT0, 0, 0), 60.0),
        (*offset(LON0, LAT0, 300, 0), 60.0),
        (*offset(LON0, LAT0, 300, 200), 80.0),
    ]
    route = plan_waypoints(points, FC350)
    assert route.waypoints == points
    assert route.length_m == pytest.approx(500, rel=1e-3)
    with pytest.raises(SurveyError) as err:
        plan_waypoints([(LON0, 91.0, 60.0)], FC350)
    assert "超出范围" in err.value.message and err.value.field == "waypoints"
    with pytest.raises(SurveyError):
        plan_waypoints([(LON0, LAT0, 2.0)], FC350)
    with pytest.raises(SurveyError):
        plan_waypoints([], FC350)


def test_ground_coverage_of_a_straight_track_is_the_swept_footprint() -> None:
    width, height = FC350.ground_size(100)
    track = [(*offset(LON0, LAT0, 0, y), 100.0) for y in np.linspace(0, 600, 61)]
    seen = ground_coverage(track, FC350)
    c = seen.centroid
    area = local_projection(c.x, c.y).to_local(seen).area
    assert area == pytest.approx(width * (600 + height), rel=0.005)
    # On the ground, or without an altitude: nothing seen.
    assert ground_coverage([(LON0, LAT0, 0.0), (LON0, LAT0, None)], FC350).is_empty
    assert ground_coverage([], FC350).is_empty


def test_ground_coverage_never_claims_more_than_the_camera_saw() -> None:
    """A climbing track: every run is swept at its lowest altitude, so the coverage lies inside
    the union of the true footprints at the points (turned to the direction of travel)."""
    proj = local_projection(LON0, LAT0)
    pts = [(x, 5 * math.sin(x / 40)) for x in np.linspace(0, 800, 161)]
    alts = np.linspace(20, 110, len(pts))
    track = [(*(float(v) for v in proj.inverse(x, y)), float(a)) for (x, y), a in zip(pts, alts, strict=True)]
    seen = proj.to_local(ground_coverage(track, FC350))
    truth = []
    for i, ((x, y), a) in enumerate(zip(pts, alts, strict=True)):
        w, h = FC350.ground_size(a)
        j = min(i + 1, len(pts) - 1)
        k = max(j - 1, 0)
        heading = math.degrees(math.atan2(pts[j][0] - pts[k][0], pts[j][1] - pts[k][1]))
        rect = affinity.rotate(box(-w / 2, -h / 2, w / 2, h / 2), -heading, origin=(0, 0))
        truth.append(affinity.translate(rect, x, y))
    union = shapely.union_all(truth)
    assert seen.difference(union).area < 0.002 * seen.area
    assert seen.area > 0.9 * union.area


def test_ground_coverage_of_a_long_track_is_fast() -> None:
    rng = np.random.default_rng(7)
    track = []
    for i in range(2000):
        lon, lat = offset(LON0, LAT0, 4.0 * i, 30 * math.sin(i / 50))
        track.append((lon, lat, 80 + float(rng.normal(0, 0.7))))  # barometric noise
    start = time.perf_counter()
    seen = ground_coverage(track, FC350)
    elapsed = time.perf_counter() - start
    assert not seen.is_empty
    assert elapsed < 0.5, f"{elapsed:.3f} s for 2,000 points"
