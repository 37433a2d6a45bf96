"""Users with their role, department and lockout state; departments."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from shequ.accounts.models import Department, User
from shequ.accounts.services import is_locked, unlock_user
from shequ.core.admin import AuditedModelAdmin


@admin.register(User)
class UserAdmin(AuditedModelAdmin, BaseUserAdmin):
    list_display = ("username", "display_name", "role", "department", "is_active", "locked", "last_login")
    list_filter = ("role", "department", "is_active", "is_staff")
    search_fields = ("username", "display_name", "email")
    list_select_related = ("department",)
    readonly_fields = ("failed_logins", "locked_until", "last_login", "date_joined")
    raw_id_fields = ("person",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("身份"), {"fields": ("display_name", "email", "role", "department", "person")}),
        (_("权限"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("登录与锁定"), {"fields": ("failed_logins", "locked_until", "last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),
        (_("身份"), {"fields": ("display_name", "role", "department")}),
    )
    actions = ["unlock"]

    @admin.display(boolean=True, description=_("已锁定"))
    def locked(self, obj: User) -> bool:
        return is_locked(obj)

    @admin.action(description=_("解除锁定"))
    def unlock(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset)
        for user in users:
            unlock_user(user, actor=request.user)
        self.message_user(request, _("已解除 %(n)d 个账户的锁定") % {"n": len(users)}, messages.SUCCESS)


@admin.register(Department)
class DepartmentAdmin(AuditedModelAdmin):
    list_display = ("code", "name", "kind", "parent", "phone", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("parent",)
