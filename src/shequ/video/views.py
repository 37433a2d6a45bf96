"""Pages of the cameras (docs/pages.md, "Video"): the video wall, a camera with its live frame and
the zone and rule editor, and the alert queue with confirm / dismiss / open case.

Thin, as the case pages: reads through `video.selectors` (scope; a camera or alert outside it
answers 404), writes through one `video.services` call each. Images are never served from /media/:
every snapshot passes `selectors.snapshot_for`, which blurs faces and number plates for anyone
outside the command center; clips cannot be blurred frame by frame here, so only the command
center gets them.
"""

from __future__ import annotations

import io
import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from shequ.core.errors import DomainError
from shequ.video import selectors, services
from shequ.video.forms import AlertFilter, ConfirmForm, DismissForm, WallFilter, editor_spec
from shequ.video.models import Alert, AlertState, Camera, CameraStatus
from shequ.video.services import media
from shequ.web import access

WALL_PAGE_SIZE = 48  # 8 rows of 6 tiles: what a 1440 px screen shows in two scrolls
ALERT_PAGE_SIZE = 20
RECENT_ALERTS = 10
THUMB_SIZES = range(120, 1281)  # ?w= of a snapshot: the wall asks ~480 px, never more than 1280
MAX_ANALYTICS_BYTES = 256 * 1024


# --- who opens which page (the data scope itself is the selectors') ------------------------------


def may_open(user: Any) -> bool:
    """The command center, and grid workers for the cameras of their grids (selectors.may_watch)."""
    return selectors.may_watch(user)


def may_edit(user: Any) -> bool:
    """Zones and rules are the operators' and administrators' (selectors.may_manage)."""
    return selectors.may_manage(user)


def may_handle(user: Any) -> bool:
    """Confirm and dismiss: operators, administrators and grid workers (selectors.may_handle)."""
    return selectors.may_handle(user)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _camera_or_404(user: Any, pk: int) -> Camera:
    try:
        camera = selectors.access_camera(user, pk)
    except (Camera.DoesNotExist, DomainError):
        raise Http404 from None
    if camera is None:
        raise Http404
    return camera


def _alert_or_404(user: Any, pk: int, *, lock: bool = False) -> Alert:
    try:
        alert = selectors.access_alert(user, pk, lock=lock)
    except (Alert.DoesNotExist, DomainError):
        raise Http404 from None
    if alert is None:
        raise Http404
    return alert


# --- the video wall ------------------------------------------------------------------------------


@access.require(may_open)
def wall(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = WallFilter(request.GET or None, user=user)
    scoped = selectors.cameras_for(user)
    # One grouped query for the status counts of the other filters (every status shown).
    by_status = dict(
        form.apply(scoped, skip_status=True).order_by().values_list("status").annotate(n=Count("pk"))
    )
    counts = [(s.value, s.label, by_status.get(s.value, 0)) for s in CameraStatus]
    qs = form.apply(scoped).select_related("grid").order_by("code")
    page = Paginator(qs, WALL_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "video",
        "form": form,
        "page": page,
        "counts": counts,
        "total": sum(by_status.values()),
        "status": form.value("status") or "",
    }
    if _is_htmx(request) and request.headers.get("HX-Target") == "video-tiles":
        response = render(request, "video/_tiles.html", context)
    else:
        response = render(request, "video/wall.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- one camera ----------------------------------------------------------------------------------


def metrics_of(camera: Camera) -> dict[str, Any]:
    """The worker's counters (shequ_vision.metrics.Metrics, posted as JSON) as the page shows them."""
    m = camera.metrics if isinstance(camera.metrics, dict) else {}

    def number(key: str) -> float | None:
        value = m.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    calls, seconds = number("detector_calls"), number("detector_seconds")
    return {
        "frames_decoded": number("frames_decoded"),
        "frames_analysed": number("frames_analysed"),
        "detector_calls": calls,
        "detector_ms": round(seconds * 1000 / calls, 1) if calls and seconds is not None else None,
        "firings": number("firings"),
        "last_error": str(m.get("last_error") or camera.last_error or ""),
    }


def _camera_context(request: HttpRequest, camera: Camera) -> dict[str, Any]:
    user: Any = request.user
    alerts = selectors.alerts_for(user).filter(camera=camera)
    analytics = camera.analytics if isinstance(camera.analytics, dict) else {}
    return {
        "nav": "video",
        "camera": camera,
        "metrics": metrics_of(camera),
        "alert_count": alerts.count(),
        "open_alerts": alerts.filter(state=AlertState.NEW).count(),
        "recent": list(alerts.select_related("case").order_by("-detected_at", "-pk")[:RECENT_ALERTS]),
        "may_edit": may_edit(user),
        "analytics_json": json.dumps(analytics, ensure_ascii=False, indent=2),
        "editor": {
            "analytics": analytics,
            "save_url": reverse("web:video:analytics", args=[camera.pk]),
            "snapshot_url": reverse("web:video:camera_snapshot", args=[camera.pk]),
            **editor_spec(),
        },
    }


@access.require(may_open)
def camera_detail(request: HttpRequest, pk: int) -> HttpResponse:
    camera = _camera_or_404(request.user, pk)
    return render(request, "video/camera.html", _camera_context(request, camera))


def analytics_errors(exc: DomainError) -> list[dict[str, str]]:
    """The service's per-field errors ({"field": "rules.0.zone", "message": ...}), or its one."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        return [{"field": str(e.get("field", "")), "message": str(e.get("message", ""))} for e in errors]
    return [{"field": exc.field or "", "message": exc.message}]


@require_POST
@access.require(may_edit)
def camera_analytics(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the zones and rules: JSON from the editor's script (answered with JSON), or the
    analytics text of the page's form without script (answered with the page)."""
    user: Any = request.user
    camera = _camera_or_404(user, pk)
    wants_json = request.content_type == "application/json"
    raw = request.body if wants_json else request.POST.get("analytics", "").encode()
    errors: list[dict[str, str]] = []
    status = 200
    data: Any = None
    if len(raw) > MAX_ANALYTICS_BYTES:
        errors, status = [{"field": "", "message": _("设置内容过大")}], 400
    else:
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            errors, status = [{"field": "", "message": _("不是有效的 JSON")}], 400
        else:
            if not isinstance(data, dict):
                errors, status = [{"field": "", "message": _("设置应为一个 JSON 对象")}], 400
    if not errors:
        try:
            camera = services.set_analytics(camera, data, actor=user)
        except DomainError as exc:
            errors, status = analytics_errors(exc), exc.status
    if wants_json:
        if errors:
            return JsonResponse({"message": _("请检查填写的内容"), "errors": errors}, status=status)
        return JsonResponse({"message": _("已保存"), "analytics": camera.analytics})
    if not errors:
        messages.success(request, _("分析设置已保存"))
        return redirect("web:video:camera", pk=camera.pk)
    context = _camera_context(request, camera) | {"errors": errors, "posted": raw.decode(errors="replace")}
    return render(request, "video/camera.html", context, status=status)


# --- images --------------------------------------------------------------------------------------


def image_response(data: bytes, width: int | None = None) -> HttpResponse:
    """A JPEG kept by no cache (it may show people), scaled down to `width` when asked."""
    if width:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (width, width))  # JPEG: decode at a fraction of the size
            small = image.convert("RGB")
            small.thumbnail((width, width * 2))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=78)
            data = out.getvalue()
    response = HttpResponse(data, content_type="image/jpeg")
    patch_cache_control(response, private=True, no_store=True)
    return response


