"""Back-office views of cameras and alerts. Changes go through the pages and the API (services,
audited); the admin only shows, and never the camera's password or username."""

from django.contrib import admin

from shequ.video.models import Alert, Camera


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "grid", "vendor", "protocol", "status", "status_since", "watched"]
    list_filter = ["status", "vendor", "protocol", "watched"]
    search_fields = ["code", "name", "address"]
    exclude = ["password", "username"]  # write-only: set through the camera page or the API
    readonly_fields = [f.name for f in Camera._meta.fields if f.name not in ("password", "username")]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["pk", "camera", "kind", "origin", "state", "detected_at", "rule_id", "case"]
    list_filter = ["state", "kind", "origin"]
    search_fields = ["camera__code", "camera__name", "source_id", "rule_id"]
    date_hierarchy = "detected_at"
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
