"""The demo's drone patrols (无人机巡查): docks, drones with the optics of real products, a routine
survey mission over every unit grid, a week of flown patrols with their tracks and coverage, and a
handful of findings with drawn aerial photos (marked 演示, no real photo of the demo community
exists), so that the drone pages, the one map's drone layers and the patrol measures have
something to show.

Drones pass the fleet's optics check (`fleet.check_optics`); missions are planned and scheduled
through `drones.services.missions` (the planner of shequ_vision.survey); the one dismissed finding
goes through `drones.services.findings`. The week that has already happened is written in bulk,
as the demo's cases are (`bulk.insert`): flights, track points and coverage rows of the shape
`drones.services.flights` leaves on landing. A demo flight flies its route exactly, so its ground
coverage is the route's planned coverage, and its share of each grid is computed once per mission.

The drones' share of the proactively found cases is the demo's cases' (cases.py weighs the sources
per category); the findings here are a few recent ones waiting in the queue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw
from shapely.geometry import shape

from shequ.core.audit import audit
from shequ.core.geo import GridIndex, area_m2, distance_m, local_projection
from shequ.demo import bulk
from shequ.drones.models import (
    Dock,
    Drone,
    DroneStatus,
    Finding,
    FindingKind,
    FindingState,
    Flight,
    FlightCoverage,
    FlightState,
    Mission,
    Pattern,
    Photo,
    PhotoState,
    Repeat,
    TrackPoint,
)
from shequ.drones.services import fleet, missions
from shequ.grids.models import Grid, Level

# Real products' cameras (sensor mm, focal mm, pixels): DJI Mavic 3 Enterprise (4/3" CMOS) and
# DJI Phantom 4 Pro / Phantom 4 RTK (FC6310, 1" CMOS), the usual survey drones of district patrols.
MODELS: tuple[dict[str, Any], ...] = (
    {
        "model": "DJI Mavic 3 Enterprise",
        "sensor_width_mm": 17.3,
        "sensor_height_mm": 13.0,
        "focal_length_mm": 12.29,
        "image_width": 5280,
        "image_height": 3956,
        "max_flight_minutes": 45,
        "cruise_speed_m_s": 10.0,
    },
    {
        "model": "DJI Phantom 4 Pro (FC6310)",
        "sensor_width_mm": 13.2,
        "sensor_height_mm": 8.8,
        "focal_length_mm": 8.8,
        "image_width": 5472,
        "image_height": 3648,
        "max_flight_minutes": 30,
        "cruise_speed_m_s": 8.0,
    },
)
GRIDS_PER_DOCK = 10  # 25 grids of the model community: 3 docks
DRONES_PER_DOCK = 2
ALTITUDE_M = 120.0  # the legal ceiling for such flights in China without special approval
FRONT_OVERLAP, SIDE_OVERLAP = 0.6, 0.3  # a patrol spots problems; it does not build an orthophoto
WEEK = 7
TRACK_EVERY_S = 30.0  # one stored sample per 30 s of the week's flights (every waypoint kept)
FINDINGS: tuple[tuple[str, str, str], ...] = (
    (FindingKind.DEBRIS, "debris", "0102"),
    (FindingKind.VENDING, "stall", "0202"),
    (FindingKind.CROWD, "person", ""),
    (FindingKind.PARKING, "car", ""),
    (FindingKind.DEBRIS, "debris", "0103"),
    (FindingKind.CHANGE, "object", "0102"),
    (FindingKind.VENDING, "stall", "0202"),
    (FindingKind.DEBRIS, "debris", "0102"),
)
PHOTO_W, PHOTO_H = 960, 720


def write_drones(*, seed: int, reference: dt.datetime, actor: str) -> Counter[str]:
    """Docks, drones, missions, a week of flights and some findings (counts returned)."""
    rng = random.Random(f"{seed}:drones")
    counts: Counter[str] = Counter()
    grids = list(
        Grid.objects.filter(level=Level.GRID, is_active=True, geometry__isnull=False)
        .only("pk", "code", "name", "geometry")
        .order_by("code")
    )
    if not grids:
        return counts
    shapes = {g.pk: shape(g.geometry) for g in grids}
    docks = _docks(grids, shapes, counts)
    drones = _drones(docks, counts)
    plans = _missions(docks, drones, shapes, reference, actor, counts)
    flights = _week(plans, shapes, reference, rng, counts)
    _findings(flights, grids, shapes, seed, reference, actor, counts)
    audit("demo.drones", actor=actor, counts=dict(counts))
    return counts


# --- docks and drones ----------------------------------------------------------------------------------


def _docks(grids: list[Grid], shapes: dict[int, Any], counts: Counter[str]) -> list[tuple[Dock, list[Grid]]]:
    """Grids in runs of GRIDS_PER_DOCK along the x axis; each run's dock at the run's centre."""
    ordered = sorted(grids, key=lambda g: (shapes[g.pk].centroid.x, shapes[g.pk].centroid.y))
    n = max(1, math.ceil(len(ordered) / GRIDS_PER_DOCK))
    size = math.ceil(len(ordered) / n)
    out = []
    for k in range(n):
        run = ordered[k * size : (k + 1) * size]
        if not run:
            continue
        xs = [shapes[g.pk].centroid.x for g in run]
        ys = [shapes[g.pk].centroid.y for g in run]
        fields = {
            "code": f"JC-{k + 1:02d}",
            "name": f"{run[0].name[:-5] if len(run[0].name) > 5 else run[0].name}机巢{k + 1}",
            "lon": round(sum(xs) / len(xs), 7),
            "lat": round(sum(ys) / len(ys), 7),
            "elevation_m": 1960.0,  # Lanzhou New Area lies ~1,960 m above sea level
            "range_m": 3000,
        }
        dock = Dock.objects.create(**fields)
        dock.grids.set(run)
        out.append((dock, run))
    counts["drone_docks"] = len(out)
    return out


def _drones(docks: list[tuple[Dock, list[Grid]]], counts: Counter[str]) -> list[Drone]:
    rows = []
    for k, (dock, _run) in enumerate(docks):
        for j in range(DRONES_PER_DOCK):
            n = k * DRONES_PER_DOCK + j + 1
            optics = MODELS[(n - 1) % len(MODELS)]
            fleet.check_optics(optics)
            rows.append(
                Drone(
                    code=f"UAV-{n:02d}",
                    name=f"巡查{n}号",
                    serial=f"DEMO{n:06d}",
                    dock=dock,
                    mavlink_system_id=n,
                    status=DroneStatus.IDLE,
                    lon=dock.lon,
                    lat=dock.lat,
                    alt_m=0.0,
                    battery=100,
                    **optics,
                )
            )
    Drone.objects.bulk_create(rows)
    counts["drones"] = len(rows)
    return list(Drone.objects.filter(code__in=[d.code for d in rows]).order_by("code"))


# --- missions ------------------------------------------------------------------------------------------


def _missions(
    docks: list[tuple[Dock, list[Grid]]],
    drones: list[Drone],
    shapes: dict[int, Any],
    reference: dt.datetime,
    actor: str,
    counts: Counter[str],
) -> list[tuple[Mission, Grid, float]]:
    """A survey of every grid by a drone of its dock, routine daily (even grids) or on Monday and
    Thursday; with the share of the grid its planned coverage sees."""
    by_dock: dict[int, list[Drone]] = defaultdict(list)
    for d in drones:
        by_dock[d.dock_id or 0].append(d)
    plans = []
    for dock, run in docks:
        for i, grid in enumerate(run):
            drone = by_dock[dock.pk][i % len(by_dock[dock.pk])]
            mission = missions.plan_mission(
                actor=actor,
                code=f"XJ-{grid.code}",
                name=f"{grid.name}例行巡查",
                pattern=Pattern.SURVEY,
                grids=[grid],
                altitude_m=ALTITUDE_M,
                front_overlap=FRONT_OVERLAP,
                side_overlap=SIDE_OVERLAP,
                speed_m_s=drone.cruise_speed_m_s,
                drone=drone,
                dock=dock,
            )
            daily = int(grid.code[-2:]) % 2 == 0
            mission = missions.set_schedule(
                mission,
                actor=actor,
                repeat=Repeat.DAILY if daily else Repeat.WEEKLY,
                time=dt.time(9 + i % 6, 0 if i % 2 else 30),
                weekdays=None if daily else [1, 4],
                now=reference,
            )
            seen = shape(mission.coverage) if mission.coverage else None
            area = shapes[grid.pk]
            share = min(1.0, area_m2(area.intersection(seen)) / area_m2(area)) if seen is not None else 0.0
            plans.append((mission, grid, share))
    counts["drone_missions"] = len(plans)
    return plans


# --- a week of patrols ---------------------------------------------------------------------------------


def _along(route: Sequence[Sequence[float]], every_m: float) -> list[tuple[float, float, float, float]]:
    """Points every `every_m` metres along the route (lon, lat, alt, heading), ends included."""
    out: list[tuple[float, float, float, float]] = []
    for a, b in itertools.pairwise(route):
        length = distance_m(a[0], a[1], b[0], b[1])
        heading = math.degrees(math.atan2((b[0] - a[0]) * math.cos(math.radians(a[1])), b[1] - a[1])) % 360
        steps = max(1, int(length // every_m))
        for s in range(steps):
            t = s / steps
            out.append((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2], heading))
    if route:
        last = route[-1]
        out.append((last[0], last[1], last[2], out[-1][3] if out else 0.0))
    return out


def _due_days(mission: Mission, reference: dt.datetime) -> list[dt.datetime]:
    """The mission's routine take-offs in the week before the reference (Beijing time)."""
    local = reference.astimezone(dt.timezone(dt.timedelta(hours=8)))
    at = mission.repeat_time or dt.time(9, 0)
    out = []
    for back in range(WEEK, 0, -1):
        day = (local - dt.timedelta(days=back)).date()
        if mission.repeat == Repeat.WEEKLY and day.isoweekday() not in (mission.repeat_weekdays or []):
            continue
        out.append(dt.datetime.combine(day, at, tzinfo=local.tzinfo))
    return out


