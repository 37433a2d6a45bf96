"""Reads of cameras and alerts, always through the viewer's scope (docs/video.md "Roles").

Who sees what:
- the command center (administrators, command operators, leaders: accounts.COMMAND_CENTER_ROLES)
  sees the cameras of its grids (administrators all; operators also the cameras not placed in a
  grid, which only the command center can place) and their alerts, with the ORIGINAL images;
- a grid worker sees the cameras of their grids and their alerts, with faces and number plates
  BLURRED (ARCHITECTURE §7: any image shown outside the command center);
- every other role (department handlers, residents, the emergency, service and party roles) sees
  no camera and no alert: a department learns of a camera's finding through the case it is sent.

An id out of sight is simply not found (the API answers 404, revealing nothing).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from shequ.accounts.models import COMMAND_CENTER_ROLES, Role
from shequ.grids.selectors import visible_grid_ids
from shequ.video.models import Alert, AlertState, Camera

log = logging.getLogger(__name__)

# Roles that see cameras at all; those that manage the register and handle alerts are narrower.
WATCH_ROLES = COMMAND_CENTER_ROLES | {Role.GRID_WORKER}
MANAGE_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMMAND_OPERATOR})
HANDLE_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMMAND_OPERATOR, Role.GRID_WORKER})
BLUR_CACHE_SECONDS = 60  # a blurred latest frame is kept this long (keyed by its content)


def _role(user: Any) -> Role | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    try:
        return Role(user.role)
    except ValueError:
        return None


def may_watch(user: Any) -> bool:
    """May see cameras and alerts at all (the wall, the queue): the command center and grid workers."""
    return _role(user) in WATCH_ROLES


def sees_originals(user: Any) -> bool:
    """Sees images as recorded; everyone else sees faces and plates blurred."""
    return _role(user) in COMMAND_CENTER_ROLES


def may_manage(user: Any) -> bool:
    """May register and change cameras, their analytics settings, and import them."""
    return _role(user) in MANAGE_ROLES


def may_handle(user: Any) -> bool:
    """May confirm or dismiss alerts (of cameras in their scope)."""
    return _role(user) in HANDLE_ROLES


def _camera_scope(user: Any) -> Q | None:
    role = _role(user)
    if role not in WATCH_ROLES:
        return None
    grids = visible_grid_ids(user)
    if grids is None:
        return Q()
    scope = Q(grid_id__in=grids)
    if role == Role.COMMAND_OPERATOR:
        scope |= Q(grid__isnull=True)
    return scope


def cameras_for(user: Any) -> QuerySet[Camera]:
    """The cameras a user may see (none for roles outside WATCH_ROLES)."""
    scope = _camera_scope(user)
    qs = Camera.objects.all()
    return qs.none() if scope is None else qs.filter(scope)


def alerts_for(user: Any) -> QuerySet[Alert]:
    """The alerts of the cameras a user may see."""
    scope = _camera_scope(user)
    qs = Alert.objects.all()
    if scope is None:
        return qs.none()
    return qs.filter(camera__in=Camera.objects.filter(scope).values("pk"))


def access_camera(user: Any, pk: int, *, lock: bool = False) -> Camera | None:
    """The camera if the user may see it, else None (404). With `lock`, its row is locked."""
    qs = cameras_for(user)
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.filter(pk=pk).first()


def access_alert(user: Any, pk: int, lock: bool = False) -> Alert | None:
    """The alert if the user may see it, else None (404). With `lock`, its row is locked for the
    caller's transaction (an act follows)."""
    qs = alerts_for(user)
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.select_related("camera").filter(pk=pk).first()


def false_positives(camera: Camera) -> dict[str, int]:
    """误报 per rule of a camera: how many of its alerts were dismissed, by rule id ("" = alerts
    without a rule, e.g. external ones). Counted from the alerts, so it never drifts."""
    rows = (
        Alert.objects.filter(camera=camera, state=AlertState.DISMISSED)
        .values("rule_id")
        .annotate(n=Count("pk"))
        .order_by("rule_id")
    )
    return {row["rule_id"]: row["n"] for row in rows}


def alert_counts(camera: Camera) -> dict[str, int]:
    """The camera's alerts by state."""
    rows = Alert.objects.filter(camera=camera).values("state").annotate(n=Count("pk")).order_by("state")
    return {row["state"]: row["n"] for row in rows}


def _read(field: Any) -> bytes | None:
    if not field:
        return None
    try:
        with field.open("rb") as f:
            return bytes(f.read())
    except OSError:  # purged or lost: nothing to show
        return None


def snapshot_for(user: Any, obj: Alert | Camera) -> bytes | None:
    """The image of an alert (its snapshot) or a camera (its latest frame) as this user may see it:
    the original for the command center, blurred for everyone else; None when there is none. The
    caller has checked the object is in the user's scope."""
    if isinstance(obj, Alert):
        if not obj.snapshot:
            return None
        if sees_originals(user):
            return _read(obj.snapshot)
        from shequ.video.services import blurred_snapshot

        return blurred_snapshot(obj)
    data = _read(obj.latest_snapshot)
    if data is None or sees_originals(user):
        return data
    return blurred_latest(data)


def blurred_latest(data: bytes) -> bytes:
    """A latest frame blurred (cached briefly by content: a wall refreshes every few seconds)."""
    from shequ.video.services import media

    key = "video:blurred:" + hashlib.sha256(data).hexdigest()
    found = cache.get(key)
    if isinstance(found, bytes):
        return found
    blurred = media.blur(data)
    cache.set(key, blurred, BLUR_CACHE_SECONDS)
    return blurred


def clip_for(user: Any, alert: Alert) -> bytes | None:
    """An alert's clip, to the command center only: a clip cannot be blurred frame by frame here,
    and faces in it would be shown outside the command center."""
    if not sees_originals(user):
        return None
    return _read(alert.clip)
