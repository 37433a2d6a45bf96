"""The one map's layers (docs/onemap.md), each read in the viewer's data scope.

Small layers answer GeoJSON of every feature; the case and asset layers answer points in a
viewport, or, at low zoom or when the viewport holds more than POINT_LIMIT of them, clusters made
by one grouped query on a lon/lat cell grid sized by the zoom. Coordinates stay WGS-84: the
browser converts them to the tiles' datum (frontend/src/onemap.ts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet
from django.db.models.functions import Floor
from django.urls import reverse
from django.utils import timezone

from shequ.accounts.models import COMMAND_CENTER_ROLES, Role
from shequ.cases import selectors as case_selectors
from shequ.cases.models import OPEN_STATES, STATE_KIND, Case, StateKind
from shequ.core.audit import audit
from shequ.grids.selectors import grids_for
from shequ.registry import identifiers
from shequ.registry import selectors as registry_selectors
from shequ.registry.models import Asset, Building, Person

# Who opens the one map: the command center, leaders and administrators (the page and the API).
# Who may find a person by name or ID number on the map: the command center (leaders see figures).
PERSON_SEARCH_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMMAND_OPERATOR})

POINT_LIMIT = 500  # more cases than this in the viewport: clusters, whatever the zoom
CLUSTER_BELOW_ZOOM = 15  # below this zoom: clusters, whatever the count
CELLS_PER_TILE = 4  # cluster cell = a quarter of a 256 px tile's width (~64 px on screen)
CAMERA_CATEGORY = "0121"  # 监控电子眼, a 部件 class of the standard
SEARCH_LIMIT = 10  # results per kind


def may_use_map(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return Role(user.role) in COMMAND_CENTER_ROLES


def scope_key(user: Any) -> str:
    """What a layer's answer depends on besides the data: the role (the operator also sees cases not
    yet placed in a grid) and the visible grids. Two viewers with the same key see the same layers."""
    from hashlib import sha256

    from shequ.grids.selectors import visible_grid_ids

    ids = visible_grid_ids(user)
    grids = "all" if ids is None else sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]
    return f"{user.role}:{grids}"


def feature(geometry: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}


def collection(features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", **extra, "features": features}


# --- grids -----------------------------------------------------------------------------------------


def grid_layer(user: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """The visible unit grids with their open and overdue case counts (one grouped query)."""
    now = now or timezone.now()
    grids = list(
        grids_for(user)
        .filter(level="grid", is_active=True, geometry__isnull=False)
        .only("pk", "code", "name", "geometry")
        .order_by("code")
    )
    counts = {
        row["grid_id"]: row
        for row in case_selectors.cases_for(user)
        .filter(state__in=OPEN_STATES, grid_id__in=[g.pk for g in grids])
        .values("grid_id")
        .annotate(open=Count("id"), overdue=Count("id", filter=case_selectors.overdue_q(now)))
        .order_by()
    }
    features = []
    for grid in grids:
        row: Mapping[str, Any] = counts.get(grid.pk, {})
        features.append(
            feature(
                grid.geometry or {},
                {
                    "code": grid.code,
                    "name": grid.name,
                    "open": row.get("open", 0),
                    "overdue": row.get("overdue", 0),
                    "url": reverse("web:grid", args=[grid.code]),
                },
            )
        )
    return collection(features)


# --- clusters ----------------------------------------------------------------------------------------


def cell_size(zoom: int) -> float:
    """Degrees of longitude (and latitude, near enough at a community's scale) of one cluster cell."""
    return 360.0 / (2**zoom) / CELLS_PER_TILE


def clusters(qs: QuerySet[Any], zoom: int, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """One grouped query: the count and centroid of the rows of `qs` in each cell, with the
    conditional counts of `extra` (name → aggregate)."""
    size = cell_size(zoom)
    rows = (
        qs.exclude(lon=None)
        .exclude(lat=None)
        .annotate(cx=Floor(F("lon") / size), cy=Floor(F("lat") / size))
        .values("cx", "cy")
        .annotate(count=Count("id"), lon=Avg("lon"), lat=Avg("lat"), **extra)
        .order_by("cx", "cy")
    )
    out = []
    for row in rows:
        props = {"cluster": True, "count": row["count"], "cell": f"{int(row['cx'])}:{int(row['cy'])}"}
        props.update({name: row[name] for name in extra})
        out.append(feature(point(row["lon"], row["lat"]), props))
    return out


def _kind_states(kind: StateKind) -> list[str]:
    return [s.value for s, k in STATE_KIND.items() if k == kind]


# --- cases -------------------------------------------------------------------------------------------


def case_layer(
    qs: QuerySet[Case],
    *,
    zoom: int | None,
    now: dt.datetime | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Cases of `qs` (scoped and filtered by the caller) as points, or clusters at low zoom or
    when there are more than `limit` of them. `mode` says which; `count` is the number of cases."""
    now = now or timezone.now()
    limit = POINT_LIMIT if limit is None else limit
    located = qs.exclude(lon=None).exclude(lat=None)
    if zoom is None or zoom >= CLUSTER_BELOW_ZOOM:
        rows = list(
            located.order_by("-id").values(
                "id", "number", "state", "urgency", "lon", "lat", "due_at", "category__name"
            )[: limit + 1]
        )
        if len(rows) <= limit:
            return collection(
                [_case_point(row, now) for row in rows], mode="points", count=len(rows), zoom=zoom
            )
    z = CLUSTER_BELOW_ZOOM if zoom is None else zoom  # cells of ~64 px at the zoom shown
    late = case_selectors.overdue_q(now)
    extra: dict[str, Any] = {"overdue": Count("id", filter=late)}
    for kind in StateKind:
        extra[kind.value] = Count("id", filter=Q(state__in=_kind_states(kind)))
    features = clusters(located, z, extra)
    return collection(
        features, mode="clusters", count=sum(f["properties"]["count"] for f in features), zoom=z
    )


def _case_point(row: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    state = row["state"]
    overdue = state in OPEN_STATES and row["due_at"] is not None and row["due_at"] < now
    return feature(
        point(row["lon"], row["lat"]),
        {
            "id": row["id"],
            "number": row["number"],
            "state": state,
            "state_kind": STATE_KIND[state].value if state in STATE_KIND else "",
            "urgency": row["urgency"],
            "overdue": overdue,
            "category": row["category__name"] or "",
        },
    )


# --- cameras and other assets ---------------------------------------------------------------------


def camera_q() -> Q:
    return Q(category__code=CAMERA_CATEGORY) | Q(category__parent__code=CAMERA_CATEGORY)


def _in_bbox(qs: QuerySet[Any], bbox: tuple[float, float, float, float] | None) -> QuerySet[Any]:
    qs = qs.exclude(lon=None).exclude(lat=None)
    if bbox is None:
        return qs
    min_lon, min_lat, max_lon, max_lat = bbox
    return qs.filter(lon__gte=min_lon, lon__lte=max_lon, lat__gte=min_lat, lat__lte=max_lat)


def _asset_point(row: dict[str, Any]) -> dict[str, Any]:
    return feature(
        point(row["lon"], row["lat"]),
        {
            "id": row["id"],
            "code": row["code"],
            "name": row["name"],
            "status": row["status"],
            "category": row["category__name"],
            "category_code": row["category__code"],
        },
    )


ASSET_FIELDS = ("id", "code", "name", "status", "lon", "lat", "category__name", "category__code")


CAMERA_FIELDS = ("id", "code", "name", "status", "lon", "lat")


def _camera_point(row: dict[str, Any]) -> dict[str, Any]:
    from shequ.video.models import CameraStatus

    return feature(
        point(row["lon"], row["lat"]),
        {
            "id": row["id"],
            "code": row["code"],
            "name": row["name"],
            "kind": "camera",
            "status": row["status"],
            "status_label": str(CameraStatus(row["status"]).label),
            "url": reverse("web:video:camera", args=[row["id"]]),
        },
    )


def camera_layer(user: Any, bbox: tuple[float, float, float, float] | None) -> dict[str, Any]:
    """Cameras within the box: the video register's cameras in the viewer's scope
    (video.selectors.cameras_for), with their status and camera page; and the registry's camera
    assets (部件 0121 监控电子眼, in the viewer's grids) that no camera record stands for yet.
    Two queries, whatever the count."""
    from shequ.video.selectors import cameras_for

    cameras = _in_bbox(cameras_for(user), bbox).order_by("code").values(*CAMERA_FIELDS)
    features = [_camera_point(r) for r in cameras]
    assets = _in_bbox(registry_selectors.assets_for(user).filter(camera_q(), camera__isnull=True), bbox)
    for row in assets.order_by("code").values(*ASSET_FIELDS):
        asset = _asset_point(row)
        asset["properties"]["kind"] = "asset"
        features.append(asset)
    return collection(features, count=len(features))


def asset_layer(
    user: Any,
    bbox: tuple[float, float, float, float] | None,
    *,
    zoom: int | None,
    category: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The other 部件 (cameras have their own layer), points or clusters as the case layer."""
    qs: QuerySet[Asset] = _in_bbox(registry_selectors.assets_for(user).exclude(camera_q()), bbox)
    if category:
        qs = qs.filter(Q(category__code=category) | Q(category__parent__code=category))
    limit = POINT_LIMIT if limit is None else limit
    if zoom is None or zoom >= CLUSTER_BELOW_ZOOM:
        rows = list(qs.order_by("code").values(*ASSET_FIELDS)[: limit + 1])
        if len(rows) <= limit:
            return collection([_asset_point(r) for r in rows], mode="points", count=len(rows), zoom=zoom)
    z = CLUSTER_BELOW_ZOOM if zoom is None else zoom  # cells of ~64 px at the zoom shown
    extra = {"damaged": Count("id", filter=~Q(status=Asset.Status.NORMAL))}
    features = clusters(qs, z, extra)
    return collection(
        features, mode="clusters", count=sum(f["properties"]["count"] for f in features), zoom=z
    )


# --- units -------------------------------------------------------------------------------------------


def unit_layer(user: Any) -> dict[str, Any]:
    """Units' last positions (shequ.units.selectors.last_positions): those without a fresh position
    are listed in `without_position` with their status, not drawn."""
    try:
        from shequ.units.selectors import last_positions
    except ImportError:  # the units app not there yet: an empty layer, said so
        return collection([], available=False, without_position=[])
    features, without = [], []
    for unit in last_positions(user):
        props = {k: v for k, v in unit.items() if k not in {"lon", "lat"}}
        if unit.get("lon") is None or unit.get("lat") is None:
            without.append(props)
        else:
            features.append(feature(point(unit["lon"], unit["lat"]), props))
    return collection(features, available=True, without_position=without)


# --- drones ------------------------------------------------------------------------------------------

DRONE_FRESH = dt.timedelta(minutes=30)  # a position older than this is not drawn (the drone is home)


def drone_layer(user: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """Drones in the viewer's scope (drones.selectors.drones_for) at their last position of the
    last 30 minutes, with status, battery and heading; docks as points. The live feed's
    drones.position events move the markers between reads (frontend/src/onemap.ts)."""
    from shequ.drones.selectors import docks_for, drones_for

    now = now or timezone.now()
    features = []
    rows = (
        drones_for(user)
        .filter(is_active=True, lon__isnull=False, lat__isnull=False, position_at__gte=now - DRONE_FRESH)
        .order_by("code")
        .values("id", "code", "name", "status", "battery", "heading", "alt_m", "lon", "lat", "position_at")
    )
    for r in rows:
        props = {k: v for k, v in r.items() if k not in {"lon", "lat", "position_at"}}
        props |= {"kind": "drone", "at": timezone.localtime(r["position_at"]).isoformat()}
        features.append(feature(point(r["lon"] or 0.0, r["lat"] or 0.0), props))  # filtered: not null
    docks = docks_for(user).filter(is_active=True).order_by("code").values("code", "name", "lon", "lat")
    for d in docks:
        props = {"kind": "dock", "code": d["code"], "name": d["name"]}
        features.append(feature(point(d["lon"], d["lat"]), props))
    return collection(features)


def mission_layer(user: Any) -> dict[str, Any]:
    """Active missions in the viewer's scope: each one's route (a LineString) and ground coverage
    (its planned geometry), with its name, pattern and routine, and the mission page's address."""
    from shequ.drones.selectors import missions_for

    features = []
    rows = (
        missions_for(user)
        .filter(is_active=True)
        .order_by("code")
        .values("id", "code", "name", "pattern", "repeat", "route", "coverage")
    )
    for r in rows:
        props = {
            "id": r["id"],
            "code": r["code"],
            "name": r["name"],
            "pattern": r["pattern"],
            "repeat": r["repeat"],
            "url": reverse("web:drones:mission", args=[r["id"]]),
        }
        if r["coverage"]:
            features.append(feature(r["coverage"], props | {"kind": "coverage"}))
        line = [[p[0], p[1]] for p in r["route"] or [] if isinstance(p, list) and len(p) >= 2]
        if len(line) >= 2:
            features.append(feature({"type": "LineString", "coordinates": line}, props | {"kind": "route"}))
    return collection(features)


# --- search ------------------------------------------------------------------------------------------


def _result(kind: str, label: str, lon: float | None, lat: float | None, url: str) -> dict[str, Any]:
    return {"kind": kind, "label": label, "lon": lon, "lat": lat, "url": url}


def _centroid(geometry: Any) -> tuple[float, float] | None:
    """The mean of the outer ring's points (of the first part of a MultiPolygon); None for anything
    else a hand-edited footprint may hold."""
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if isinstance(geometry, dict) and geometry.get("type") == "MultiPolygon" and coordinates:
        coordinates = coordinates[0]
    ring: Iterable[Any] = coordinates[0] if isinstance(coordinates, list) and coordinates else []
    points = [p for p in ring if isinstance(p, list) and len(p) >= 2]
    if not all(isinstance(v, int | float) for p in points for v in p[:2]):
        return None
    if not points:
        return None
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def _building_place(building: Building | None) -> tuple[float | None, float | None]:
    if building is None:
        return None, None
    if building.lon is not None and building.lat is not None:
        return building.lon, building.lat
    if building.footprint and (c := _centroid(building.footprint)):
        return c
    return None, None


def search(user: Any, q: str) -> list[dict[str, Any]]:
    """Case numbers and addresses, buildings by name or address, and people by name or resident ID
    (for PERSON_SEARCH_ROLES, each search audited; numbers masked), all in the viewer's scope."""
    out: list[dict[str, Any]] = []
    cases = (
        case_selectors.cases_for(user)
        .filter(Q(number__icontains=q) | Q(address__icontains=q))
        .select_related("category")
        .order_by("-created_at", "-id")[:SEARCH_LIMIT]
    )
    for case in cases:
        label = " ".join(
            x for x in (case.number, case.category.name if case.category else "", case.address) if x
        )
        url = reverse("web:cases:detail", kwargs={"ref": case.number})
        out.append(_result("case", label, case.lon, case.lat, url))
    buildings = (
        registry_selectors.buildings_for(user)
        .filter(Q(name__icontains=q) | Q(address__icontains=q) | Q(code=q))
        .order_by("code")[:SEARCH_LIMIT]
    )
    for building in buildings:
        lon, lat = _building_place(building)
        label = f"{building.name} {building.address}".strip()
        out.append(_result("building", label, lon, lat, reverse("web:building", args=[building.pk])))
    if Role(user.role) in PERSON_SEARCH_ROLES:
        out.extend(_people(user, q))
    return out


def _people(user: Any, q: str) -> list[dict[str, Any]]:
    people = registry_selectors.people_for(user).filter(is_active=True)
    try:
        number = identifiers.parse_resident_id(q).number
    except identifiers.IdentifierError:  # not an ID number: search by name
        found = people.filter(name__icontains=q)
        how = "name"
    else:
        found = registry_selectors.people_with_id_number(people, number)
        how = "id_number"
    rows: list[Person] = list(
        found.select_related("household__dwelling__building").order_by("name", "id")[:SEARCH_LIMIT]
    )
    # A look-up of people is a sensitive read: who searched, how, and how many were found.
    audit("onemap.person_search", actor=user, by=how, found=len(rows))
    out = []
    for person in rows:
        household = person.household
        building = household.dwelling.building if household and household.dwelling else None
        lon, lat = _building_place(building)
        masked = identifiers.mask_resident_id(person.id_number) if person.id_number else ""
        label = " ".join(x for x in (person.name, masked, household.address if household else "") if x)
        out.append(_result("person", label, lon, lat, reverse("web:person", args=[person.pk])))
    return out
