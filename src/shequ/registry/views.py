"""Register pages: scoped lists with filters and export, detail pages, the import upload.

Every queryset comes from registry.selectors (the caller's data scope); a row outside the scope
answers 404, exactly as a row that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from shequ.core.errors import DomainError, Forbidden
from shequ.core.jobs import start_job
from shequ.registry.exports import export_rows
from shequ.registry.models import Dwelling, Person
from shequ.registry.selectors import (
    access_person,
    assets_for,
    buildings_for,
    households_for,
    organizations_for,
    people_for,
    tags_for,
)
from shequ.registry.services import reveal_person
from shequ.web import access
from shequ.web.forms import (
    AssetFilter,
    BuildingFilter,
    HouseholdFilter,
    ImportForm,
    OrganizationFilter,
    PeopleFilter,
    RegisterFilter,
    RevealForm,
)
from shequ.web.maps import building_feature, feature_collection

PAGE_SIZE = 50
EXPORT_FORMATS = ("xlsx", "csv")
EXPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class Register:
    form: type[RegisterFilter]
    template: str

    def queryset(self, user: Any) -> QuerySet[Any]:
        raise NotImplementedError


class People(Register):
    def queryset(self, user: Any) -> QuerySet[Any]:
        # Only the tags the role may see are shown (sensitive categories need an elevated role).
        return (
            people_for(user)
            .select_related("grid")
            .prefetch_related(Prefetch("tags", queryset=tags_for(user)))
            .order_by("id")
        )


class Buildings(Register):
    def queryset(self, user: Any) -> QuerySet[Any]:
        return (
            buildings_for(user)
            .select_related("grid")
            .annotate(dwelling_count=_count_of(Dwelling, "building"))
            .order_by("code")
        )


class Organizations(Register):
    def queryset(self, user: Any) -> QuerySet[Any]:
        return organizations_for(user).select_related("grid")


class Assets(Register):
    def queryset(self, user: Any) -> QuerySet[Any]:
        return assets_for(user).select_related("grid", "category", "owner")


class Households(Register):
    def queryset(self, user: Any) -> QuerySet[Any]:
        return (
            households_for(user)
            .select_related("grid", "dwelling__building")
            .annotate(member_count=_count_of(Person, "household"))
            .order_by("number")
        )


def _count_of(model: Any, fk: str) -> Coalesce:
    """Rows of `model` pointing here by `fk`, counted per listed row only (a page's 50, not the table):
    Count() over a join groups the whole table before the page is cut."""
    rows = model.objects.filter(**{fk: OuterRef("pk")}).order_by().values(fk)
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0)


REGISTERS: dict[str, Register] = {
    "people": People(PeopleFilter, "registry/people_list.html"),
    "buildings": Buildings(BuildingFilter, "registry/buildings_list.html"),
    "organizations": Organizations(OrganizationFilter, "registry/organizations_list.html"),
    "assets": Assets(AssetFilter, "registry/assets_list.html"),
    "households": Households(HouseholdFilter, "registry/households_list.html"),
}


def _filtered(request: HttpRequest, kind: str) -> tuple[RegisterFilter, QuerySet[Any]]:
    register = REGISTERS[kind]
    form = register.form(request.GET or None, user=request.user)
    return form, form.apply(register.queryset(request.user))


@access.require(access.may_browse_registers)
def register_list(request: HttpRequest, kind: str) -> HttpResponse:
    form, qs = _filtered(request, kind)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    suffix = f"?{query.urlencode()}" if query else ""
    exports = [(fmt, reverse(f"web:{kind}_export", kwargs={"fmt": fmt}) + suffix) for fmt in EXPORT_FORMATS]
    return render(
        request,
        REGISTERS[kind].template,
        {"nav": kind, "kind": kind, "form": form, "page": page, "exports": exports},
    )


@access.require(access.may_browse_registers)
def register_export(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    """The filtered list as a file. Identifiers stay masked; registry.exports audits the export."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    _form, qs = _filtered(request, kind)
    # The exporter prefetches what it writes (only the tags the actor may see): drop the page's.
    data = export_rows(kind, qs.prefetch_related(None), fmt, actor=request.user)
    response = HttpResponse(data, content_type=EXPORT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{kind}-{timezone.localdate():%Y%m%d}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


def _person_context(request: HttpRequest, person: Any) -> dict[str, Any]:
    household_members: list[Any] = []
    if person.household_id:
        household_members = list(
            people_for(request.user).filter(household_id=person.household_id).exclude(pk=person.pk)
        )
    return {
        "nav": "people",
        "person": person,
        "tags": list(tags_for(request.user).filter(people=person)),
        "household_members": household_members,
        "may_reveal": access.may_reveal(request.user),
        "reveal_form": RevealForm(),
        "revealed": None,
    }


@access.require(access.may_browse_registers)
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = access_person(request.user, pk)
    if person is None:
        raise Http404
    return render(request, "registry/person_detail.html", _person_context(request, person))


@require_POST
@access.require(access.may_browse_registers)
def person_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the full ID and phone numbers once, for a stated purpose; reveal_person audits it."""
    person = access_person(request.user, pk)
    if person is None:
        raise Http404
    context = _person_context(request, person)
    form = RevealForm(request.POST)
    if not access.may_reveal(request.user):
        return render(request, "registry/person_detail.html", context | {"denied": True}, status=403)
    if not form.is_valid():
        return render(request, "registry/person_detail.html", context | {"reveal_form": form}, status=422)
    try:
        revealed = reveal_person(person, actor=request.user, purpose=form.cleaned_data["purpose"])
    except Forbidden:
        return render(request, "registry/person_detail.html", context | {"denied": True}, status=403)
    except DomainError as exc:
        form.add_error("purpose", exc.message)
        return render(request, "registry/person_detail.html", context | {"reveal_form": form}, status=422)
    response = render(request, "registry/person_detail.html", context | {"revealed": revealed})
    # Shown once: neither the browser nor a proxy may keep a copy of the unmasked numbers.
    response["Cache-Control"] = "no-store"
    return response


@access.require(access.may_browse_registers)
def building_detail(request: HttpRequest, pk: int) -> HttpResponse:
    building = buildings_for(request.user).select_related("grid").filter(pk=pk).first()
    if building is None:
        raise Http404
    households = households_for(request.user).filter(dwelling__building=building)
    dwellings = (
        Dwelling.objects.filter(building=building)
        .prefetch_related(
            Prefetch(
                "households",
                queryset=households.annotate(member_count=Count("members")),
            )
        )
        .order_by("unit", "number")
    )
    residents = people_for(request.user).filter(household__dwelling__building=building).count()
    return render(
        request,
        "registry/building_detail.html",
        {
            "nav": "buildings",
            "building": building,
            "dwellings": dwellings,
            "household_count": households.count(),
            "residents": residents,
            "organizations": organizations_for(request.user).filter(building=building),
            "map_data": feature_collection([building_feature(building)]),
        },
    )


@access.require(access.may_import)
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        # The runner (registry.tasks) reads the file, checks every row and reports per row.
        job = start_job(
            "registry.import",
            actor=request.user,
            params={
                "kind": form.cleaned_data["kind"],
                "mode": form.cleaned_data["mode"],
                "filename": upload.name,
            },
            input_file=upload,
        )
        return redirect(reverse("web:job", args=[job.pk]))
    status = 400 if request.method == "POST" else 200
    return render(request, "registry/import.html", {"nav": "import", "form": form}, status=status)
