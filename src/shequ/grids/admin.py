"""Grids (saved through grids.services so path, bounds and area are derived), duties, assignments."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from shapely.errors import GEOSException
from shapely.geometry import shape

from shequ.core.admin import AuditedModelAdmin
from shequ.core.audit import audit
from shequ.grids.models import Assignment, Duty, Grid
from shequ.grids.services import save_grid


class GridForm(forms.ModelForm):
    class Meta:
        model = Grid
        fields = ("code", "name", "level", "parent", "geometry", "is_active")

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        if not code.isdigit():
            raise forms.ValidationError(_("网格编码只能由数字组成"))
        return code

    def clean_geometry(self) -> Any:
        geometry = self.cleaned_data.get("geometry")
        if geometry:
            try:
                geom = shape(geometry)
            except (GEOSException, ValueError, TypeError, KeyError, AttributeError) as exc:
                raise forms.ValidationError(
                    _("不是有效的 GeoJSON 几何: %(error)s"), params={"error": exc}
                ) from None
            if geom.geom_type not in {"Polygon", "MultiPolygon"} or not geom.is_valid or geom.is_empty:
                raise forms.ValidationError(_("边界必须是有效的 Polygon 或 MultiPolygon (WGS-84)"))
        return geometry


@admin.register(Grid)
class GridAdmin(AuditedModelAdmin):
    form = GridForm
    list_display = ("code", "name", "level", "parent", "area_m2", "is_active")
    list_filter = ("level", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("parent",)
    raw_id_fields = ("parent",)
    readonly_fields = (
        "path",
        "min_lon",
        "min_lat",
        "max_lon",
        "max_lat",
        "center_lon",
        "center_lat",
        "area_m2",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The code is the grid's identity (save_grid finds the row by it): fixed once created.
        return (*self.readonly_fields, "code") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Grid, form: Any, change: bool) -> None:
        saved = save_grid(
            code=obj.code,
            name=obj.name,
            level=obj.level,
            parent=obj.parent,
            geometry=obj.geometry,
            actor=request.user,
        )
        if saved.is_active != obj.is_active:
            saved.is_active = obj.is_active
            saved.save(update_fields=["is_active", "updated_at"])
            audit("grid.update", actor=request.user, target=saved, is_active=saved.is_active)
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(Duty)
class DutyAdmin(AuditedModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(Assignment)
class AssignmentAdmin(AuditedModelAdmin):
    list_display = ("user", "grid", "is_primary", "created_at")
    list_filter = ("is_primary", "grid__level")
    search_fields = ("user__username", "user__display_name", "grid__code", "grid__name")
    list_select_related = ("user", "grid")
    raw_id_fields = ("user", "grid")
    filter_horizontal = ("duties",)
