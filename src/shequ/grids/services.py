"""Writes on grids: saving grids with their derived fields, assignments, placing things in grids."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from shapely import STRtree
from shapely.geometry import mapping, shape

from shequ.core import geo
from shequ.core.audit import audit
from shequ.core.errors import Invalid
from shequ.core.outbox import publish
from shequ.grids.events import GridsChanged
from shequ.grids.gridfile import (
    AREA_TOLERANCE_M2,
    GridFileProblem,
    GridFileReport,
    ProblemKind,
    read_grid_file,
)
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


@transaction.atomic
def import_grid_file(data: bytes, filename: str, *, actor: Any) -> GridFileReport:
    """Check a GeoJSON/KML/KMZ file of grids and, only if it has no errors, save every grid in it.

    Checks beyond the file itself: a parent named in the file must exist in the file or the
    database, and a new grid may not overlap an existing grid of the same level that the file
    does not replace. Nothing is written when anything is wrong.
    """
    report = read_grid_file(data, filename)
    by_code = {f.code: f for f in report.features}
    existing = {
        g.code: g for g in Grid.objects.filter(code__in={f.parent_code for f in report.features} - {None})
    }
    for i, f in enumerate(report.features):
        if f.parent_code and f.parent_code not in by_code and f.parent_code not in existing:
            report.errors.append(
                GridFileProblem(
                    i,
                    f.code,
                    ProblemKind.PARENT_MISSING,
                    f"上级编码 {f.parent_code} 既不在文件中也不在系统中",
                )
            )
    _check_against_database(report)
    if not report.ok:
        return report
    report.warnings = [w for w in report.warnings if w.kind != ProblemKind.PARENT_MISSING]
    saved: dict[str, Grid] = {}
    depth = {Level.DISTRICT: 0, Level.STREET: 1, Level.COMMUNITY: 2, Level.GRID: 3}
    for f in sorted(report.features, key=lambda f: (depth[Level(f.level)], f.code)):
        parent = saved.get(f.parent_code or "") or existing.get(f.parent_code or "")
        saved[f.code] = save_grid(
            code=f.code,
            name=f.name[:100],
            level=f.level,
            parent=parent,
            geometry=mapping(f.geometry),
            actor=actor,
        )
    audit("grid.import", actor=actor, filename=filename[:200], grids=len(saved))
    publish(GridsChanged(codes=sorted(saved)))
    return report


def _check_against_database(report: GridFileReport) -> None:
    codes = {f.code for f in report.features}
    for level in {f.level for f in report.features}:
        others = [
            (code, shape(geom))
            for code, geom in Grid.objects.filter(level=level, geometry__isnull=False)
            .exclude(code__in=codes)
            .values_list("code", "geometry")
        ]
        if not others:
            continue
        tree = STRtree([g for _, g in others])
        for i, f in enumerate(report.features):
            if f.level != level:
                continue
            for j in tree.query(f.geometry, predicate="intersects"):
                code, other = others[int(j)]
                area = geo.area_m2(f.geometry.intersection(other))
                if area > AREA_TOLERANCE_M2:
                    report.errors.append(
                        GridFileProblem(
                            i,
                            f.code,
                            ProblemKind.OVERLAP,
                            f"网格 {f.code} 与系统中已有的网格 {code} 重叠 {area:.0f} 平方米",
                            other_code=code,
                            area_m2=area,
                        )
                    )
