"""Pages shared by every role: login, the home page of each role, the progress of a job."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from shequ.accounts.models import Role, ScopeKind
from shequ.core.models import Job
from shequ.grids.selectors import assignments_for, grids_for
from shequ.registry.models import Person
from shequ.registry.selectors import (
    assets_for,
    buildings_for,
    households_for,
    organizations_for,
    people_for,
    tags_for,
)
from shequ.web.forms import LoginForm
from shequ.web.maps import building_feature, feature_collection, grid_feature

MAX_HOME_BUILDINGS = 2000  # a grid worker's grids hold a few hundred; more would slow the page


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def _register_counts(user: Any) -> dict[str, int]:
    return {
        "people": people_for(user).count(),
        "households": households_for(user).count(),
        "buildings": buildings_for(user).count(),
        "organizations": organizations_for(user).count(),
        "assets": assets_for(user).count(),
        "grids": grids_for(user).filter(level="grid").count(),
    }


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on what it works with (ARCHITECTURE §7: each sees only its scope)."""
    user: Any = request.user
    role = Role(user.role)
    context: dict[str, Any] = {"nav": "home", "role": role}
    if role == Role.GRID_WORKER:
        context |= _grid_worker_home(user)
        template = "web/home_grid_worker.html"
    elif role == Role.DEPARTMENT_HANDLER:
        department = user.department
        context["department"] = department
        context["colleagues"] = department.members.order_by("username") if department else []
        template = "web/home_department.html"
    elif role == Role.RESIDENT:
        context["person"] = people_for(user).select_related("household", "grid").first()
        template = "web/home_resident.html"
    elif role == Role.LEADER:
        context |= _leader_figures(user)
        template = "web/home_leader.html"
    elif role == Role.ADMINISTRATOR:
        context["counts"] = _register_counts(user)
        context["recent_jobs"] = Job.objects.select_related("created_by")[:5]
        template = "web/home_admin.html"
    else:
        # Command operators and the other area roles (emergency, service window, party officer).
        context["counts"] = _register_counts(user)
        context["assignments"] = assignments_for(user)
        template = "web/home_operator.html"
    return render(request, template, context)


def _grid_worker_home(user: Any) -> dict[str, Any]:
    assignments = list(assignments_for(user))
    counts = {row["grid_id"]: row["n"] for row in people_for(user).values("grid_id").annotate(n=Count("id"))}
    building_counts = {
        row["grid_id"]: row["n"] for row in buildings_for(user).values("grid_id").annotate(n=Count("id"))
    }
    grids = list(grids_for(user).only("pk", "path", "code", "name", "level", "geometry"))
    rows = []
    for a in assignments:
        subtree = [g.pk for g in grids if g.path.startswith(a.grid.path)]
        rows.append(
            {
                "grid": a.grid,
                "is_primary": a.is_primary,
                "people": sum(counts.get(pk, 0) for pk in subtree),
                "buildings": sum(building_counts.get(pk, 0) for pk in subtree),
            }
        )
    # The unit grids of the scope are what the worker walks; an assignment to a larger node
    # draws its unit grids.
    unit = [g for g in grids if g.level == "grid" and g.geometry]
    buildings = buildings_for(user).only("pk", "name", "footprint", "lon", "lat")[:MAX_HOME_BUILDINGS]
    features = [grid_feature(g) for g in unit] + [building_feature(b) for b in buildings]
    return {"rows": rows, "map_data": feature_collection(features)}


def _leader_figures(user: Any) -> dict[str, Any]:
    people = people_for(user)
    by_residence = {row["residence"]: row["n"] for row in people.values("residence").annotate(n=Count("id"))}
    residence = [(label, by_residence.get(value, 0)) for value, label in Person.Residence.choices]
    by_tag = (
        tags_for(user)
        .filter(people__in=people)
        .annotate(n=Count("people"))
        .order_by("-n", "code")
        .values_list("name", "n")
    )
    return {"counts": _register_counts(user), "residence": residence, "by_tag": list(by_tag)}


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress of a job the user started (an administrator sees all); others get 404."""
    user: Any = request.user
    job = Job.objects.filter(pk=pk).select_related("created_by").first()
    if job is None or not (job.created_by_id == user.pk or Role(user.role).scope == ScopeKind.ALL):
        raise Http404
    finished = job.status in {Job.Status.SUCCEEDED, Job.Status.FAILED}
    report = job.report if isinstance(job.report, dict) else {}
    errors = report.get("errors") or []
    return render(
        request,
        "web/job.html",
        {
            "nav": "import",
            "job": job,
            "finished": finished,
            "errors": errors[:1000],
            "errors_total": len(errors),
            "report": report,
        },
    )
