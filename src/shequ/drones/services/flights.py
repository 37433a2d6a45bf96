"""Flights (飞行/架次) and their telemetry (docs/drones.md, "Flights and telemetry").

A flight is opened by an operator (`start_flight`) or by the drone itself: the first sample in
which it is airborne (armed, or more than AIRBORNE_ALT_M above take-off when the sender does not
say) opens one, taking the drone's planned flight of that day if there is one. It lands when the
drone disarms, or has been on the ground LAND_AFTER long (senders without an armed flag), or when
an operator lands or aborts it. On landing the track's camera footprints give the ground it saw
(shequ_vision.survey.ground_coverage) and, per grid, the share of the grid seen (FlightCoverage).

`record_telemetry` takes the samples of one receive loop (MAVLink, MQTT or HTTP) at once: one
transaction per drone and batch, track points inserted in bulk and idempotently ((flight, at) is
unique: a replayed stream adds nothing, nor reopens a landed flight). Track points are not audited
one by one (ten a second); the acts on a flight are.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import shapely
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from shequ.core.audit import audit
from shequ.core.errors import Conflict, Forbidden
from shequ.core.geo import area_m2, distance_m, local_projection
from shequ.core.outbox import publish
from shequ.drones import selectors
from shequ.drones.events import DronePosition, FlightStateChanged
from shequ.drones.models import Drone, DroneStatus, Flight, FlightCoverage, FlightState, Mission, TrackPoint
from shequ.drones.services.fleet import camera_of
from shequ.grids import index as grid_index
from shequ.grids.selectors import unit_grids
from shequ_vision.telemetry import TelemetrySample

TELEMETRY = "telemetry"  # the actor of what the drone's own telemetry does
AIRBORNE_ALT_M = 3.0  # above take-off: airborne, when the sender does not say whether it is armed
LAND_AFTER = dt.timedelta(seconds=20)  # on the ground this long (no armed flag): landed
POSITION_EVERY_S = 2  # at most one DronePosition event per drone in this many seconds of data time
COVERAGE_STEP_M = 1.0  # track points closer than this (hovering) add nothing to the coverage
SIMPLIFY_M = 1.0  # Flight.coverage is kept to about a metre


@dataclass
class Recorded:
    """What one `record_telemetry` call did."""

    points: int = 0  # samples stored as track points (a replayed one is stored once)
    skipped: int = 0  # samples outside any flight (on the ground) or already past (replayed)
    flight: Flight | None = None  # the drone's open flight afterwards
    opened: Flight | None = None
    landed: Flight | None = None


def _airborne(sample: TelemetrySample) -> bool:
    if sample.armed is not None:
        return sample.armed
    return sample.alt_m is not None and sample.alt_m > AIRBORNE_ALT_M


def _local_day(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(settings.TIME_ZONE)
    start = dt.datetime.combine(moment.astimezone(zone).date(), dt.time(), zone)
    return start, start + dt.timedelta(days=1)


def _planned_today(drone: Drone, at: dt.datetime, mission: Mission | None = None) -> Flight | None:
    """The drone's planned flight of `at`'s day (Asia/Shanghai), nearest in time."""
    start, end = _local_day(at)
    qs = Flight.objects.select_for_update().filter(
        drone=drone, state=FlightState.PLANNED, planned_at__gte=start, planned_at__lt=end
    )
    if mission is not None:
        qs = qs.filter(mission=mission)
    return min(qs, key=lambda f: abs((f.planned_at or at) - at), default=None)


def _set_state(flight: Flight, state: str, *, actor: Any, action: str, **detail: Any) -> None:
    previous = flight.state
    flight.state = state
    publish(FlightStateChanged(flight_id=flight.pk, drone_id=flight.drone_id, state=state, previous=previous))
    audit(action, actor=actor, target=flight, drone=flight.drone_id, previous=previous, state=state, **detail)


def _check_operator(actor: Any) -> None:
    if isinstance(actor, str):
        return  # the system: telemetry, the scheduler, the demo
    if not selectors.may_manage(actor):
        raise Forbidden(_("只有指挥中心坐席和系统管理员可以起飞、结束或中止架次"))


def _begin(flight: Flight, drone: Drone, at: dt.datetime, *, actor: Any) -> Flight:
    """A planned (or new, unsaved) flight takes off at `at`."""
    flight.started_at = at
    if flight.pk is None:
        flight.state = FlightState.FLYING
        flight.save(force_insert=True)
        publish(
            FlightStateChanged(flight_id=flight.pk, drone_id=drone.pk, state=FlightState.FLYING, previous="")
        )
        audit(
            "drones.flight_start",
            actor=actor,
            target=flight,
            drone=drone.code,
            mission=flight.mission_id,
            started_at=at.isoformat(),
        )
    else:
        _set_state(
            flight, FlightState.FLYING, actor=actor, action="drones.flight_start", started_at=at.isoformat()
        )
        flight.save(update_fields=["state", "started_at", "source", "source_id", "updated_at"])
    if drone.status != DroneStatus.FLYING:
        drone.status = DroneStatus.FLYING
        drone.save(update_fields=["status", "updated_at"])
    return flight


@transaction.atomic
def start_flight(
    *,
    drone: Drone,
    mission: Mission | None = None,
    actor: Any,
    at: dt.datetime | None = None,
    source_id: str = "",
    planned: Flight | None = None,
) -> Flight:
    """起飞: open a flight of the drone now (or at `at`): the given planned flight, else the drone's
    planned flight of the day (of `mission` if given), else a new one. With `source_id`, a second
    call with the same id returns the same flight."""
    _check_operator(actor)
    drone = Drone.objects.select_for_update().get(pk=drone.pk)
    if source_id:
        # The key is unique per source (flight_source_once), not per drone: the same key sent for
        # another drone is a conflict, not a second row (an IntegrityError, a 500).
        source = "manual" if not isinstance(actor, str) else actor
        same = Flight.objects.filter(source=source, source_id=source_id).first()
        if same is not None:
            if same.drone_id != drone.pk:
                raise Conflict(_("该幂等键已用于另一架无人机的架次"), field="source_id")
            return same
    if not drone.is_active or drone.status in (DroneStatus.MAINTENANCE, DroneStatus.OFFLINE):
        raise Conflict(
            _("无人机 %(code)s 处于%(status)s状态, 不能起飞")
            % {"code": drone.code, "status": drone.get_status_display() if drone.is_active else _("停用")},
            field="drone",
        )
    if Flight.objects.filter(drone=drone, state=FlightState.FLYING).exists():
        raise Conflict(_("无人机 %(code)s 已在飞行中") % {"code": drone.code}, field="drone")
    at = at or timezone.now()
    if planned is not None:
        planned = Flight.objects.select_for_update().get(pk=planned.pk)
        if planned.state != FlightState.PLANNED or planned.drone_id != drone.pk:
            raise Conflict(_("只有该无人机待执行的架次可以起飞"), field="flight")
        flight = planned
    else:
        flight = _planned_today(drone, at, mission) or Flight(drone=drone, mission=mission)
    if source_id or flight.pk is None:
        # The client's key goes with the flight it started, a planned one too, so that a retry
        # finds it. A scheduled flight gives up its schedule id: the schedule has moved its next
        # take-off on already and does not look for that id again.
        flight.source = "manual" if not isinstance(actor, str) else actor
        flight.source_id = source_id
    return _begin(flight, drone, at, actor=actor)


# --- telemetry ---------------------------------------------------------------------------------


def record_telemetry(drone: Drone, samples: Iterable[TelemetrySample]) -> Recorded:
    """Record one batch of samples of one drone (any order): its track, its position, opening and
    landing its flight as the samples say. One transaction."""
    batch = sorted(samples, key=lambda s: s.at)
    if not batch:
        return Recorded()
    with transaction.atomic():
        return _record(Drone.objects.select_for_update().get(pk=drone.pk), batch)


def _record(drone: Drone, batch: list[TelemetrySample]) -> Recorded:
    if not drone.is_active:
        raise Conflict(_("无人机 %(code)s 已停用") % {"code": drone.code}, field="drone")
    result = Recorded()
    flight = Flight.objects.filter(drone=drone, state=FlightState.FLYING).order_by("-started_at").first()
    # Samples up to the end of the drone's last flight are a replay: they must not reopen it.
    ended = None
    if flight is None:
        done = Flight.objects.filter(drone=drone, state__in=(FlightState.LANDED, FlightState.ABORTED))
        ended = done.aggregate(m=Max("ended_at"))["m"]
    pending: list[TrackPoint] = []
    tail: TrackPoint | None = None  # the flight's latest stored point, for the running distance
    airborne_at: dt.datetime | None = None  # the flight's latest airborne moment (for LAND_AFTER)

    def flush() -> None:
        if pending:
            TrackPoint.objects.bulk_create(pending, ignore_conflicts=True, batch_size=500)
            pending.clear()

    for sample in batch:
        airborne = _airborne(sample)
        if flight is None:
            if not airborne or (ended is not None and sample.at <= ended):
                result.skipped += 1
                continue
            flight = _begin(
                _planned_today(drone, sample.at) or Flight(drone=drone, source=TELEMETRY),
                drone,
                sample.at,
                actor=TELEMETRY,
            )
            result.opened = flight
            tail, airborne_at = None, None
        if flight.started_at and sample.at < flight.started_at:
            result.skipped += 1  # late, from before take-off
            continue
        if tail is None:
            tail = TrackPoint.objects.filter(flight=flight).order_by("-at").first()
        point = TrackPoint(
            flight=flight,
            at=sample.at,
            lon=sample.lon,
            lat=sample.lat,
            alt_m=sample.alt_m,
            alt_msl_m=sample.alt_msl_m,
            heading=sample.heading,
            speed_m_s=sample.speed_m_s,
            battery=sample.battery,
        )
        pending.append(point)
        result.points += 1
        if tail is None or sample.at > tail.at:
            # Running figures (exact ones are computed again on landing).
            if tail is not None:
                flight.distance_m += distance_m(tail.lon, tail.lat, sample.lon, sample.lat)
            tail = point
        if airborne:
            # max_alt_m stays None until the first airborne sample: that tells a flight that has
            # flown from one started by an operator and still waiting on the ground, disarmed.
            flight.max_alt_m = max(flight.max_alt_m or 0.0, sample.alt_m or 0.0)
            airborne_at = sample.at
            continue
        if flight.max_alt_m is None:
            continue
        if sample.armed is None:
            if airborne_at is None:
                airborne_at = (
                    TrackPoint.objects.filter(
                        flight=flight, at__lte=sample.at, alt_m__gt=AIRBORNE_ALT_M
                    ).aggregate(m=Max("at"))["m"]
                    or flight.started_at
                )
            if airborne_at is not None and sample.at - airborne_at < LAND_AFTER:
                continue
        flush()
        result.landed = land_flight(flight, actor=TELEMETRY, at=sample.at)
        ended, flight, tail = sample.at, None, None
        drone.refresh_from_db(fields=["status"])
    flush()
    if flight is not None:
        flight.save(update_fields=["distance_m", "max_alt_m", "updated_at"])
    result.flight = flight
    _move(drone, batch[-1], flight)
    return result


def _move(drone: Drone, newest: TelemetrySample, flight: Flight | None) -> None:
    """The drone's last known position, and the throttled event that moves it on the live map."""
    previous = drone.position_at
    if previous is not None and newest.at <= previous:
        return  # an older batch (a replay, a late relay): the drone is not moved back
    drone.lon, drone.lat, drone.alt_m, drone.position_at = newest.lon, newest.lat, newest.alt_m, newest.at
    drone.heading = newest.heading if newest.heading is not None else drone.heading
    drone.battery = newest.battery if newest.battery is not None else drone.battery
    drone.save(update_fields=["lon", "lat", "alt_m", "heading", "battery", "position_at", "updated_at"])
    # One event per POSITION_EVERY_S window of the data's own time: stateless, so several
    # receiving processes together still send one per window.
    window = POSITION_EVERY_S
    if previous is None or int(newest.at.timestamp() // window) != int(previous.timestamp() // window):
        publish(
            DronePosition(
                drone_id=drone.pk,
                flight_id=flight.pk if flight else None,
                lon=newest.lon,
                lat=newest.lat,
                alt=newest.alt_m,
                heading=newest.heading,
                grid_id=grid_index.locate(newest.lon, newest.lat),
            )
        )


# --- landing and coverage ----------------------------------------------------------------------


@transaction.atomic
def land_flight(flight: Flight, *, actor: Any, at: dt.datetime | None = None) -> Flight:
    """降落/结束架次: a flying flight ends at `at` (default its last track point, or now); its
    distance, highest altitude and coverage per grid are computed from the stored track."""
    _check_operator(actor)
    flight = Flight.objects.select_for_update().select_related("drone").get(pk=flight.pk)
    if flight.state != FlightState.FLYING:
        raise Conflict(
            _("只有飞行中的架次可以结束 (当前: %(state)s)") % {"state": flight.get_state_display()}
        )
    _finish(flight, FlightState.LANDED, actor=actor, at=at, action="drones.flight_land")
    return flight


@transaction.atomic
def abort_flight(flight: Flight, *, actor: Any, reason: str = "", at: dt.datetime | None = None) -> Flight:
    """中止架次: a planned flight is called off, a flying one ends abnormally (what its camera saw
    until then still counts as covered)."""
    _check_operator(actor)
    flight = Flight.objects.select_for_update().select_related("drone").get(pk=flight.pk)
    if flight.state not in (FlightState.PLANNED, FlightState.FLYING):
        raise Conflict(_("架次已结束, 不能中止 (当前: %(state)s)") % {"state": flight.get_state_display()})
    flight.note = (reason or "").strip()[:200]
    _finish(flight, FlightState.ABORTED, actor=actor, at=at, action="drones.flight_abort", reason=flight.note)
    return flight


def _finish(
    flight: Flight, state: str, *, actor: Any, at: dt.datetime | None, action: str, **detail: Any
) -> None:
    was_flying = flight.state == FlightState.FLYING
    rows = list(
        TrackPoint.objects.filter(flight=flight).order_by("at").values_list("lon", "lat", "alt_m", "at")
    )
    if was_flying:
        flight.ended_at = at or (rows[-1][3] if rows else timezone.now())
        flight.distance_m = sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(rows))
        alts = [r[2] for r in rows if r[2] is not None]
        flight.max_alt_m = max(alts) if alts else flight.max_alt_m
        _cover(flight, [(r[0], r[1], r[2]) for r in rows])
    _set_state(flight, state, actor=actor, action=action, **detail)
    flight.save(
        update_fields=["state", "ended_at", "distance_m", "max_alt_m", "coverage", "note", "updated_at"]
    )
    drone = Drone.objects.select_for_update().get(pk=flight.drone_id)
    if (
        drone.status == DroneStatus.FLYING
        and not Flight.objects.filter(drone=drone, state=FlightState.FLYING).exists()
    ):
        drone.status = DroneStatus.IDLE
        drone.save(update_fields=["status", "updated_at"])


