"""Back-office care of the case loop: categories with their time limits and routing rules are
edited here (audited); cases, extensions and supervision are shown, and change only through the
services (a case's state only through the state machine)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from shequ.cases.models import (
    Case,
    Category,
    Extension,
    HistoryEntry,
    Question,
    RoutingRule,
    Supervision,
    TimeLimit,
)
from shequ.core.admin import AuditedModelAdmin, ReadOnlyAdmin
from shequ.core.audit import audit
from shequ.registry import identifiers


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    extra = 0
    fields = ("stage", "amount", "unit")


class QuestionInline(admin.StackedInline):
    """Extra questions (附加问题), which Open311 clients see as the service's attributes."""

    model = Question
    extra = 0
    fields = (
        ("code", "prompt"),
        ("datatype", "variable", "required", "order", "is_active"),
        "hint",
        "choices",
    )


@admin.register(Category)
class CategoryAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "kind", "parent", "urgency", "merge_duplicates", "is_active")
    list_filter = ("kind", "urgency", "is_active", "merge_duplicates")
    search_fields = ("code", "name")
    list_select_related = ("parent",)
    inlines = [TimeLimitInline, QuestionInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cases keep their category: one no longer used is made inactive

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is Question:
            changed = [row.code for row in formset.new_objects]
            changed += [row.code for row, _fields in formset.changed_objects]
            removed = [row.code for row in formset.deleted_objects]
            if changed or removed:
                audit(
                    "admin.question.change",
                    actor=request.user,
                    target=form.instance,
                    changed=changed,
                    removed=removed,
                )
            return
        # The time limits change with their category: one audit entry says how.
        changed = [f"{row.stage}={row.amount}{row.unit}" for row in formset.new_objects]
        changed += [f"{row.stage}={row.amount}{row.unit}" for row, _fields in formset.changed_objects]
        removed = [str(row.stage) for row in formset.deleted_objects]
        if changed or removed:
            audit(
                "admin.timelimit.change",
                actor=request.user,
                target=form.instance,
                changed=changed,
                removed=removed,
            )


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedModelAdmin):
    list_display = (
        "name",
        "category",
        "grid",
        "starts_at",
        "ends_at",
        "department",
        "auto_file",
        "auto_dispatch",
        "priority",
        "is_active",
    )
    list_filter = ("is_active", "auto_file", "auto_dispatch", "department")
    search_fields = ("name", "category__name", "grid__code", "grid__name")
    list_select_related = ("category", "grid", "department")
    raw_id_fields = ("grid",)


class HistoryInline(admin.TabularInline):
    model = HistoryEntry
    extra = 0
    can_delete = False
    fields = ("at", "actor_name", "action", "from_state", "to_state", "reason")
    readonly_fields = fields
    ordering = ("at", "id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# What the admin may correct on a case: clerical text. Everything else is the services' to change.
CASE_EDITABLE = ("title", "description", "address")


@admin.register(Case)
class CaseAdmin(AuditedModelAdmin):
    list_display = (
        "number",
        "state",
        "source",
        "category",
        "grid",
        "department",
        "urgency",
        "due_at",
        "supervision_level",
        "created_at",
    )
    list_filter = ("state", "source", "urgency", "supervision_level", "category", "grid")
    search_fields = ("number", "title", "description", "address")
    list_select_related = ("category", "grid", "department")
    date_hierarchy = "created_at"
    inlines = [HistoryInline]
    fields = (
        "number",
        "state",
        "source",
        "source_id",
        "category",
        *CASE_EDITABLE,
        "urgency",
        "lon",
        "lat",
        "grid",
        "reporter",
        "reporter_name",
        "masked_reporter_phone",
        "reporter_confidential",
        "department",
        "assignee",
        "duplicate_of",
        "stage",
        "stage_started_at",
        "due_at",
        "warned_at",
        "overdue_at",
        "handle_due_at",
        "supervision_level",
        "filed_at",
        "dispatched_at",
        "accepted_at",
        "handled_at",
        "closed_at",
        "closed_on_time",
        "self_handled",
        "dispatch_count",
        "return_count",
        "rework_count",
        "reopen_count",
        "satisfaction",
        "satisfaction_note",
        "callback_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f not in CASE_EDITABLE)

    @admin.display(description=_("上报人电话"))
    def masked_reporter_phone(self, obj: Case) -> str:
        return identifiers.mask_phone(obj.reporter_phone) if obj.reporter_phone else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a case is reported (services.intake), never made here

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of a case is kept; a wrong report is rejected


@admin.register(Extension)
class ExtensionAdmin(ReadOnlyAdmin):
    list_display = ("case", "amount", "unit", "decision", "requested_at", "decided_at", "new_due_at")
    list_filter = ("decision", "unit")
    search_fields = ("case__number",)
    list_select_related = ("case",)


@admin.register(Supervision)
class SupervisionAdmin(ReadOnlyAdmin):
    list_display = ("case", "level", "at", "by", "reason")
    list_filter = ("level",)
    search_fields = ("case__number", "reason")
    list_select_related = ("case", "by")
