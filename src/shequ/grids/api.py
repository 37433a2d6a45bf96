"""REST endpoints of grids, /api/grids/...: the caller's grids, their polygons, point location."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from shequ.core.api import BadRequest, Pagination, param_bbox, param_choice, param_float, param_text
from shequ.grids import index
from shequ.grids.models import Grid, Level
from shequ.grids.selectors import grids_for


class GridSerializer(serializers.ModelSerializer):
    level_label = serializers.CharField(source="get_level_display")
    parent = serializers.SerializerMethodField()  # type: ignore[assignment]  # shadows Field.parent for mypy only
    center = serializers.SerializerMethodField()
    bbox = serializers.SerializerMethodField()

    class Meta:
        model = Grid
        fields = ["code", "name", "level", "level_label", "parent", "center", "bbox", "area_m2", "is_active"]

    def get_parent(self, obj: Grid) -> str | None:
        return obj.parent.code if obj.parent else None

    def get_center(self, obj: Grid) -> list[float] | None:
        return None if obj.center_lon is None else [obj.center_lon, obj.center_lat]  # type: ignore[list-item]

    def get_bbox(self, obj: Grid) -> list[float] | None:
        if obj.min_lon is None:
            return None
        return [obj.min_lon, obj.min_lat, obj.max_lon, obj.max_lat]  # type: ignore[list-item]


class GridDetailSerializer(GridSerializer):
    class Meta(GridSerializer.Meta):
        fields = [*GridSerializer.Meta.fields, "geometry"]


def query(name: str, kind: type = str, description: str = "", enum: Any = None) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, enum=enum)


GRID_FILTERS = [
    query("level", enum=Level.values),
    query("parent", description="上级网格编码"),
    query("q", description="编码前缀或名称"),
    query("bbox", description="最小经度,最小纬度,最大经度,最大纬度 (WGS-84), 与外接矩形相交"),
]


@extend_schema_view(
    list=extend_schema(parameters=GRID_FILTERS),
    retrieve=extend_schema(responses=GridDetailSerializer),
    geojson=extend_schema(
        parameters=GRID_FILTERS,
        responses={
            (200, "application/geo+json"): inline_serializer(
                "GridFeatureCollection",
                {
                    "type": serializers.CharField(),
                    "features": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    ),
    locate=extend_schema(
        parameters=[
            query("lon", float, "经度 (WGS-84)"),
            query("lat", float, "纬度 (WGS-84)"),
        ],
        responses=inline_serializer(
            "GridLocation",
            {
                "lon": serializers.FloatField(),
                "lat": serializers.FloatField(),
                "grid": GridSerializer(allow_null=True),
            },
        ),
    ),
)
class GridViewSet(viewsets.ReadOnlyModelViewSet):
    """网格: the grids the caller may see (the subtrees of their assignments)."""

    pagination_class = Pagination
    serializer_class = GridSerializer
    lookup_field = "code"
    lookup_value_regex = "[0-9]{1,20}"

    def get_queryset(self) -> QuerySet[Grid]:
        return grids_for(self.request.user).select_related("parent").order_by("code")

    def filter_grids(self, qs: QuerySet[Grid]) -> QuerySet[Grid]:
        params = self.request.query_params
        if level := param_choice(params, "level", Level.values):
            qs = qs.filter(level=level)
        if parent := param_text(params, "parent", max_length=20):
            qs = qs.filter(parent__code=parent)
        if q := param_text(params, "q", max_length=50):
            qs = qs.filter(Q(code__startswith=q) | Q(name__icontains=q))
        if box := param_bbox(params):
            # Overlap of bounding boxes: cheap, indexed columns; the map clips the rest.
            min_lon, min_lat, max_lon, max_lat = box
            qs = qs.filter(
                min_lon__lte=max_lon, max_lon__gte=min_lon, min_lat__lte=max_lat, max_lat__gte=min_lat
            )
        return qs

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_grids(self.get_queryset()))
        return self.get_paginated_response(GridSerializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        grid = self.get_queryset().filter(code=kwargs["code"]).first()
        if grid is None:
            raise Http404
        return Response(GridDetailSerializer(grid).data)

    @action(detail=False, methods=["get"])
    def geojson(self, request: Request) -> Response:
        """The polygons of one level (unit grids by default) as a GeoJSON FeatureCollection."""
        level = param_choice(request.query_params, "level", Level.values) or Level.GRID
        qs = self.filter_grids(self.get_queryset()).filter(level=level, geometry__isnull=False)
        features = [
            {
                "type": "Feature",
                "id": g.code,
                "geometry": g.geometry,
                "properties": {
                    "code": g.code,
                    "name": g.name,
                    "level": g.level,
                    "parent": g.parent.code if g.parent else None,
                },
            }
            for g in qs
        ]
        return Response(
            {"type": "FeatureCollection", "features": features}, content_type="application/geo+json"
        )

    @action(detail=False, methods=["get"])
    def locate(self, request: Request) -> Response:
        """The unit grid containing a WGS-84 point; null when it lies outside every grid one may see."""
        params = request.query_params
        lon = param_float(params, "lon", low=-180, high=180)
        lat = param_float(params, "lat", low=-90, high=90)
        if lon is None or lat is None:
            raise BadRequest("须提供 lon 和 lat (WGS-84 经纬度)", field="lon" if lon is None else "lat")
        pk = index.locate(lon, lat)
        grid = self.get_queryset().filter(pk=pk).first() if pk is not None else None
        return Response({"lon": lon, "lat": lat, "grid": GridSerializer(grid).data if grid else None})


router = SimpleRouter()
router.register("", GridViewSet, basename="grid")
urlpatterns = router.urls
