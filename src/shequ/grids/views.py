"""Grid pages: the grids of the user's scope, and one grid with its map, workers and figures."""

from __future__ import annotations

from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from shequ.grids.models import Assignment, Grid
from shequ.grids.selectors import access_grid, grids_for
from shequ.registry.selectors import assets_for, buildings_for, households_for, organizations_for, people_for
from shequ.web import access
from shequ.web.maps import building_feature, feature_collection, grid_feature, road_features

MAX_DRAWN_BUILDINGS = 3000


@access.require(access.may_browse_registers)
def grid_list(request: HttpRequest) -> HttpResponse:
    grids = list(grids_for(request.user).select_related("parent").annotate(child_count=Count("children")))
    people = {
        row["grid_id"]: row["n"] for row in people_for(request.user).values("grid_id").annotate(n=Count("id"))
    }
    rows = [(g, people.get(g.pk, 0)) for g in grids]
    unit = [g for g in grids if g.level == "grid"]
    return render(
        request,
        "grids/grid_list.html",
        {
            "nav": "grids",
            "rows": rows,
            "map_data": feature_collection([grid_feature(g) for g in unit]),
        },
    )


@access.require(access.may_browse_registers)
def grid_detail(request: HttpRequest, code: str) -> HttpResponse:
    grid = access_grid(request.user, code)
    if grid is None:
        raise Http404
    user = request.user
    subtree = list(grids_for(user).filter(path__startswith=grid.path).values_list("pk", flat=True))
    children = list(
        grids_for(user).filter(parent=grid).only("pk", "code", "name", "level", "geometry", "area_m2")
    )
    buildings = list(
        buildings_for(user)
        .filter(grid_id__in=subtree)
        .only("pk", "name", "footprint", "lon", "lat")[:MAX_DRAWN_BUILDINGS]
    )
    features = [grid_feature(grid, selected=True)]
    features += [grid_feature(c) for c in children]
    if grid.min_lon is not None and grid.max_lon is not None:
        assert grid.min_lat is not None and grid.max_lat is not None
        features = road_features((grid.min_lon, grid.min_lat, grid.max_lon, grid.max_lat)) + features
    features += [building_feature(b) for b in buildings]
    counts = {
        "people": people_for(user).filter(grid_id__in=subtree).count(),
        "households": households_for(user).filter(grid_id__in=subtree).count(),
        "buildings": buildings_for(user).filter(grid_id__in=subtree).count(),
        "organizations": organizations_for(user).filter(grid_id__in=subtree).count(),
        "assets": assets_for(user).filter(grid_id__in=subtree).count(),
    }
    ancestors = [g for g in Grid.objects.filter(path__in=_ancestor_paths(grid.path)).order_by("path")]
    return render(
        request,
        "grids/grid_detail.html",
        {
            "nav": "grids",
            "grid": grid,
            "ancestors": [a for a in ancestors if a.pk != grid.pk],
            "children": children,
            "workers": Assignment.objects.filter(grid=grid).select_related("user").prefetch_related("duties"),
            "counts": counts,
            "map_data": feature_collection(features),
            "drawn_buildings": len(buildings),
        },
    )


def _ancestor_paths(path: str) -> list[str]:
    """ "/a/b/c/" -> ["/a/", "/a/b/", "/a/b/c/"]."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
