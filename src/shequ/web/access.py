"""Who may open which page. The data scope itself lives in the selectors; this only gates pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from shequ.accounts.models import Role, ScopeKind

# Roles that may write the registers (and so import them): the command center, the service
# window and administrators. Grid workers collect data through the mobile pages and the API.
REGISTER_WRITE_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMMAND_OPERATOR, Role.SERVICE_CLERK})


def role_of(user: Any) -> Role | None:
    return Role(user.role) if user.is_authenticated else None


def may_browse_registers(user: Any) -> bool:
    """Register lists are for roles that see an area (or everything); a department handler or a
    resident has no area, and the resident sees their own record on the home page."""
    role = role_of(user)
    return role is not None and role.scope in {ScopeKind.AREA, ScopeKind.ALL}


def may_import(user: Any) -> bool:
    return role_of(user) in REGISTER_WRITE_ROLES


def may_reveal(user: Any) -> bool:
    role = role_of(user)
    return role is not None and role.may_reveal_personal_data


def require(
    predicate: Callable[[Any], bool],
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A page for logged-in users that pass `predicate`: others log in first, or get 403."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not predicate(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorate
