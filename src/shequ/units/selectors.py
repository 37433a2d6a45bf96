"""Reads of units, always through the viewer's scope (docs/units.md "Scope").

Who sees which units: administrators all; command operators and leaders the units whose last
position lies in their grids or who answer for one of their grids; a grid worker the same within
their own grids (and themselves); a department handler their department's units (and themselves);
other roles none. A position older than POSITION_SHOWN is not shown (the status still is).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from shequ.accounts.models import COMMAND_CENTER_ROLES, Role
from shequ.cases.selectors import cases_for
from shequ.core.audit import audit
from shequ.core.geo import distance_m
from shequ.grids.models import Assignment, Grid, Level
from shequ.grids.selectors import visible_grid_ids
from shequ.units.models import SHARING, DutyStatus, Position, Status
from shequ.units.services import FIELD_ROLES

POSITION_SHOWN = dt.timedelta(minutes=30)  # the map shows a last position this fresh
AVAILABLE_FRESH = dt.timedelta(minutes=15)  # a unit suggested for dispatch has a fix this fresh
AREA_VIEWERS = frozenset({Role.COMMAND_OPERATOR, Role.LEADER, Role.GRID_WORKER})
# Those who may see where a unit has been (its track, audited) and whom to dispatch.
MAX_TRACK = dt.timedelta(hours=24)
NEIGHBOUR_PAD_DEG = 1e-5  # ~1 m: grids that share a border touch within this


def _role(user: Any) -> Role | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return Role(user.role)


def is_command_viewer(user: Any) -> bool:
    """May see where units have been and whom to dispatch: the command center and leaders."""
    return _role(user) in COMMAND_CENTER_ROLES


def _scope(user: Any) -> Q | None:
    """The Q over DutyStatus of the units a viewer may see; None: none at all."""
    role = _role(user)
    if role is None:
        return None
    if role == Role.ADMINISTRATOR:
        return Q()
    own = Q(user_id=user.pk)
    if role == Role.DEPARTMENT_HANDLER:
        return own | Q(user__department_id=user.department_id) if user.department_id else own
    if role not in AREA_VIEWERS:
        return None
    grids = visible_grid_ids(user)
    if grids is None:
        return Q()
    home = Assignment.objects.filter(user_id=OuterRef("user_id"), grid_id__in=grids)
    area = Q(last_grid_id__in=grids) | Q(Exists(home))
    return area | own if role == Role.GRID_WORKER else area


def units_for(user: Any) -> QuerySet[DutyStatus]:
    """The duty rows of field users a viewer may see (any status)."""
    scope = _scope(user)
    qs = DutyStatus.objects.filter(user__role__in=FIELD_ROLES, user__is_active=True)
    return qs.none() if scope is None else qs.filter(scope)


def _unit(duty: DutyStatus, now: dt.datetime, *, shown: dt.timedelta = POSITION_SHOWN) -> dict[str, Any]:
    user = duty.user
    fresh = duty.last_at is not None and duty.last_lon is not None and now - duty.last_at <= shown
    return {
        "user_id": user.pk,
        "name": user.display_name or user.get_username(),
        "role": user.role,
        "status": duty.status,
        "lon": duty.last_lon if fresh else None,
        "lat": duty.last_lat if fresh else None,
        "at": timezone.localtime(duty.last_at).isoformat() if fresh and duty.last_at else None,
        "accuracy_m": duty.last_accuracy_m if fresh else None,
        "grid_id": duty.last_grid_id if fresh else None,
        "department": user.department.code if user.department_id and user.department else None,
    }


def last_positions(user: Any) -> list[dict[str, Any]]:
    """Units on duty or busy in the viewer's scope, each with its last position of the last 30
    minutes (older: the status, no position), by name."""
    now = timezone.now()
    qs = (
        units_for(user)
        .filter(status__in=SHARING)
        .select_related("user", "user__department")
        .order_by("user__display_name", "user__username")
    )
    return [_unit(duty, now) for duty in qs]


def neighbour_grid_ids(grid: Grid) -> set[int]:
    """The unit grids that share a border (or a corner) with this one, itself included."""
    from shapely.geometry import shape

    box = (grid.min_lon, grid.min_lat, grid.max_lon, grid.max_lat)
    if grid.geometry is None or None in box:
        return {grid.pk}
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in box)  # type: ignore[arg-type]
    pad = NEIGHBOUR_PAD_DEG
    near = Grid.objects.filter(
        level=Level.GRID,
        is_active=True,
        geometry__isnull=False,
        min_lon__lte=max_lon + pad,
        max_lon__gte=min_lon - pad,
        min_lat__lte=max_lat + pad,
        max_lat__gte=min_lat - pad,
    ).values_list("pk", "geometry")
    mine = shape(grid.geometry)
    return {grid.pk} | {pk for pk, geometry in near if mine.distance(shape(geometry)) <= pad}


def nearest_units(user: Any, case: Any, limit: int = 5) -> list[dict[str, Any]]:
    """Available units (on duty, not busy, a fix of the last 15 minutes) nearest to a located case,
    with `distance_m`, nearest first: the grid workers of the case's grid and its neighbours (within
    the viewer's grids) and the departments' handlers, of the units the viewer sees (`units_for`).
    The viewer must be of the command center and see the case; otherwise, or for a case without a
    point, none."""
    if _role(user) not in COMMAND_CENTER_ROLES or case.lon is None or case.lat is None:
        return []
    if not cases_for(user).filter(pk=case.pk).exists():
        return []
    now = timezone.now()
    candidates = Q(user__role=Role.DEPARTMENT_HANDLER, user__department__is_active=True)
    if case.grid_id is not None:
        grids = neighbour_grid_ids(case.grid)
        visible = visible_grid_ids(user)
        if visible is not None:
            grids &= visible
        workers = Assignment.objects.filter(grid_id__in=grids).values("user_id")
        candidates |= Q(user__role=Role.GRID_WORKER, user_id__in=workers)
    qs = (
        units_for(user)  # the viewer's scope, as on the map: no unit they may not see
        .filter(candidates, status=Status.ON_DUTY)
        .filter(consent_at__isnull=False, last_lon__isnull=False, last_at__gte=now - AVAILABLE_FRESH)
        .select_related("user", "user__department")
    )
    rows = []
    for duty in qs:
        row = _unit(duty, now, shown=AVAILABLE_FRESH)
        assert duty.last_lon is not None and duty.last_lat is not None
        row["distance_m"] = round(distance_m(case.lon, case.lat, duty.last_lon, duty.last_lat), 1)
        rows.append(row)
    rows.sort(key=lambda r: (r["distance_m"], r["user_id"]))
    return rows[: max(0, limit)]


def access_unit(user: Any, unit_user_id: int) -> DutyStatus | None:
    """A unit's duty row if a command-center viewer may see it, else None (404)."""
    if _role(user) not in COMMAND_CENTER_ROLES:
        return None
    return units_for(user).filter(user_id=unit_user_id).select_related("user").first()


def track(viewer: Any, duty: DutyStatus, *, since: dt.timedelta = MAX_TRACK) -> list[Position]:
    """Where a unit has been (within the retention period, at most MAX_TRACK back), oldest first.
    Each look is a sensitive read: audited."""
    since = min(since, MAX_TRACK)
    rows = list(
        Position.objects.filter(user_id=duty.user_id, at__gte=timezone.now() - since).order_by("at", "pk")
    )
    audit(
        "units.track_view", actor=viewer, target=duty, unit=duty.user_id, hours=since.total_seconds() / 3600
    )
    return rows
