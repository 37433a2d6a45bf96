"""Reads of the drones app, always through the viewer's scope (docs/drones.md, "Roles").

Who sees what (as for cameras, shequ/video/selectors.py):
- administrators see everything;
- command operators and leaders see what touches their grids, plus what is in no grid (a drone
  without a dock, a mission over no grid, a photo outside every grid): only the command center
  can place those;
- grid workers see what touches their grids, with faces and number plates BLURRED in every image
  (ARCHITECTURE §7: any image shown outside the command center);
- every other role sees nothing (a department learns of a finding through the case it is sent).

"Touches a grid": a drone through its dock's grids, a dock through its grids, a mission through
its grids, a flight through its mission, its drone or the grids it covered, a photo through its
grid or the grid of one of its findings, a finding through its grid (that of its ground point).

An id out of sight is simply not found (the API answers 404, revealing nothing). Leaders read
only: `may_manage` and `may_handle` say who may act.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet

from shequ.accounts.models import COMMAND_CENTER_ROLES, Role
from shequ.drones.models import Dock, Drone, Finding, Flight, Mission, Photo
from shequ.grids.selectors import visible_grid_ids

WATCH_ROLES = COMMAND_CENTER_ROLES | {Role.GRID_WORKER}
MANAGE_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMMAND_OPERATOR})
HANDLE_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMMAND_OPERATOR, Role.GRID_WORKER})
# Roles that also see what lies in no grid.
UNPLACED_ROLES = frozenset({Role.COMMAND_OPERATOR, Role.LEADER})
BLUR_CACHE_SECONDS = 600  # a blurred photo or crop is kept this long (keyed by its content)


def _role(user: Any) -> Role | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    try:
        return Role(user.role)
    except ValueError:
        return None


def may_watch(user: Any) -> bool:
    """May see drones, flights, photos and findings at all: the command center and grid workers."""
    return _role(user) in WATCH_ROLES


def sees_originals(user: Any) -> bool:
    """Sees photos and crops as taken; everyone else sees faces and plates blurred."""
    return _role(user) in COMMAND_CENTER_ROLES


def may_manage(user: Any) -> bool:
    """May register drones and docks, plan missions, start flights and upload photos."""
    return _role(user) in MANAGE_ROLES


def may_handle(user: Any) -> bool:
    """May confirm or dismiss findings (in their scope)."""
    return _role(user) in HANDLE_ROLES


class _Scope:
    """The viewer's grids: `everything` for administrators, else the grid ids and whether things in
    no grid are seen too. `None` from `_scope` means the role sees nothing."""

    def __init__(self, grids: frozenset[int] | None, unplaced: bool) -> None:
        self.everything = grids is None
        self.grids: frozenset[int] = grids or frozenset()
        self.unplaced = unplaced


def _scope(user: Any) -> _Scope | None:
    role = _role(user)
    if role not in WATCH_ROLES:
        return None
    return _Scope(visible_grid_ids(user), role in UNPLACED_ROLES)


def _by_grid(scope: _Scope, field: str = "grid") -> Q:
    """Objects with a single grid foreign key `field`."""
    q = Q(**{f"{field}_id__in": scope.grids})
    if scope.unplaced:
        q |= Q(**{f"{field}__isnull": True})
    return q


def _by_grids(model: Any, scope: _Scope) -> Q:
    """Objects with a `grids` many-to-many: any of them visible (or none at all, when unplaced
    things are seen). As a pk subquery, so the result has no duplicates."""
    q = Q(pk__in=model.objects.filter(grids__in=scope.grids).values("pk"))
    if scope.unplaced:
        q |= Q(pk__in=model.objects.filter(grids__isnull=True).values("pk"))
    return q


def docks_for(user: Any) -> QuerySet[Dock]:
    scope = _scope(user)
    qs = Dock.objects.all()
    if scope is None:
        return qs.none()
    return qs if scope.everything else qs.filter(_by_grids(Dock, scope))


def drones_for(user: Any) -> QuerySet[Drone]:
    """Drones whose dock is in sight (operators and leaders also those without a dock)."""
    scope = _scope(user)
    qs = Drone.objects.all()
    if scope is None:
        return qs.none()
    if scope.everything:
        return qs
    q = Q(dock__in=Dock.objects.filter(_by_grids(Dock, scope)).values("pk"))
    if scope.unplaced:
        q |= Q(dock__isnull=True)
    return qs.filter(q)


def missions_for(user: Any) -> QuerySet[Mission]:
    scope = _scope(user)
    qs = Mission.objects.all()
    if scope is None:
        return qs.none()
    return qs if scope.everything else qs.filter(_by_grids(Mission, scope))


def flights_for(user: Any) -> QuerySet[Flight]:
    """Flights of a mission in sight, of a drone in sight, or that covered a grid in sight."""
    scope = _scope(user)
    qs = Flight.objects.all()
    if scope is None:
        return qs.none()
    if scope.everything:
        return qs
    missions = Mission.objects.filter(_by_grids(Mission, scope)).values("pk")
    drones = drones_for(user).values("pk")
    covered = Flight.objects.filter(grid_coverage__grid_id__in=scope.grids).values("pk")
    return qs.filter(Q(mission__in=missions) | Q(drone__in=drones) | Q(pk__in=covered))


def findings_for(user: Any) -> QuerySet[Finding]:
    scope = _scope(user)
    qs = Finding.objects.all()
    if scope is None:
        return qs.none()
    return qs if scope.everything else qs.filter(_by_grid(scope))


def photos_for(user: Any) -> QuerySet[Photo]:
    """Photos in a grid in sight, or with a finding in one (a grid worker sees the whole photo of a
    finding in their grid even when the photo's centre lies in the next grid)."""
    scope = _scope(user)
    qs = Photo.objects.all()
    if scope is None:
        return qs.none()
    if scope.everything:
        return qs
    with_findings = Finding.objects.filter(grid_id__in=scope.grids).values("photo_id")
    return qs.filter(_by_grid(scope) | Q(pk__in=with_findings))


def access_photo(user: Any, pk: int) -> Photo | None:
    """The photo if the user may see it, else None (404)."""
    return photos_for(user).filter(pk=pk).first()


def access_finding(user: Any, pk: int) -> Finding | None:
    """The finding if the user may see it, else None (404)."""
    return findings_for(user).select_related("photo").filter(pk=pk).first()


# --- images as the viewer may see them ------------------------------------------------------------


def _read(field: Any) -> bytes | None:
    if not field:
        return None
    try:
        with field.open("rb") as f:
            return bytes(f.read())
    except OSError:  # purged or lost: nothing to show
        return None


def blurred(data: bytes) -> bytes:
    """Faces and plates blurred by the video app's filter (which fails closed: on any error the
    whole image is pixelated), cached briefly by content: blurring a whole photo takes a while."""
    from shequ.video.services import media

    key = "drones:blurred:" + hashlib.sha256(data).hexdigest()
    found = cache.get(key)
    if isinstance(found, bytes):
        return found
    out = media.blur(data)
    cache.set(key, out, BLUR_CACHE_SECONDS)
    return out


def blurred_photo(photo: Photo, data: bytes) -> bytes:
    """A whole aerial photo blurred: by the people and vehicles found on it when its ground
    resolution is too coarse for faces and plates to be read or looked for
    (services.photos.blur_aerial), else by the whole filter; cached briefly by content."""
    from shequ.drones.services.photos import CASCADE_GSD_CM, blur_aerial

    if photo.gsd_cm is None or photo.gsd_cm < CASCADE_GSD_CM:
        return blurred(data)
    key = "drones:blurred-aerial:" + hashlib.sha256(data).hexdigest()
    found = cache.get(key)
    if isinstance(found, bytes):
        return found
    out = blur_aerial(data)
    cache.set(key, out, BLUR_CACHE_SECONDS)
    return out


def photo_image_for(user: Any, photo: Photo) -> bytes | None:
    """The photo as this user may see it: the original for the command center, blurred for grid
    workers; None when its file is gone. The caller has checked the photo is in scope."""
    data = _read(photo.image)
    if data is None or sees_originals(user):
        return data
    return blurred_photo(photo, data)


def crop_for(user: Any, finding: Finding) -> bytes | None:
    """A finding's crop as this user may see it (as `photo_image_for`)."""
    data = _read(finding.crop)
    if data is None or sees_originals(user):
        return data
    return blurred(data)
