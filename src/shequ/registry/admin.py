"""Back-office care of the registers.

People are created through the pages, the API and the importer (registry.services), never here:
the admin shows ID and phone numbers masked and read-only, and a change of the other personal
fields is saved through `update_person`, which validates, refreshes the lookup hashes and audits.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from shequ.core.admin import AuditedModelAdmin
from shequ.registry import identifiers
from shequ.registry.models import (
    Asset,
    AssetCategory,
    Building,
    Dwelling,
    Household,
    Organization,
    Person,
    Road,
    Tag,
)
from shequ.registry.services import check_person, update_person

# The fields update_person owns; the admin may change these and nothing else of a person.
PERSON_FIELDS = ("name", "gender", "birth_date", "ethnicity", "residence", "relation", "note")


class PersonForm(forms.ModelForm):
    class Meta:
        model = Person
        fields = PERSON_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        instance = self.instance
        merged = {
            "id_number": instance.id_number,
            "phone": instance.phone,
            **{name: cleaned.get(name, getattr(instance, name)) for name in PERSON_FIELDS},
        }
        for name, message in check_person(merged).errors:
            self.add_error(name if name in self.fields else None, message)
        return cleaned


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    form = PersonForm
    list_display = ("name", "gender", "masked_id_number", "masked_phone", "residence", "grid", "is_active")
    list_filter = ("residence", "gender", "is_active", "tags")
    search_fields = ("name",)
    list_select_related = ("grid",)
    readonly_fields = ("masked_id_number", "masked_phone", "household", "grid", "tag_list", "is_active")

    @admin.display(description=_("身份证号"))
    def masked_id_number(self, obj: Person) -> str:
        return identifiers.mask_resident_id(obj.id_number) if obj.id_number else "—"

    @admin.display(description=_("联系电话"))
    def masked_phone(self, obj: Person) -> str:
        return identifiers.mask_phone(obj.phone) if obj.phone else "—"

    @admin.display(description=_("标签"))
    def tag_list(self, obj: Person) -> str:
        return "、".join(t.name for t in obj.tags.all()) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # registration checks and de-duplicates ID numbers: pages, API or import

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a person leaves the register by being marked inactive, not deleted

    def save_model(self, request: HttpRequest, obj: Person, form: Any, change: bool) -> None:
        original = Person.objects.get(pk=obj.pk)
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in PERSON_FIELDS}
        update_person(original, changes, actor=request.user)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # no related fields are editable here


class DwellingInline(admin.TabularInline):
    model = Dwelling
    extra = 0
    fields = ("unit", "number", "area_m2", "is_shop")


@admin.register(Building)
class BuildingAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "address", "use", "floors", "grid")
    list_filter = ("use",)
    search_fields = ("code", "name", "address")
    list_select_related = ("grid",)
    raw_id_fields = ("grid",)
    inlines = [DwellingInline]


@admin.register(Dwelling)
class DwellingAdmin(AuditedModelAdmin):
    list_display = ("__str__", "building", "unit", "number", "area_m2", "is_shop")
    list_filter = ("is_shop",)
    search_fields = ("building__name", "building__code", "number")
    list_select_related = ("building",)
    raw_id_fields = ("building",)


@admin.register(Household)
class HouseholdAdmin(AuditedModelAdmin):
    list_display = ("number", "address", "dwelling", "grid")
    search_fields = ("number", "address")
    list_select_related = ("grid", "dwelling__building")
    raw_id_fields = ("dwelling", "grid")


@admin.register(Tag)
class TagAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "is_sensitive")
    list_filter = ("is_sensitive",)
    search_fields = ("code", "name")


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = (
            "name",
            "kind",
            "credit_code",
            "legal_representative",
            "phone",
            "address",
            "building",
            "staff_count",
            "lon",
            "lat",
            "grid",
            "source",
            "source_id",
        )

    def clean_credit_code(self) -> str | None:
        code = (self.cleaned_data.get("credit_code") or "").strip()
        if not code:
            return None
        try:
            return identifiers.parse_credit_code(code).number
        except identifiers.IdentifierError as exc:
            raise forms.ValidationError(
                _("统一社会信用代码无效: %(reason)s"), params={"reason": exc}
            ) from None


@admin.register(Organization)
class OrganizationAdmin(AuditedModelAdmin):
    form = OrganizationForm
    list_display = ("name", "kind", "credit_code", "legal_representative", "grid")
    list_filter = ("kind",)
    search_fields = ("name", "credit_code")
    list_select_related = ("grid",)
    raw_id_fields = ("grid", "building")


@admin.register(AssetCategory)
class AssetCategoryAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "parent")
    search_fields = ("code", "name")
    list_select_related = ("parent",)


@admin.register(Asset)
class AssetAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "category", "status", "owner", "grid")
    list_filter = ("status", "category")
    search_fields = ("code", "name", "address")
    list_select_related = ("category", "owner", "grid")
    raw_id_fields = ("grid",)


@admin.register(Road)
class RoadAdmin(AuditedModelAdmin):
    list_display = ("__str__", "kind")
    list_filter = ("kind",)
    search_fields = ("name",)
