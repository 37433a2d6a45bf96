"""Pages of the drones (docs/pages.md, "Drones"): the fleet, a mission with its route and coverage
on a map (and the plan form with a live preview), a flight with its track moving live, the findings
queue with confirm / dismiss by keys, and the photo upload.

Thin, as the video pages: reads through `drones.selectors` (scope; an id outside it answers 404,
a role without drones 403), writes through one `drones.services` call each. Images are never served
from /media/: photos and crops pass `selectors.photo_image_for` / `crop_for`, which blur faces and
number plates for anyone outside the command center (ARCHITECTURE §7). The maps are drawn by
frontend/src/drones.ts from the GeoJSON in each page's `drones-map-data`; coordinates stay WGS-84.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from shequ.core.errors import DomainError
from shequ.drones import selectors
from shequ.drones.forms import (
    ConfirmForm,
    DismissForm,
    FindingFilter,
    ImportPlanForm,
    MissionForm,
    ScheduleForm,
    UploadForm,
)
from shequ.drones.models import (
    Finding,
    FindingKind,
    FindingState,
    Flight,
    FlightState,
    Mission,
    Photo,
    TrackPoint,
)
from shequ.drones.services import findings, missions, photos
from shequ.drones.services.photos import BatchReport
from shequ.grids.models import Grid
from shequ.web import access

RECENT_FLIGHTS = 12
FINDING_PAGE_SIZE = 20
MAX_TRACK_POINTS = 2000  # drawn on the flight page: a 40-minute flight at 1 Hz thinned by 2
MAX_UPLOAD_FILES = 500
UPLOAD_FLIGHT_DAYS = 14  # the upload form offers the flights of the last two weeks
THUMB_SIZES = range(120, 1281)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _one(qs: Any, pk: int) -> Any:
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


# --- GeoJSON for the maps ---------------------------------------------------------------------------


def _feature(geometry: dict[str, Any] | None, **props: Any) -> dict[str, Any] | None:
    if not geometry:
        return None
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _collection(features: Iterable[dict[str, Any] | None]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [f for f in features if f]}


def _grid_features(grids: Iterable[Grid]) -> list[dict[str, Any] | None]:
    return [
        _feature(g.geometry, kind="grid", label=f"{g.name} ({g.code})", code=g.code)
        for g in grids
        if g.geometry
    ]


def _route_features(mission: Mission) -> list[dict[str, Any] | None]:
    route = [p for p in mission.route or [] if isinstance(p, list | tuple) and len(p) >= 2]
    line = [[p[0], p[1]] for p in route]
    features: list[dict[str, Any] | None] = []
    if len(line) >= 2:
        features.append(_feature({"type": "LineString", "coordinates": line}, kind="route"))
    for i, p in enumerate(route):
        alt = p[2] if len(p) > 2 else None
        features.append(
            _feature({"type": "Point", "coordinates": [p[0], p[1]]}, kind="waypoint", n=i + 1, alt=alt)
        )
    return features


def _point(lon: float | None, lat: float | None) -> dict[str, Any] | None:
    if lon is None or lat is None:
        return None
    return {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}


# --- the fleet ------------------------------------------------------------------------------------


@access.require(selectors.may_watch)
def fleet(request: HttpRequest) -> HttpResponse:
    """无人机机队: drones, docks, missions with their next routine run, recent flights, new findings."""
    user: Any = request.user
    drones = selectors.drones_for(user).select_related("dock").order_by("code")
    docks = selectors.docks_for(user).annotate(n_drones=Count("drones")).prefetch_related("grids")
    missions = (
        selectors.missions_for(user)
        .filter(is_active=True)
        .select_related("drone")
        .prefetch_related(Prefetch("grids", queryset=Grid.objects.only("pk", "code", "name")))
        .order_by("next_run_at", "code")
    )
    flights = (
        selectors.flights_for(user)
        .select_related("drone", "mission")
        .annotate(n_photos=Count("photos", distinct=True))
        .order_by("-started_at", "-pk")[:RECENT_FLIGHTS]
    )
    findings = selectors.findings_for(user)
    new_by_kind = dict(
        findings.filter(state=FindingState.NEW).order_by().values_list("kind").annotate(n=Count("pk"))
    )
    context = {
        "nav": "drones",
        "drones": list(drones),
        "docks": list(docks),
        "missions": list(missions),
        "flights": list(flights),
        "new_findings": sum(new_by_kind.values()),
        "new_by_kind": [(k.label, new_by_kind[k.value]) for k in FindingKind if new_by_kind.get(k.value)],
        "may_manage": selectors.may_manage(user),
        "now": timezone.now(),
    }
    return render(request, "drones/fleet.html", context)


# --- missions -------------------------------------------------------------------------------------


def _mission_or_404(user: Any, pk: int) -> Mission:
    qs = selectors.missions_for(user).select_related("drone", "dock", "created_by")
    return _one(qs, pk)  # type: ignore[no-any-return]


def mission_map(mission: Mission, grids: Iterable[Grid]) -> dict[str, Any]:
    """The mission page's map: grid outlines, ground coverage, route line and waypoints (in the
    order drawn: coverage under the route)."""
    coverage = _feature(mission.coverage, kind="coverage")
    return _collection([*_grid_features(grids), coverage, *_route_features(mission)])


def _figures(mission: Mission, grids: list[Grid]) -> dict[str, Any]:
    """Length, time, photos, and the share of the mission's grids its planned coverage sees."""
    share = missions.mission_share(mission, grids)
    return {
        "length_km": mission.length_m / 1000,
        "minutes": mission.duration_s / 60,
        "photos": mission.photo_count,
        "coverage": share,
        "coverage_pct": None if share is None else share * 100,
        "waypoints": len(mission.route or []),
    }


