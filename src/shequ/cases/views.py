"""Pages of the case loop (docs/pages.md): the command center's list, a case with its acts, the
department inbox, the mobile report page, a resident's own reports, and the dashboard.

Thin, as the API: a view checks the form, calls one service, and redirects (or, for HTMX, answers
the case panel); a refused act (DomainError) is shown on the page with its status (403, 409, 422).
Every read goes through cases.selectors: a case outside the user's scope answers 404.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from shequ.accounts.models import COMMAND_CENTER_ROLES, Role
from shequ.analytics.exports import export_measures
from shequ.analytics.measures import measures
from shequ.analytics.patrols import patrol_measures
from shequ.cases import selectors
from shequ.cases.forms import (
    ACT_FORMS,
    GROUPINGS,
    ActForm,
    CaseFilter,
    DashboardForm,
    ReportForm,
)
from shequ.cases.models import Case, CaseState, Evidence, Extension, Source
from shequ.cases.services import intake, workflow
from shequ.cases.services.machine import Action, allowed_actions
from shequ.core.errors import Conflict, DomainError, Invalid
from shequ.grids.selectors import grids_for
from shequ.web import access
from shequ.web.maps import feature_collection, grid_feature

PAGE_SIZE = 50
THUMB_PX = 320
MAX_REPORT_MAP_GRIDS = 200


# --- who opens which page (the data scope itself is the selectors') ------------------------------


def may_list(user: Any) -> bool:
    """The list is the staff's: a resident follows their own reports on /cases/mine/."""
    role = access.role_of(user)
    return role is not None and role != Role.RESIDENT


def may_use_inbox(user: Any) -> bool:
    return access.role_of(user) in {Role.DEPARTMENT_HANDLER, Role.GRID_WORKER}


def may_report(user: Any) -> bool:
    """The report page is for the roles with sources to report with (intake.report_sources)."""
    return bool(intake.report_sources(access.role_of(user)))


def may_see_dashboard(user: Any) -> bool:
    return access.role_of(user) in COMMAND_CENTER_ROLES


def _case_or_404(user: Any, ref: str, qs: QuerySet[Case] | None = None) -> Case:
    """A case by its number or its id, within the user's scope."""
    # Both are digits: anything else (a NUL, which PostgreSQL refuses in a query) is simply not found.
    if not (ref.isascii() and ref.isdigit() and len(ref) <= 20):
        raise Http404
    qs = selectors.cases_for(user) if qs is None else qs
    case = qs.filter(number=ref).first()
    if case is None and len(ref) <= 18:
        case = qs.filter(pk=int(ref)).first()
    if case is None:
        raise Http404
    return case


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- the command center's list -------------------------------------------------------------------


@access.require(may_list)
def case_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = CaseFilter(request.GET or None, user=user)
    scoped = selectors.cases_for(user)
    # One query for every tab's count: the list's filters, all states.
    by_state = dict(
        form.apply(scoped, skip_state=True).order_by().values_list("state").annotate(n=Count("pk"))
    )
    tabs = [(s.value, s.label, by_state.get(s.value, 0)) for s in CaseState]
    qs = form.apply(scoped).select_related("category", "grid", "department").order_by("-created_at", "-pk")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    overdue_ids = {c.pk for c in page if c.is_overdue(now)}
    return render(
        request,
        "cases/case_list.html",
        {
            "nav": "cases",
            "form": form,
            "page": page,
            "tabs": tabs,
            "tab_total": sum(by_state.values()),
            "state": form.value("state") or "",
            "overdue_ids": overdue_ids,
        },
    )


# --- one case ------------------------------------------------------------------------------------


def _panel_context(
    request: HttpRequest, case: Case, forms: dict[Action, ActForm] | None = None
) -> dict[str, Any]:
    user: Any = request.user
    actions = allowed_actions(user, case)
    forms = forms or {}
    history = selectors.history_for(user, case)
    for entry in history:
        entry.action_label = _action_label(entry.action)  # type: ignore[attr-defined]
    now = timezone.now()
    pending = next((e for e in case.extensions.all() if e.decision == Extension.Decision.PENDING), None)
    return {
        "case": case,
        "reporter": selectors.reporter_view(user, case),
        "answers": selectors.answers_for(case),
        "history": history,
        "evidence": list(selectors.photos_for(user, case)),
        "extensions": list(case.extensions.all()),
        "pending_extension": pending,
        "acts": [
            {
                "action": a,
                "form": forms.get(a) or ACT_FORMS[a](case=case, prefix=a.value),
                "url": reverse("web:cases:act", args=[case.number, a.value]),
            }
            for a in actions
            if a in ACT_FORMS and not (a == Action.DECIDE_EXTENSION and pending is None)
        ],
        "overdue": case.is_overdue(now),
        "now": now,
    }


