"""Writes on grids: saving grids with their derived fields, assignments, placing things in grids."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from shapely.geometry import mapping, shape

from shequ.core import geo
from shequ.core.audit import audit
from shequ.core.errors import Invalid
from shequ.grids.models import CODE_LENGTH_LEVEL, Assignment, Duty, Grid, Level


def _derive(grid: Grid) -> None:
    grid.path = (grid.parent.path if grid.parent else "/") + grid.code + "/"
    if grid.geometry:
        geom = shape(grid.geometry)
        if not geom.is_valid or geom.is_empty:
            raise Invalid(f"网格 {grid.code} 的边界无效", field="geometry")
        grid.min_lon, grid.min_lat, grid.max_lon, grid.max_lat = geom.bounds
        point = geom.representative_point()
        grid.center_lon, grid.center_lat = point.x, point.y
        grid.area_m2 = geo.area_m2(geom)


@transaction.atomic
def save_grid(
    *,
    code: str,
    name: str,
    actor: Any,
    level: Level | str | None = None,
    parent: Grid | None = None,
    geometry: dict[str, Any] | None = None,
) -> Grid:
    """Create or update the grid with this code; the level follows from the code length if not given."""
    if not code.isdigit():
        raise Invalid(f"网格编码只能由数字组成: {code!r}", field="code")
    level = Level(level) if level else CODE_LENGTH_LEVEL.get(len(code))
    if level is None:
        raise Invalid(f"无法从编码长度 {len(code)} 判断层级, 请注明层级", field="level")
    grid = Grid.objects.select_for_update().filter(code=code).first() or Grid(code=code)
    created = grid.pk is None
    old_path = grid.path
    grid.name, grid.level, grid.parent = name, level, parent
    grid.geometry = mapping(shape(geometry)) if geometry else None
    _derive(grid)
    grid.save()
    if not created and old_path != grid.path:
        _repath_descendants(grid, old_path)
    audit("grid.create" if created else "grid.update", actor=actor, target=grid, code=code)
    return grid


def _repath_descendants(grid: Grid, old_path: str) -> None:
    for child in Grid.objects.filter(path__startswith=old_path).exclude(pk=grid.pk).order_by("path"):
        child.path = grid.path + child.path[len(old_path) :]
        child.save(update_fields=["path", "updated_at"])


@transaction.atomic
def assign_user(
    user: Any, grid: Grid, *, actor: Any, duties: Iterable[Duty] = (), primary: bool = True
) -> Assignment:
    """Make a user answer for a grid node (and so see its subtree)."""
    assignment, _ = Assignment.objects.update_or_create(
        user=user, grid=grid, defaults={"is_primary": primary}
    )
    assignment.duties.set(list(duties))
    audit("grid.assign", actor=actor, target=assignment, user=user.pk, grid=grid.code)
    return assignment


@transaction.atomic
def unassign_user(user: Any, grid: Grid, *, actor: Any) -> None:
    Assignment.objects.filter(user=user, grid=grid).delete()
    audit("grid.unassign", actor=actor, target=grid, user=user.pk)