@access.require(selectors.may_watch)
def mission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    mission = _mission_or_404(user, pk)
    return _mission_page(request, mission)


def _mission_page(
    request: HttpRequest,
    mission: Mission,
    *,
    schedule_form: ScheduleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user: Any = request.user
    grids = list(mission.grids.order_by("code"))
    flights = (
        selectors.flights_for(user)
        .filter(mission=mission)
        .select_related("drone")
        .order_by("-started_at", "-pk")[:RECENT_FLIGHTS]
    )
    initial = {
        "repeat": mission.repeat,
        "time": mission.repeat_time,
        "weekdays": mission.repeat_weekdays or [],
    }
    context = {
        "nav": "drones",
        "mission": mission,
        "grids": grids,
        "figures": _figures(mission, grids),
        "flights": list(flights),
        "map": {"features": mission_map(mission, grids)},
        "may_manage": selectors.may_manage(user),
        "schedule_form": schedule_form or ScheduleForm(initial=initial),
    }
    return render(request, "drones/mission.html", context, status=status)


def _form_errors(form: Any, exc: DomainError) -> None:
    """A service's per-field errors onto the form (fields it has; the rest as non-field errors)."""
    errors = getattr(exc, "errors", None)
    pairs = (
        [(str(e.get("field", "")), str(e.get("message", ""))) for e in errors]
        if isinstance(errors, list) and errors
        else [(exc.field or "", exc.message)]
    )
    for field, message in pairs:
        name = field.split(".")[0]
        form.add_error(name if name in form.fields else None, message)


@access.require(selectors.may_manage)
def mission_new(request: HttpRequest) -> HttpResponse:
    """规划航线: the form (POST plans through `services.missions.plan_mission`); the map previews the
    route as the fields change (drones.ts → POST /api/drones/missions/preview/)."""
    user: Any = request.user
    drones = selectors.drones_for(user)
    form = MissionForm(request.POST or None, user=user, drones=drones)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                mission = missions.plan_mission(actor=user, **form.plan_kwargs())
            except DomainError as exc:
                _form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("航线已规划"))
                return redirect("web:drones:mission", pk=mission.pk)
        else:
            status = 422
    grid_field: Any = form.fields["grids"]
    grids = list(grid_field.queryset.only("pk", "code", "name", "geometry"))
    fleet = {
        d.pk: {"code": d.code, "dock": d.dock_id}
        for d in drones.filter(is_active=True).only("pk", "code", "dock_id")
    }
    config = {
        "features": _collection(
            _feature(g.geometry, kind="grid", label=f"{g.name} ({g.code})", id=g.pk, code=g.code)
            for g in grids
        ),
        "preview_url": reverse("api-drone-mission-preview"),
        "drones": fleet,
        "strings": {
            "previewing": _("预览中…"),
            "preview_failed": _("无法预览"),
            "length": _("航程"),
            "minutes": _("分钟"),
            "photos": _("照片"),
            "waypoints": _("航点"),
            "click_to_add": _("在地图上单击添加航点, 右键删除最后一个"),
        },
    }
    context = {
        "nav": "drones",
        "form": form,
        "import_form": ImportPlanForm(),
        "map": config,
    }
    return render(request, "drones/mission_new.html", context, status=status)