def _action_label(value: str) -> str:
    try:
        return str(Action(value).label)
    except ValueError:
        return value


def _case_for_page(user: Any, ref: str) -> Case:
    qs = selectors.cases_for(user).select_related(
        "category__parent", "grid", "department", "assignee", "duplicate_of", "reporter"
    )
    return _case_or_404(user, ref, qs.prefetch_related("extensions"))


@login_required
def case_detail(request: HttpRequest, ref: str) -> HttpResponse:
    user: Any = request.user
    case = _case_for_page(user, ref)
    if access.role_of(user) == Role.RESIDENT:
        return _resident_detail(request, case)
    if _is_htmx(request):
        response = render(request, "cases/_panel.html", _panel_context(request, case))
        patch_vary_headers(response, ["HX-Request"])
        return response
    response = render(request, "cases/case_detail.html", _detail_context(request, case))
    patch_vary_headers(response, ["HX-Request"])
    return response


def _detail_context(request: HttpRequest, case: Case, **panel: Any) -> dict[str, Any]:
    features: list[dict[str, Any] | None] = []
    if case.grid is not None:
        features.append(grid_feature(case.grid, selected=True))
    if case.lon is not None and case.lat is not None:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [case.lon, case.lat]},
                "properties": {"kind": "point", "label": case.number, "selected": True},
            }
        )
    return {"nav": "cases", "map_data": feature_collection(features)} | _panel_context(request, case, **panel)


@require_POST
@login_required
def case_act(request: HttpRequest, ref: str, action: str) -> HttpResponse:
    """One act on a case from the detail page: HTMX swaps the answered panel in; without
    JavaScript the browser follows the redirect (or sees the page with the refusal)."""
    user: Any = request.user
    case = _case_for_page(user, ref)
    try:
        act = Action(action)
    except ValueError:
        raise Http404 from None
    if act not in ACT_FORMS:
        raise Http404
    form = ACT_FORMS[act](request.POST, request.FILES, case=case, prefix=act.value)
    error, status = "", 200
    if not form.is_valid():
        error, status = _("请检查填写的内容"), 422
    else:
        try:
            with transaction.atomic():
                # Locked, as the API does: the service checks the state of the row it holds.
                locked = selectors.access_case(user, case.pk, lock=True)
                if locked is None:
                    raise Http404
                _perform(act, locked, form.cleaned_data, user)
        except DomainError as exc:
            error, status = exc.message, exc.status
            _field_error(form, exc)
    # Read again: the service changed the row (and a refusal changed nothing, as shown).
    if access.role_of(user) == Role.RESIDENT:
        if status == 200:
            messages.success(request, _("已提交, 感谢您的评价"))
            return redirect("web:cases:detail", ref=case.number)
        return _resident_detail(request, case, rating_form=form, error=error, status=status)
    try:
        case = _case_for_page(user, case.number)
    except Http404:
        # The act took the case out of the user's scope (a handler who returned it): back to work.
        messages.success(request, _("已办理: %(act)s") % {"act": act.label})
        back = reverse("web:cases:inbox" if may_use_inbox(user) else "web:cases:list")
        if _is_htmx(request):
            return HttpResponse(headers={"HX-Redirect": back})  # a whole page, not into the panel
        return redirect(back)
    forms = {act: form} if status != 200 else {}
    done = _("已办理: %(act)s") % {"act": act.label} if status == 200 else ""
    if _is_htmx(request):
        context = _panel_context(request, case, forms) | {"error": error, "done": done}
        return render(request, "cases/_panel.html", context, status=status)
    if status == 200:
        messages.success(request, done)
        return redirect("web:cases:detail", ref=case.number)
    context = _detail_context(request, case, forms=forms) | {"error": error}
    return render(request, "cases/case_detail.html", context, status=status)


# The services name the field they refuse; the forms call every act's text "note".
FIELD_ALIASES = {"reason": "note", "result": "note", "text": "note"}