def _width(request: HttpRequest) -> int | None:
    raw = request.GET.get("w", "")
    # Compared as text: int() of a 5,000-digit value raises (Python's digit limit), a 500.
    return int(raw) if raw in {str(size) for size in THUMB_SIZES} else None


@access.require(may_open)
def camera_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    """The camera's latest frame (the live view polls it), blurred outside the command center."""
    camera = _camera_or_404(request.user, pk)
    if not camera.latest_snapshot:
        raise Http404
    data = selectors.snapshot_for(request.user, camera)
    if not data:
        raise Http404
    return image_response(data, _width(request))


@access.require(may_open)
def alert_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request.user, pk)
    if not alert.snapshot:
        raise Http404
    data = selectors.snapshot_for(request.user, alert)
    if not data:
        raise Http404
    return image_response(data, _width(request))


@access.require(may_open)
def alert_clip(request: HttpRequest, pk: int) -> HttpResponse:
    """The alert's few seconds of video, to the command center only (a clip is not blurred)."""
    alert = _alert_or_404(request.user, pk)
    data = selectors.clip_for(request.user, alert)
    if not data:
        raise Http404
    response = HttpResponse(data, content_type=media.clip_content_type(alert.clip.name))
    patch_cache_control(response, private=True, no_store=True)
    return response


# --- the alert queue -----------------------------------------------------------------------------


def _alert_rows(alerts: Any) -> Any:
    return alerts.select_related("camera", "case", "handled_by")


@access.require(may_open)
def alert_queue(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = AlertFilter(request.GET or None)
    qs = _alert_rows(form.apply(selectors.alerts_for(user))).order_by("-detected_at", "-pk")
    page = Paginator(qs, ALERT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "alerts",
        "form": form,
        "page": page,
        "state": form.shown_state,
        "may_handle": may_handle(user),
        "may_clip": selectors.sees_originals(user),
        "dismiss_form": DismissForm(),
    }
    if _is_htmx(request) and request.headers.get("HX-Target") == "alert-list":
        response = render(request, "video/_alert_list.html", context)
    else:
        response = render(request, "video/alerts.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


ACTS = {"confirm": ConfirmForm, "dismiss": DismissForm}


@require_POST
@access.require(may_handle)
def alert_act(request: HttpRequest, pk: int, act: str) -> HttpResponse:
    """Confirm (→ a case) or dismiss one alert. HTMX swaps the answered alert in; without script
    the browser goes back to the queue (or sees the refusal there)."""
    user: Any = request.user
    if act not in ACTS:
        raise Http404
    _alert_or_404(user, pk)  # 404 before anything else for an alert out of scope
    form = ACTS[act](request.POST)
    error, status, done = "", 200, ""
    if not form.is_valid():
        error, status = _("请检查填写的内容"), 422
    else:
        data = form.cleaned_data
        try:
            with transaction.atomic():
                locked = _alert_or_404(user, pk, lock=True)
                if act == "confirm":
                    case = services.confirm_alert(locked, actor=user, description=data["description"])
                    done = _("已确认, 立案 %(number)s") % {"number": case.number}
                else:
                    services.dismiss_alert(
                        locked, actor=user, reason=data["reason"], ignore_similar=data["ignore_similar"]
                    )
                    done = _("已标记为误报")
        except DomainError as exc:
            error, status = exc.message, exc.status
    alert = _alert_rows(selectors.alerts_for(user)).filter(pk=pk).first()
    if _is_htmx(request) and alert is not None:
        context = {
            "a": alert,
            "may_handle": may_handle(user),
            "may_clip": selectors.sees_originals(user),
            "dismiss_form": form if act == "dismiss" and status != 200 else DismissForm(),
            "error": error,
            "done": done,
        }
        return render(request, "video/_alert.html", context, status=status)
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("web:video:alerts")
    return redirect(back)