def thin_track(
    points: Sequence[tuple[float, float, float | None]], step_m: float = COVERAGE_STEP_M
) -> list[Any]:
    """The points that move at least `step_m` from the last one kept (horizontally or in height),
    and the last: a hovering drone's 10 Hz samples add nothing to what its camera sees."""
    kept: list[tuple[float, float, float | None]] = []
    for point in points:
        if kept:
            last = kept[-1]
            moved = distance_m(last[0], last[1], point[0], point[1])
            climbed = abs((point[2] or 0.0) - (last[2] or 0.0))
            if moved < step_m and climbed < step_m:
                continue
        kept.append(point)
    if points and kept[-1] is not points[-1]:
        kept.append(points[-1])
    return kept


def _cover(flight: Flight, track: Sequence[tuple[float, float, float | None]]) -> None:
    """Flight.coverage and one FlightCoverage per grid the camera saw (share of the grid's area)."""
    from shequ_vision.survey import ground_coverage

    FlightCoverage.objects.filter(flight=flight).delete()
    flight.coverage = None
    if not track:
        return
    seen = ground_coverage(thin_track(track), camera_of(flight.drone))
    if seen.is_empty:
        return
    min_lon, min_lat, max_lon, max_lat = seen.bounds
    grids = unit_grids().filter(
        geometry__isnull=False,
        min_lon__lte=max_lon,
        max_lon__gte=min_lon,
        min_lat__lte=max_lat,
        max_lat__gte=min_lat,
    )
    rows: list[FlightCoverage] = []
    for grid in grids.only("pk", "geometry", "area_m2"):
        polygon = shape(grid.geometry)
        covered = area_m2(polygon.intersection(seen))
        if covered <= 0:
            continue
        total = grid.area_m2 or area_m2(polygon)
        share = min(1.0, covered / total) if total > 0 else 0.0
        rows.append(FlightCoverage(flight=flight, grid_id=grid.pk, covered_m2=round(covered, 1), share=share))
    FlightCoverage.objects.bulk_create(rows)
    flight.coverage = _geojson(seen)


def _geojson(geom: BaseGeometry) -> dict[str, Any]:
    """The geometry simplified to about SIMPLIFY_M, coordinates to 1e-7° (~1 cm)."""
    centre = geom.centroid
    plane = local_projection(centre.x, centre.y)
    simple = plane.from_local(plane.to_local(geom).simplify(SIMPLIFY_M, preserve_topology=True))
    simple = shapely.set_precision(simple, 1e-7)
    return dict(mapping(simple))


def track_geojson(flight: Flight) -> dict[str, Any] | None:
    """The flown track as a GeoJSON LineString ([lon, lat, alt] per point), or None before two points."""
    rows = TrackPoint.objects.filter(flight=flight).order_by("at").values_list("lon", "lat", "alt_m")
    coords = [[lon, lat, alt if alt is not None else 0.0] for lon, lat, alt in rows]
    if len(coords) < 2:
        return None
    return {"type": "LineString", "coordinates": coords}