def _field_error(form: Any, exc: DomainError) -> None:
    field = FIELD_ALIASES.get(exc.field or "", exc.field) if exc.field not in form.fields else exc.field
    if field and field in form.fields:
        form.add_error(field, exc.message)


def _perform(act: Action, case: Case, data: dict[str, Any], user: Any) -> None:
    """The one service call of each act (docs/cases.md, "Services")."""
    note = data.get("note", "")
    photos = data.get("photos", [])
    if act == Action.FILE:
        workflow.file_case(case, actor=user, category=data["category"], urgency=data["urgency"], note=note)
    elif act == Action.REJECT:
        workflow.reject_case(case, actor=user, reason=data["reason"], note=note)
    elif act == Action.DISPATCH:
        workflow.dispatch_case(case, data["department"], actor=user, note=note)
    elif act == Action.ACCEPT:
        workflow.accept_case(case, actor=user)
    elif act == Action.RETURN:
        workflow.return_case(case, reason=note, actor=user)
    elif act == Action.REQUEST_EXTENSION:
        workflow.request_extension(case, actor=user, amount=data["amount"], unit=data["unit"], reason=note)
    elif act == Action.DECIDE_EXTENSION:
        extension = case.extensions.filter(decision=Extension.Decision.PENDING).first()
        if extension is None:
            raise Conflict(_("没有待审批的延期申请"))
        decide = workflow.grant_extension if data["decision"] == "grant" else workflow.refuse_extension
        decide(extension, note=note, actor=user)
    elif act == Action.FEEDBACK:
        workflow.feedback_case(case, result=note, photos=photos, actor=user)
    elif act in (Action.VERIFY_OK, Action.VERIFY_FAIL):
        workflow.verify_case(case, ok=act == Action.VERIFY_OK, note=note, photos=photos, actor=user)
    elif act == Action.CALLBACK:
        workflow.callback_case(case, satisfaction=data["satisfaction"], note=note, actor=user)
    elif act == Action.MERGE:
        into = selectors.cases_for(user).filter(number=data["into"].strip()).first()
        if into is None:
            raise Invalid(_("要合并到的案件不存在或不在您的数据范围内"), field="into")
        workflow.merge_case(case, into, actor=user)
    elif act == Action.REOPEN:
        workflow.reopen_case(case, reason=note, actor=user)
    elif act == Action.SUPERVISE:
        workflow.supervise_case(case, actor=user, level=data["level"], reason=note)
    elif act == Action.NOTE:
        workflow.add_note(case, text=note, actor=user)


@login_required
def case_photo(request: HttpRequest, ref: str, pk: int) -> HttpResponseBase:
    """A photo of a case, to those who may see the case (never from /media/); `?thumb=1` answers
    a small JPEG for the lists of thumbnails."""
    user: Any = request.user
    case = _case_or_404(user, ref)
    evidence = selectors.photos_for(user, case).filter(pk=pk).first()
    if evidence is None:
        raise Http404
    return photo_response(evidence, thumb=bool(request.GET.get("thumb")))


def photo_response(evidence: Evidence, *, thumb: bool = False) -> HttpResponse | FileResponse:
    """The photo's bytes (or a small JPEG), for the pages and the API alike: kept by no cache, as
    evidence may show people."""
    response: HttpResponse | FileResponse
    if thumb:
        response = HttpResponse(_thumbnail(evidence), content_type="image/jpeg")
    else:
        response = FileResponse(evidence.file.open("rb"), content_type=evidence.content_type)
    patch_cache_control(response, private=True, no_store=True)
    return response


def _thumbnail(evidence: Evidence) -> bytes:
    from PIL import Image, ImageOps

    with evidence.file.open("rb") as f, Image.open(f) as image:
        image.draft("RGB", (THUMB_PX, THUMB_PX))  # JPEG: decode at a fraction of the size, fast
        small = ImageOps.exif_transpose(image).convert("RGB")
        small.thumbnail((THUMB_PX, THUMB_PX))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=80)
    return out.getvalue()


# --- the department's inbox, the grid worker's cases to verify -----------------------------------


