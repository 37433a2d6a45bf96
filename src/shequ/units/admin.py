from django.contrib import admin

from shequ.units.models import DutyStatus, Position


@admin.register(DutyStatus)
class DutyStatusAdmin(admin.ModelAdmin):
    """Read-only: statuses change through the duty page (services.set_status, audited)."""

    list_display = ["user", "status", "since", "consent_at", "last_at", "last_grid"]
    list_filter = ["status"]
    search_fields = ["user__username", "user__display_name"]
    readonly_fields = [f.name for f in DutyStatus._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin):
    """Read-only: positions come from the phones and go with the purge."""

    list_display = ["user", "lon", "lat", "accuracy_m", "at", "received_at", "status"]
    list_filter = ["status"]
    search_fields = ["user__username"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
