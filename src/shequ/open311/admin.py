"""Back-office care of Open311 keys: an administrator makes a key here (it is shown once, in the
message after saving) and revokes it with the list's action; both go through the services (audited).
Submissions are shown without the reporter's contact details."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from shequ.core.admin import ReadOnlyAdmin
from shequ.core.errors import DomainError
from shequ.open311 import services
from shequ.open311.models import ApiKey, Submission


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "is_active",
        "created_at",
        "created_by",
        "last_used_at",
        "request_count",
        "report_count",
        "refused_count",
        "revoked_at",
    )
    search_fields = ("name", "prefix")
    actions = ["revoke"]
    fields = ("name",)

    @admin.display(boolean=True, description=gettext_lazy("有效"))
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("name",) if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key's requests stay attributed to it: revoke instead

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            key, raw = services.create_key(obj.name, actor=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = key.pk
        self.message_user(
            request,
            _("已为 %(name)s 生成密钥, 只显示这一次, 请立即复制: %(key)s") % {"name": key.name, "key": raw},
            messages.WARNING,
        )

    @admin.action(description=gettext_lazy("作废所选密钥"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            services.revoke_key(key, actor=request.user)
        self.message_user(request, _("已作废 %(n)d 个密钥") % {"n": queryset.count()}, messages.SUCCESS)


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ("token", "case", "service_code", "api_key", "created_at")
    list_filter = ("api_key",)
    search_fields = ("token", "case__number")
    fields = ("token", "case", "service_code", "api_key", "media_url", "created_at")
