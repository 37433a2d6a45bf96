"""Writes on accounts: departments, creating users, login failures and lockout, unlocking."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import identify_hasher
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from shequ.accounts.models import Department, Role, User
from shequ.core.audit import audit
from shequ.core.errors import Conflict, Invalid


@transaction.atomic
def create_department(
    *,
    code: str,
    name: str,
    actor: Any,
    kind: Department.Kind = Department.Kind.GOVERNMENT,
    parent: Department | None = None,
    phone: str = "",
) -> Department:
    """Create a department (处置部门). Codes are unique and short; they name the unit in routing rules."""
    code, name = code.strip(), name.strip()
    if not code or len(code) > 32:
        raise Invalid("部门编码须为 1 到 32 个字符", field="code")
    if not name or len(name) > 100:
        raise Invalid("部门名称须为 1 到 100 个字符", field="name")
    if Department.objects.filter(code=code).exists():
        raise Conflict(f"部门编码 {code} 已存在", field="code")
    department = Department.objects.create(code=code, name=name, kind=kind, parent=parent, phone=phone)
    audit("department.create", actor=actor, target=department)
    return department


@transaction.atomic
def create_user(
    *,
    username: str,
    password: str,
    role: Role,
    actor: Any,
    display_name: str = "",
    department: Department | None = None,
    check_password: bool = True,
    password_hash: str = "",
) -> User:
    """Create an account. A department handler must belong to a department. `password_hash` is
    `make_password(password)` done once by a caller that creates several accounts with one password
    (the demo's nine): PBKDF2 at Django's iterations takes over half a second each time."""
    if User.objects.filter(username=username).exists():
        raise Conflict(f"用户名 {username} 已存在", field="username")
    if role == Role.DEPARTMENT_HANDLER and department is None:
        raise Invalid("部门处置人员必须属于一个部门", field="department")
    user = User(username=username, role=role, display_name=display_name, department=department)
    if check_password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise Invalid(" ".join(exc.messages), field="password") from None
    if password_hash:
        identify_hasher(password_hash)  # a ValueError for anything but a hash this site can check
        user.password = password_hash
    else:
        user.set_password(password)
    user.is_staff = role == Role.ADMINISTRATOR
    user.is_superuser = role == Role.ADMINISTRATOR
    user.save()
    audit("user.create", actor=actor, target=user, role=role.value)
    return user


def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > timezone.now()


@transaction.atomic
def record_login_failure(user: User) -> None:
    """Count a wrong password; lock the account after settings.LOGIN_MAX_FAILURES in a row."""
    User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
    user.refresh_from_db(fields=["failed_logins", "locked_until"])
    if user.failed_logins >= settings.LOGIN_MAX_FAILURES and not is_locked(user):
        user.locked_until = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
        User.objects.filter(pk=user.pk).update(locked_until=user.locked_until)
        audit("login.locked", actor=None, target=user, failures=user.failed_logins)
    else:
        audit("login.failed", actor=None, target=user, failures=user.failed_logins)


@transaction.atomic
def record_login_success(user: User) -> None:
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    audit("login.ok", actor=user, target=user)


@transaction.atomic
def unlock_user(user: User, *, actor: Any) -> None:
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    audit("user.unlock", actor=actor, target=user)
