"""Back-office data care. Every admin write goes to the audit log in the same transaction;
the audit log, the event outbox and jobs are read-only here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from shequ.core.audit import audit
from shequ.core.models import AuditEntry, CalendarDay, Event, Job


class AuditedModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose saves and deletions are audited (ARCHITECTURE §7: every write).

    The admin wraps each change in a transaction, so the row and its audit entry land together.
    """

    def _action(self, obj: Model, verb: str) -> str:
        return f"admin.{obj._meta.model_name}.{verb}"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        fields = sorted(form.changed_data) if form is not None else []
        audit(self._action(obj, "change" if change else "add"), actor=request.user, target=obj, fields=fields)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit(self._action(obj, "delete"), actor=request.user, target=obj, repr=str(obj)[:200])
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                audit(self._action(obj, "delete"), actor=request.user, target=obj, repr=str(obj)[:200])
            super().delete_queryset(request, queryset)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: no add, change or delete for anyone, superusers included."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_name", "action", "target_type", "target_id", "ip")
    list_filter = ("action", "target_type")
    search_fields = ("actor_name", "action", "target_id", "request_id")
    date_hierarchy = "at"
    list_select_related = False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "type", "occurred_at", "handled_at", "attempts")
    list_filter = ("type",)
    search_fields = ("type",)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "status", "created_by", "done", "total", "created_at", "finished_at")
    list_filter = ("kind", "status")
    list_select_related = ("created_by",)


@admin.register(CalendarDay)
class CalendarDayAdmin(AuditedModelAdmin):
    list_display = ("date", "is_working_day", "note")
    list_filter = ("is_working_day",)
    date_hierarchy = "date"
