"""Instructions are shown in the back office, never written there: they change only through
command.services (audited, with their events and case history)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from shequ.command.models import Escalation, Instruction
from shequ.core.admin import ReadOnlyAdmin


class EscalationInline(admin.TabularInline):
    model = Escalation
    extra = 0
    can_delete = False
    fields = ("level", "at", "by", "reason")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Instruction)
class InstructionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "title",
        "urgency",
        "state",
        "level",
        "department",
        "recipient",
        "sent_at",
        "due_at",
    )
    list_filter = ("state", "urgency", "level")
    search_fields = ("title", "text")
    list_select_related = ("department", "recipient")
    raw_id_fields = ("case", "grid", "recipient")
    inlines = [EscalationInline]