@require_POST
@access.require(selectors.may_manage)
def mission_import(request: HttpRequest) -> HttpResponse:
    """导入航线 from a .plan or .waypoints file (`services.missions.import_plan`)."""
    user: Any = request.user
    form = ImportPlanForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            mission = missions.import_plan(
                actor=user,
                data=form.cleaned_data["file"],
                name=form.cleaned_data["name"] or form.file_name,
            )
        except DomainError as exc:
            messages.error(request, _("导入失败: %(m)s") % {"m": exc.message})
        else:
            messages.success(request, _("航线已导入"))
            return redirect("web:drones:mission", pk=mission.pk)
    else:
        for errors in form.errors.values():
            for e in errors:
                messages.error(request, _("导入失败: %(m)s") % {"m": e})
    return redirect("web:drones:mission_new")


@require_POST
@access.require(selectors.may_manage)
def mission_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    """例行巡查: set the mission's repeat (`services.missions.set_schedule`)."""
    user: Any = request.user
    form = ScheduleForm(request.POST)
    with transaction.atomic():
        mission = _mission_or_404(user, pk)
        if form.is_valid():
            d = form.cleaned_data
            try:
                missions.set_schedule(
                    mission,
                    actor=user,
                    repeat=d["repeat"],
                    time=d.get("time"),
                    weekdays=d.get("weekdays") or [],
                )
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("例行巡查已保存"))
                return redirect("web:drones:mission", pk=mission.pk)
    return _mission_page(request, mission, schedule_form=form, status=422)


def _download(body: str | bytes, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    patch_cache_control(response, private=True, no_store=True)
    return response


def _file_name(mission: Mission) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in mission.code) or f"mission-{mission.pk}"


@require_safe
@access.require(selectors.may_watch)
def mission_plan_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The route as a QGroundControl .plan (JSON)."""
    mission = _mission_or_404(request.user, pk)
    try:
        plan = missions.export_plan(mission)
    except DomainError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
    body = json.dumps(plan, ensure_ascii=False, indent=2)
    return _download(body, f"{_file_name(mission)}.plan", "application/json")


@require_safe
@access.require(selectors.may_watch)
def mission_waypoints_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The route as a MAVLink waypoints file (QGC WPL 110)."""
    mission = _mission_or_404(request.user, pk)
    try:
        text = missions.export_waypoints(mission)
    except DomainError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
    return _download(text, f"{_file_name(mission)}.waypoints", "text/plain; charset=utf-8")


# --- flights --------------------------------------------------------------------------------------


def _flight_or_404(user: Any, pk: int) -> Flight:
    qs = selectors.flights_for(user).select_related("drone", "mission")
    return _one(qs, pk)  # type: ignore[no-any-return]


def thinned(points: list[Any], limit: int = MAX_TRACK_POINTS) -> list[Any]:
    """At most `limit` points, evenly picked, always with the first and the last."""
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def track_of(flight: Flight, *, after: dt.datetime | None = None) -> list[list[Any]]:
    """[lon, lat, alt, ISO time] of the flight's track (after `after` only, when given)."""
    qs = TrackPoint.objects.filter(flight=flight)
    if after is not None:
        qs = qs.filter(at__gt=after)
    rows = list(qs.order_by("at").values_list("lon", "lat", "alt_m", "at"))
    return [[lon, lat, alt, timezone.localtime(at).isoformat()] for lon, lat, alt, at in thinned(rows)]


def _photo_features(shots: Iterable[Photo]) -> list[dict[str, Any] | None]:
    return [
        _feature(p.footprint, kind="footprint", label=p.name or str(p.pk), id=p.pk)
        for p in shots
        if p.footprint
    ]


def _finding_features(findings: Iterable[Finding]) -> list[dict[str, Any] | None]:
    return [
        _feature(
            _point(f.lon, f.lat),
            kind="finding",
            label=f"{f.get_kind_display()} · {f.get_state_display()}",
            state=f.state,
            id=f.pk,
        )
        for f in findings
    ]


@access.require(selectors.may_watch)
def flight_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    flight = _flight_or_404(user, pk)
    coverage_rows = list(flight.grid_coverage.select_related("grid").order_by("grid__code"))
    grids = [c.grid for c in coverage_rows]
    if flight.mission_id:
        seen = {g.pk for g in grids}
        grids += [g for g in flight.mission.grids.all() if g.pk not in seen]  # type: ignore[union-attr]
    shots = list(selectors.photos_for(user).filter(flight=flight).order_by("taken_at", "pk")[:500])
    findings = list(
        selectors.findings_for(user).filter(photo__flight=flight).select_related("case").order_by("-pk")[:200]
    )
    drone = flight.drone
    features = [
        *_grid_features(grids),
        _feature(flight.coverage, kind="coverage"),
        *_photo_features(shots),
        *(_route_features(flight.mission) if flight.mission and flight.state != FlightState.LANDED else []),
        *_finding_features(findings),
    ]
    flying = flight.state == FlightState.FLYING
    config = {
        "features": _collection(features),
        "track": track_of(flight),
        "flying": flying,
        "drone_id": drone.pk,
        "flight_id": flight.pk,
        "drone": {"lon": drone.lon, "lat": drone.lat, "heading": drone.heading} if flying else None,
        "track_url": reverse("web:drones:flight_track", args=[flight.pk]),
        "feed_url": "/live/feed/",
    }
    context = {
        "nav": "drones",
        "flight": flight,
        "coverage": coverage_rows,
        "photos": shots,
        "findings": findings,
        "map": config,
        "flying": flying,
    }
    return render(request, "drones/flight.html", context)


@require_safe
@access.require(selectors.may_watch)
def flight_track(request: HttpRequest, pk: int) -> JsonResponse:
    """The flight's state and track for the page's script (every few seconds while flying: the live
    feed moves the marker at once, this keeps the line whole even when the feed is away)."""
    flight = _flight_or_404(request.user, pk)
    after = None
    raw = request.GET.get("after", "")
    if raw:
        try:
            after = dt.datetime.fromisoformat(raw)
            if timezone.is_naive(after):
                after = timezone.make_aware(after)
            after.astimezone(dt.UTC)  # year 1 or 9999 overflows in UTC, where the query needs it
        except (ValueError, OverflowError):
            after = None
    drone = flight.drone
    response = JsonResponse(
        {
            "state": flight.state,
            "state_label": flight.get_state_display(),
            "distance_m": round(flight.distance_m, 1),
            "max_alt_m": flight.max_alt_m,
            "drone": {"lon": drone.lon, "lat": drone.lat, "heading": drone.heading, "battery": drone.battery},
            "track": track_of(flight, after=after),
        }
    )
    patch_cache_control(response, private=True, no_store=True)
    return response


# --- images ----------------------------------------------------------------------------------------


def _width(request: HttpRequest) -> int | None:
    raw = request.GET.get("w", "")
    # Compared as text: int() of a 5,000-digit value raises (Python's digit limit), a 500.
    return int(raw) if raw in {str(size) for size in THUMB_SIZES} else None


def _image_response(request: HttpRequest, data: bytes | None) -> HttpResponse:
    if not data:
        raise Http404
    from shequ.video.views import image_response

    return image_response(data, _width(request))


@require_safe
@access.require(selectors.may_watch)
def photo_image(request: HttpRequest, pk: int) -> HttpResponse:
    photo = _one(selectors.photos_for(request.user), pk)
    return _image_response(request, selectors.photo_image_for(request.user, photo))


