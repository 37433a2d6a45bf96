"""Reads of grids, with the caller's data scope."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from shequ.accounts.models import Role, ScopeKind
from shequ.grids.models import Assignment, Grid


def visible_grid_ids(user: Any) -> frozenset[int] | None:
    """The grids a user may see: None means all; otherwise the subtrees of their assignments.

    Roles scoped by department or to themselves see no grid's register data (an empty set).
    """
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_visible_grid_ids", ...)
    if cached is not ...:
        return cached
    scope = Role(user.role).scope
    result: frozenset[int] | None
    if scope == ScopeKind.ALL:
        result = None
    elif scope == ScopeKind.AREA:
        paths = list(Assignment.objects.filter(user=user).values_list("grid__path", flat=True))
        if not paths:
            result = frozenset()
        else:
            q = Q()
            for p in paths:
                q |= Q(path__startswith=p)
            result = frozenset(Grid.objects.filter(q).values_list("pk", flat=True))
    else:
        result = frozenset()
    user._visible_grid_ids = result  # per request: the user object lives as long as the request
    return result


def grids_for(user: Any) -> QuerySet[Grid]:
    ids = visible_grid_ids(user)
    qs = Grid.objects.all()
    return qs if ids is None else qs.filter(pk__in=ids)


def access_grid(user: Any, code: str) -> Grid | None:
    """The grid with this code if the user may see it, else None (no hint that it exists)."""
    if "\x00" in code:  # PostgreSQL refuses a NUL in a text parameter (a 500): no code holds one
        return None
    return grids_for(user).filter(code=code).first()


def unit_grids() -> QuerySet[Grid]:
    return Grid.objects.filter(level="grid", is_active=True, geometry__isnull=False)


def assignments_for(user: Any) -> QuerySet[Assignment]:
    """A user's own grid assignments, with their grids, in code order."""
    return Assignment.objects.filter(user=user).select_related("grid").order_by("grid__code")