def _week(
    plans: list[tuple[Mission, Grid, float]],
    shapes: dict[int, Any],
    reference: dt.datetime,
    rng: random.Random,
    counts: Counter[str],
) -> list[tuple[Flight, Mission, list[tuple[float, float, float, float]]]]:
    flights: list[Flight] = []
    extra: list[tuple[Mission, Grid, float, list[tuple[float, float, float, float]]]] = []
    for mission, grid, share in plans:
        speed = mission.speed_m_s
        path = _along(mission.route, speed * TRACK_EVERY_S)
        for start in _due_days(mission, reference):
            start += dt.timedelta(minutes=rng.randrange(0, 6))
            flights.append(
                Flight(
                    mission=mission,
                    drone_id=mission.drone_id or 0,  # planned with a drone: set
                    state=FlightState.LANDED,
                    planned_at=start,
                    started_at=start,
                    ended_at=start + dt.timedelta(seconds=mission.duration_s),
                    distance_m=mission.length_m,
                    max_alt_m=mission.altitude_m,
                    coverage=mission.coverage,
                    source="schedule",
                    source_id=f"schedule:{mission.pk}:{start.date().isoformat()}",
                )
            )
            extra.append((mission, grid, share, path))
    bulk.insert(Flight, flights)
    points, coverage = [], []
    battery_drop = 60
    for flight, (mission, grid, share, path) in zip(flights, extra, strict=True):
        assert flight.started_at is not None
        for k, (lon, lat, alt, heading) in enumerate(path):
            points.append(
                TrackPoint(
                    flight_id=flight.pk,
                    at=flight.started_at + dt.timedelta(seconds=k * TRACK_EVERY_S),
                    lon=round(lon, 7),
                    lat=round(lat, 7),
                    alt_m=alt,
                    heading=round(heading, 1),
                    speed_m_s=mission.speed_m_s,
                    battery=max(20, 100 - battery_drop * k // max(1, len(path))),
                )
            )
        covered = round(share * area_m2(shapes[grid.pk]), 1)
        coverage.append(FlightCoverage(flight_id=flight.pk, grid_id=grid.pk, covered_m2=covered, share=share))
    bulk.insert(TrackPoint, points)
    bulk.insert(FlightCoverage, coverage)
    counts["drone_flights"] = len(flights)
    counts["drone_track_points"] = len(points)
    # Each drone's last position: its dock, after its last flight.
    last: dict[int, dt.datetime] = {}
    for f in flights:
        if f.ended_at and f.ended_at > last.get(f.drone_id, f.ended_at - dt.timedelta(seconds=1)):
            last[f.drone_id] = f.ended_at
    for drone_id, at in last.items():
        Drone.objects.filter(pk=drone_id).update(position_at=at, battery=100 - battery_drop // 2)
    return [(f, e[0], e[3]) for f, e in zip(flights, extra, strict=True)]


# --- findings with drawn photos -------------------------------------------------------------------------


def _findings(
    flights: list[tuple[Flight, Mission, list[tuple[float, float, float, float]]]],
    grids: list[Grid],
    shapes: dict[int, Any],
    seed: int,
    reference: dt.datetime,
    actor: str,
    counts: Counter[str],
) -> None:
    """A drawn photo (north up, nadir) for each finding of the last flights, the finding in it."""
    from shequ.drones.services.fleet import camera_of

    if not flights:
        return
    index = GridIndex((g.pk, shapes[g.pk]) for g in grids)
    recent = sorted(flights, key=lambda f: f[0].started_at or reference, reverse=True)[: len(FINDINGS)]
    made: list[Finding] = []
    for n, ((flight, mission, path), (kind, label, category)) in enumerate(
        zip(recent, FINDINGS, strict=False)
    ):
        rng = random.Random(f"{seed}:finding:{n}")
        lon, lat, alt, _heading = path[len(path) // 2]
        camera = camera_of(flight.drone)
        ground_w, ground_h = camera.ground_size(alt)
        proj = local_projection(lon, lat)
        corners = [
            proj.inverse(x * ground_w / 2, y * ground_h / 2) for x, y in ((-1, 1), (1, 1), (1, -1), (-1, -1))
        ]
        footprint = {
            "type": "Polygon",
            "coordinates": [[[round(a, 7), round(b, 7)] for a, b in [*corners, corners[0]]]],
        }
        box = _box(rng, kind)
        image = _draw(
            rng, kind, box, f"{flight.drone.code} {(flight.started_at or reference):%Y-%m-%d %H:%M}"
        )
        data = _jpeg(image)
        assert flight.started_at is not None
        taken = flight.started_at + dt.timedelta(seconds=mission.duration_s / 2)
        photo = Photo(
            flight=flight,
            drone=flight.drone,
            name=f"DEMO_{n + 1:04d}.JPG",
            sha256=hashlib.sha256(data).hexdigest(),
            width=PHOTO_W,
            height=PHOTO_H,
            taken_at=taken,
            lon=round(lon, 7),
            lat=round(lat, 7),
            alt_m=alt,
            alt_source="given",
            heading=0.0,
            heading_source="given",
            gimbal_pitch=-90.0,
            footprint=footprint,
            gsd_cm=round(camera.gsd_m(alt) * 100, 2),
            grid_id=index.locate(lon, lat),
            state=PhotoState.ANALYSED,
            analysed_at=taken,
        )
        photo.image.save(photo.name, ContentFile(data), save=False)
        photo.save()
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        f_lon, f_lat = proj.inverse((cx - 0.5) * ground_w, (0.5 - cy) * ground_h)
        finding = Finding(
            photo=photo,
            kind=kind,
            label=label,
            count=7 if kind == FindingKind.CROWD else 1,
            confidence=round(rng.uniform(0.55, 0.92), 2),
            box=[round(v, 4) for v in box],
            lon=round(float(f_lon), 7),
            lat=round(float(f_lat), 7),
            grid_id=index.locate(float(f_lon), float(f_lat)),
            category_code=category,
            state=FindingState.NEW,
        )
        crop = image.crop(_pixels(box))
        finding.crop.save(f"demo-{n + 1}.jpg", ContentFile(_jpeg(crop)), save=False)
        finding.save()
        made.append(finding)
        counts["drone_photos"] += 1
        counts["drone_findings"] += 1
    # The oldest is handled already: dismissed. (A confirmed one would blur its crop for the case's
    # evidence, which loads the face detector: seconds the demo need not spend; the demo's cases
    # already hold drone cases.)
    if len(made) >= 2:
        from shequ.drones.services import findings

        findings.dismiss_finding(made[-1], actor=actor, reason="演示: 阴影误识别")


def _box(rng: random.Random, kind: str) -> tuple[float, float, float, float]:
    w, h = {
        FindingKind.CROWD: (0.16, 0.14),
        FindingKind.VENDING: (0.09, 0.08),
        FindingKind.PARKING: (0.07, 0.05),
    }.get(kind, (0.08, 0.07))  # type: ignore[call-overload]
    x, y = rng.uniform(0.2, 0.7), rng.uniform(0.2, 0.7)
    return (x, y, x + w, y + h)


def _draw(rng: random.Random, kind: str, box: tuple[float, float, float, float], stamp: str) -> Image.Image:
    """A nadir view of a street block: lawns, a road with lane marks, roofs, and the finding."""
    image = Image.new("RGB", (PHOTO_W, PHOTO_H), (104, 140, 88))
    d = ImageDraw.Draw(image)
    d.rectangle([0, 300, PHOTO_W, 420], fill=(96, 98, 102))  # the road, east–west
    d.rectangle([420, 0, 520, PHOTO_H], fill=(96, 98, 102))  # a cross street
    for x in range(0, PHOTO_W, 60):
        d.rectangle([x, 357, x + 30, 362], fill=(230, 230, 220))
    for _ in range(8):  # roofs
        x, y = rng.randrange(20, PHOTO_W - 160), rng.choice([rng.randrange(20, 180), rng.randrange(450, 560)])
        if 380 < x < 540:
            continue
        tone = rng.randrange(120, 190)
        d.rectangle(
            [x, y, x + rng.randrange(80, 150), y + rng.randrange(60, 120)], fill=(tone, tone - 20, tone - 30)
        )
    x1, y1, x2, y2 = _pixels(box)
    if kind == FindingKind.CROWD:
        for _ in range(7):
            cx, cy = rng.uniform(x1 + 6, x2 - 6), rng.uniform(y1 + 6, y2 - 6)
            d.ellipse(
                [cx - 5, cy - 5, cx + 5, cy + 5],
                fill=rng.choice([(30, 30, 30), (180, 40, 40), (40, 60, 150)]),
            )
    elif kind == FindingKind.VENDING:
        d.rectangle([x1, y1, x2, y2], fill=(220, 60, 50))
        d.rectangle([x1 + 6, y1 + 6, x2 - 6, y2 - 6], fill=(240, 150, 30))
    elif kind == FindingKind.PARKING:
        d.rounded_rectangle([x1, y1, x2, y2], radius=6, fill=(230, 230, 235))
        d.rectangle([x1 + 8, y1 + 5, x2 - 8, y2 - 5], fill=(60, 80, 100))
    else:
        for _ in range(18):
            cx, cy, r = rng.uniform(x1 + 4, x2 - 4), rng.uniform(y1 + 4, y2 - 4), rng.uniform(3, 9)
            d.ellipse(
                [cx - r, cy - r, cx + r, cy + r],
                fill=rng.choice([(70, 60, 50), (220, 220, 210), (40, 90, 150)]),
            )
    text = f"DEMO  {stamp}"  # the default font has no Chinese glyphs
    d.rectangle([0, 0, 9 * len(text) + 20, 18], fill=(0, 0, 0))
    d.text((6, 3), text, fill=(255, 255, 255))
    return image


def _pixels(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    return round(box[0] * PHOTO_W), round(box[1] * PHOTO_H), round(box[2] * PHOTO_W), round(box[3] * PHOTO_H)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()