@require_safe
@access.require(selectors.may_watch)
def finding_crop(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _one(selectors.findings_for(request.user), pk)
    return _image_response(request, selectors.crop_for(request.user, finding))


# --- the findings queue ----------------------------------------------------------------------------


def _finding_rows(qs: Any) -> Any:
    return qs.select_related("photo", "photo__flight", "photo__drone", "grid", "case", "handled_by")


def _finding_context(user: Any, finding: Finding) -> dict[str, Any]:
    return {
        "f": finding,
        "may_handle": selectors.may_handle(user),
        "map_id": f"finding-map-{finding.pk}",
        "map_data": _collection(
            [
                _feature(finding.photo.footprint, kind="grid", label=_("照片覆盖")),
                _feature(_point(finding.lon, finding.lat), kind="point", selected=True, label=finding.label),
            ]
        ),
    }


@access.require(selectors.may_watch)
def finding_queue(request: HttpRequest) -> HttpResponse:
    """航拍发现研判: like the camera alert queue (/video/alerts/), the same keys (video.js)."""
    user: Any = request.user
    form = FindingFilter(request.GET or None, user=user)
    qs = _finding_rows(form.apply(selectors.findings_for(user))).order_by("-created_at", "-pk")
    page = Paginator(qs, FINDING_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "drone_findings",
        "form": form,
        "page": page,
        "items": [_finding_context(user, f) for f in page],
        "state": form.shown_state,
        "may_handle": selectors.may_handle(user),
        "dismiss_form": DismissForm(),
    }
    if _is_htmx(request) and request.headers.get("HX-Target") == "finding-list":
        response = render(request, "drones/_finding_list.html", context)
    else:
        response = render(request, "drones/findings.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


ACTS = {"confirm": ConfirmForm, "dismiss": DismissForm}


@require_POST
@access.require(selectors.may_handle)
def finding_act(request: HttpRequest, pk: int, act: str) -> HttpResponse:
    """Confirm (→ a case, source drone) or dismiss one finding; HTMX swaps the card in, without
    script the browser goes back to the queue."""
    user: Any = request.user
    if act not in ACTS:
        raise Http404
    found = selectors.access_finding(user, pk)
    if found is None:
        raise Http404  # before anything else for a finding out of scope
    form = ACTS[act](request.POST)
    error, status, done = "", 200, ""
    if not form.is_valid():
        error, status = _("请检查填写的内容"), 422
    else:
        data = form.cleaned_data
        try:
            if act == "confirm":
                case = findings.confirm_finding(found, actor=user, description=data["description"])
                done = _("已确认, 立案 %(number)s") % {"number": case.number}
            else:
                findings.dismiss_finding(found, actor=user, reason=data["reason"])
                done = _("已标记为误报")
        except DomainError as exc:
            error, status = exc.message, exc.status
    finding = _finding_rows(selectors.findings_for(user)).filter(pk=pk).first()
    if _is_htmx(request) and finding is not None:
        context = _finding_context(user, finding) | {
            "dismiss_form": form if act == "dismiss" and status != 200 else DismissForm(),
            "error": error,
            "done": done,
        }
        return render(request, "drones/_finding.html", context, status=status)
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("web:drones:findings")
    return redirect(back)


# --- photo upload ----------------------------------------------------------------------------------


def _upload_flights(user: Any) -> Any:
    since = timezone.now() - dt.timedelta(days=UPLOAD_FLIGHT_DAYS)
    return selectors.flights_for(user).filter(Q(started_at__gte=since) | Q(started_at__isnull=True))


@access.require(selectors.may_manage)
def photo_upload(request: HttpRequest) -> HttpResponse:
    """航拍照片上传: many files; a table of what became of each (`services.photos.ingest_photos`:
    one bad file never stops the rest), and the analysis job's progress."""
    user: Any = request.user
    form = UploadForm(request.POST or None, request.FILES or None, flights=_upload_flights(user))
    report = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            files = form.cleaned_data["photos"]
            if len(files) > MAX_UPLOAD_FILES:
                form.add_error("photos", _("一次至多上传 %(n)s 张") % {"n": MAX_UPLOAD_FILES})
                status = 422
            else:
                flight = form.cleaned_data.get("flight")
                try:
                    report = photos.ingest_photos(
                        actor=user,
                        files=[(f.name, f) for f in files],
                        flight=flight,
                        drone=flight.drone if flight else None,
                    )
                except DomainError as exc:
                    form.add_error(None, exc.message)
                    status = exc.status
        else:
            status = 422
    context = {
        "nav": "drones",
        "form": form,
        "report": _report_rows(report),
        "job": report.job if report else None,
    }
    return render(request, "drones/upload.html", context, status=status)


def _report_rows(report: BatchReport | None) -> list[dict[str, Any]] | None:
    if report is None:
        return None
    return [
        {"name": r.name, "status": r.status, "message": r.message, "photo_id": r.photo}
        for r in report.results
    ]