@access.require(may_use_inbox)
def inbox(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    boxes = [
        {"key": box.key, "label": box.label, "cases": box.cases, "count": box.cases.count()}
        for box in selectors.inbox_for(user)
    ]
    current = next((b for b in boxes if b["key"] == request.GET.get("tab")), boxes[0] if boxes else None)
    page = Paginator(current["cases"], PAGE_SIZE).get_page(request.GET.get("page")) if current else None
    return render(
        request,
        "cases/inbox.html",
        {"nav": "inbox", "boxes": boxes, "current": current, "page": page, "now": timezone.now()},
    )


# --- report (上报) --------------------------------------------------------------------------------


@access.require(may_report)
def report(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    role = Role(user.role)
    form = ReportForm(request.POST or None, request.FILES or None, role=role)
    error, status = "", 200
    if request.method == "POST":
        if form.is_valid():
            try:
                case = _submit_report(form, user, self_handle=request.POST.get("mode") == "self")
            except DomainError as exc:
                error, status = exc.message, exc.status
                _field_error(form, exc)
            else:
                return redirect("web:cases:reported", ref=case.number)
        else:
            error, status = _("请检查填写的内容"), 422
    return render(
        request,
        "cases/report.html",
        {"nav": "report", "form": form, "error": error, "map_data": _report_map(user)},
        status=status,
    )


def _submit_report(form: ReportForm, user: Any, *, self_handle: bool) -> Case:
    data = form.cleaned_data
    lon, lat = data["lon"], data["lat"]  # none: intake places it by the photo's EXIF GPS
    common = {
        "actor": user,
        "description": data["description"],
        "category": data["category"],
        "lon": lon,
        "lat": lat,
        "address": data["address"],
        "photos": data["photos"],
        "idempotency_key": data["idempotency_key"],
    }
    if self_handle:
        if not form.may_self_handle:
            raise PermissionDenied
        case, _created = intake.handle_on_the_spot(result=data["result"], **common)
        return case
    extra: dict[str, Any] = {}
    if form.for_command_center:
        extra = {
            "reporter_name": data["reporter_name"],
            "reporter_phone": data["reporter_phone"],
            "reporter_confidential": data["reporter_confidential"],
        }
    case, _created = intake.report_case(source=data["source"], urgency=data["urgency"], **common, **extra)
    return case


def _report_map(user: Any) -> dict[str, Any]:
    """The reporter's grids as the map's background (a resident has none: the map centres on the
    GPS fix)."""
    grids = (
        grids_for(user).filter(level="grid", geometry__isnull=False).only("pk", "code", "name", "geometry")
    )
    return feature_collection([grid_feature(g) for g in grids[:MAX_REPORT_MAP_GRIDS]])


@login_required
def reported(request: HttpRequest, ref: str) -> HttpResponse:
    """The confirmation after a report: its number, to quote on the phone or to follow up."""
    user: Any = request.user
    case = _case_or_404(user, ref, selectors.cases_for(user) | Case.objects.filter(created_by=user))
    return render(request, "cases/reported.html", {"nav": "report", "case": case})


# --- my reports (the resident's, or anyone's who reported) ----------------------------------------


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    qs = selectors.cases_for(user).filter(reporter=user).select_related("category", "department")
    page = Paginator(qs.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cases/mine.html", {"nav": "mine", "page": page})


def _resident_timeline(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "at": entry.at,
            "act": _action_label(entry.action),
            "to": CaseState(entry.to_state).label if entry.to_state else "",
            "who": entry.actor_name,
            "reason": entry.reason,
            "department": entry.detail.get("department_name", ""),
        }
        for entry in selectors.reporter_history(case)
    ]


def _resident_detail(
    request: HttpRequest,
    case: Case,
    *,
    rating_form: ActForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user: Any = request.user
    may_rate = Action.CALLBACK in allowed_actions(user, case) and not case.satisfaction
    return render(
        request,
        "cases/mine_detail.html",
        {
            "nav": "mine",
            "case": case,
            "timeline": _resident_timeline(case),
            "photos": list(selectors.photos_for(user, case)),
            "may_rate": may_rate,
            "rating_form": rating_form or ACT_FORMS[Action.CALLBACK](case=case, prefix=Action.CALLBACK.value),
            "rate_url": reverse("web:cases:act", args=[case.number, Action.CALLBACK.value]),
            "error": error,
        },
        status=status,
    )


# --- dashboard -----------------------------------------------------------------------------------

MAX_CHART_GROUPS = 30  # bars beyond this are unreadable; the export has every group


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _period_start(day: dt.date, period: str) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday
    if period == "month":
        return day.replace(day=1)
    return day


def _periods(start: dt.date, end: dt.date, period: str, rows: list[dict[str, Any]]) -> list[dt.date]:
    """Every period of the range, in order, so that a chart's axis has no gaps (and any period
    the measures answered with)."""
    found = {_period_start(start + dt.timedelta(days=i), period) for i in range((end - start).days + 1)}
    return sorted(found | {r["period"] for r in rows})


def _period_label(day: dt.date, period: str) -> str:
    return f"{day:%Y-%m}" if period == "month" else f"{day:%m-%d}"


def _charts(user: Any, start: dt.date, end: dt.date, period: str, group_by: str) -> dict[str, Any]:
    per_source = measures(user, start=start, end=end, group_by="source", period=period)
    overall = measures(user, start=start, end=end, period=period)
    periods = _periods(start, end, period, per_source + overall)
    x = [_period_label(p, period) for p in periods]
    index = {p: i for i, p in enumerate(periods)}

    by_source: dict[str, list[int | None]] = {}
    names: dict[str, str] = {}
    for row in per_source:
        series = by_source.setdefault(row["key"], [0] * len(periods))
        series[index[row["period"]]] = row["reported"]
        names[row["key"]] = row["name"]
    daily = {
        "kind": "bar",
        "stacked": True,
        "x": x,
        "series": [{"name": names[k], "data": by_source[k]} for k in Source.values if k in by_source],
    }

    proactive: list[float | None] = [None] * len(periods)
    for row in overall:
        proactive[index[row["period"]]] = _percent(row["proactive_rate"])
    share = {
        "kind": "line",
        "percent": True,
        "x": x,
        "series": [{"name": str(_("主动发现率")), "data": proactive}],
    }

    groups = sorted(
        measures(user, start=start, end=end, group_by=group_by),
        key=lambda r: (-r["reported"], str(r["name"])),
    )[:MAX_CHART_GROUPS]
    names_x = [str(r["name"]) for r in groups]
    rates = {
        "kind": "bar",
        "percent": True,
        "x": names_x,
        "series": [
            {"name": str(_("结案率")), "data": [_percent(r["closure_rate"]) for r in groups]},
            {"name": str(_("按期结案率")), "data": [_percent(r["on_time_rate"]) for r in groups]},
        ],
    }
    handling = {
        "kind": "bar",
        "x": names_x,
        "series": [
            {"name": str(_("平均")), "data": [_hours(r["handling_hours_mean"]) for r in groups]},
            {"name": str(_("中位数")), "data": [_hours(r["handling_hours_median"]) for r in groups]},
            {"name": "P90", "data": [_hours(r["handling_hours_p90"]) for r in groups]},
        ],
    }
    return {"daily": daily, "share": share, "rates": rates, "handling": handling}


@access.require(may_see_dashboard)
def dashboard(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = DashboardForm(request.GET or None, initial=DashboardForm.defaults())
    start, end, period, group_by = form.choices()
    totals = measures(user, start=start, end=end)
    query = request.GET.copy()
    query.update({"start": start.isoformat(), "end": end.isoformat(), "period": period, "group_by": group_by})
    return render(
        request,
        "cases/dashboard.html",
        {
            "nav": "dashboard",
            "form": form,
            "start": start,
            "end": end,
            "kpi": totals[0] if totals else None,
            "charts": _charts(user, start, end, period, group_by),
            "group_label": dict(GROUPINGS)[group_by],
            "drones": patrol_measures(user, start=start, end=end),
            "export_url": f"{reverse('web:cases:dashboard_export')}?{query.urlencode()}",
        },
    )


@access.require(may_see_dashboard)
def dashboard_export(request: HttpRequest) -> HttpResponse:
    """The dashboard's figures per group and period as .xlsx (aggregates only, no personal data)."""
    form = DashboardForm(request.GET or None)
    start, end, period, group_by = form.choices()
    rows = measures(request.user, start=start, end=end, group_by=group_by, period=period)
    data = export_measures(rows, group_by=group_by, period=period)
    response = HttpResponse(
        data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="measures-{start:%Y%m%d}-{end:%Y%m%d}.xlsx"'
    response["Cache-Control"] = "no-store"
    return response
