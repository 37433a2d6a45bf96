"""REST API of onemap (docs/api.md, "One map"), mounted under /api/onemap/: the map's layers and
its search, for the command center, leaders and administrators, each in the viewer's scope.

Every layer answers with an ETag; a client that sends it back in If-None-Match gets 304 while the
layer has not changed. The case layers are cached per (viewer scope, data version, parameters);
the version moves with every case event (cache.py, handlers.py), so no answer outlives its data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from shequ.cases import selectors as case_selectors
from shequ.cases.api import LIST_PARAMETERS, filter_cases, param_bool, refusals
from shequ.cases.models import OPEN_STATES
from shequ.core.api import BadRequest, param_bbox, param_int, param_text
from shequ.core.errors import Forbidden
from shequ.onemap import cache, selectors

BBOX = OpenApiParameter("bbox", str, description="最小经度,最小纬度,最大经度,最大纬度 (WGS-84)")
ZOOM = OpenApiParameter("zoom", int, description="地图缩放级别 0–22; 低于 15 或点数超过 500 时返回聚合")
OPEN = OpenApiParameter("open", bool, description="仅未办结 (待受理、办理中、待核查)")
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", str, OpenApiParameter.HEADER, description="上次应答的 ETag: 未变则 304"
)
NOT_MODIFIED = OpenApiResponse(description="图层未变 (If-None-Match 与 ETag 相同)")


def geojson(name: str, **extra: serializers.Field) -> Any:
    return inline_serializer(
        name,
        {
            "type": serializers.CharField(help_text="FeatureCollection"),
            "features": serializers.ListField(child=serializers.DictField()),
            **extra,
        },
    )


LAYER_EXTRA: dict[str, serializers.Field] = {
    "mode": serializers.ChoiceField(choices=["points", "clusters"], help_text="点或聚合"),
    "count": serializers.IntegerField(help_text="视野内的数量"),
    "zoom": serializers.IntegerField(allow_null=True),
}
GRIDS = geojson("OnemapGrids")
CASES = geojson("OnemapCases", **LAYER_EXTRA)
CAMERAS = geojson("OnemapCameras", count=serializers.IntegerField())
ASSETS = geojson("OnemapAssets", **LAYER_EXTRA)
UNITS = geojson(
    "OnemapUnits",
    available=serializers.BooleanField(help_text="处置力量模块是否可用"),
    without_position=serializers.ListField(child=serializers.DictField(), help_text="在岗但无近期位置"),
)
SEARCH = inline_serializer(
    "OnemapSearchResult",
    {
        "kind": serializers.ChoiceField(choices=["case", "building", "person"]),
        "label": serializers.CharField(),
        "lon": serializers.FloatField(allow_null=True),
        "lat": serializers.FloatField(allow_null=True),
        "url": serializers.CharField(),
    },
    many=True,
)


def answer(request: Request, body: bytes, tag: str) -> HttpResponse:
    """The JSON body with its ETag, or 304 when the client holds it already."""
    held = request.headers.get("If-None-Match", "")
    if held and (held.strip() == "*" or tag in {t.strip().removeprefix("W/") for t in held.split(",")}):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = tag
    # Private: the answer depends on who asks. The browser revalidates each time (If-None-Match).
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Cookie, Authorization"
    return response


class LayerView(APIView):
    """A layer: role check, then the body (cached where `layer` is set) with its ETag."""

    layer = ""  # a name here: cached per scope and data version

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not selectors.may_use_map(request.user):
            raise Forbidden("一张图仅对指挥中心、领导和管理员开放")

    def respond(self, request: Request, build: Callable[[], Any]) -> HttpResponse:
        if self.layer:
            params = {k: request.query_params.get(k) for k in request.query_params}
            body, tag = cache.cached_body(self.layer, selectors.scope_key(request.user), params, build)
        else:
            body = json.dumps(build(), ensure_ascii=False, separators=(",", ":"), default=str).encode()
            tag = cache.etag_of(body)
        return answer(request, body, tag)


class GridsLayer(LayerView):
    layer = "grids"

    @extend_schema(
        operation_id="onemap_grids",
        parameters=[IF_NONE_MATCH],
        responses={200: GRIDS, 304: NOT_MODIFIED, **refusals(403)},
    )
    def get(self, request: Request) -> HttpResponse:
        """所辖单元网格 (GeoJSON), 带在办与超期案件数, 用于按案件着色。"""
        return self.respond(request, lambda: selectors.grid_layer(request.user))


class CasesLayer(LayerView):
    layer = "cases"

    @extend_schema(
        operation_id="onemap_cases",
        parameters=[*LIST_PARAMETERS, OPEN, ZOOM, IF_NONE_MATCH],
        responses={200: CASES, 304: NOT_MODIFIED, **refusals(400, 403)},
    )
    def get(self, request: Request) -> HttpResponse:
        """视野内的案件: 点 (编号、状态、紧急程度、超期、类别), 或服务端聚合
        (数量、重心、超期数、各状态大类数)。"""
        zoom = param_int(request.query_params, "zoom", low=0, high=22)
        qs = filter_cases(case_selectors.cases_for(request.user), request.query_params, request.user)
        if param_bool(request.query_params, "open"):
            qs = qs.filter(state__in=OPEN_STATES)
        return self.respond(request, lambda: selectors.case_layer(qs, zoom=zoom))


class CamerasLayer(LayerView):
    @extend_schema(
        operation_id="onemap_cameras",
        parameters=[BBOX, IF_NONE_MATCH],
        responses={200: CAMERAS, 304: NOT_MODIFIED, **refusals(400, 403)},
    )
    def get(self, request: Request) -> HttpResponse:
        """视野内的摄像头: 视频点位 (状态、画面页), 及尚无点位记录的监控电子眼部件 (0121)。"""
        bbox = param_bbox(request.query_params)
        return self.respond(request, lambda: selectors.camera_layer(request.user, bbox))


class AssetsLayer(LayerView):
    @extend_schema(
        operation_id="onemap_assets",
        parameters=[
            BBOX,
            ZOOM,
            OpenApiParameter("category", str, description="部件类别编码 (大类含其小类)"),
            IF_NONE_MATCH,
        ],
        responses={200: ASSETS, 304: NOT_MODIFIED, **refusals(400, 403)},
    )
    def get(self, request: Request) -> HttpResponse:
        """视野内的其他部件: 点或聚合 (数量、重心、非完好数)。"""
        params = request.query_params
        bbox = param_bbox(params)
        zoom = param_int(params, "zoom", low=0, high=22)
        category = param_text(params, "category", max_length=10)
        return self.respond(
            request, lambda: selectors.asset_layer(request.user, bbox, zoom=zoom, category=category)
        )


class UnitsLayer(LayerView):
    @extend_schema(
        operation_id="onemap_units",
        parameters=[IF_NONE_MATCH],
        responses={200: UNITS, 304: NOT_MODIFIED, **refusals(403)},
    )
    def get(self, request: Request) -> HttpResponse:
        """处置力量的最新位置与状态 (在岗/忙碌, 30 分钟内的位置)。"""
        return self.respond(request, lambda: selectors.unit_layer(request.user))


DRONES = geojson("OnemapDrones")
MISSIONS = geojson("OnemapMissions")


class DronesLayer(LayerView):
    @extend_schema(
        operation_id="onemap_drones",
        parameters=[IF_NONE_MATCH],
        responses={200: DRONES, 304: NOT_MODIFIED, **refusals(403)},
    )
    def get(self, request: Request) -> HttpResponse:
        """无人机的最新位置 (30 分钟内; 状态、电量、航向) 与机巢; 实时动态的 drones.position 移动标记。"""
        return self.respond(request, lambda: selectors.drone_layer(request.user))


class MissionsLayer(LayerView):
    @extend_schema(
        operation_id="onemap_missions",
        parameters=[IF_NONE_MATCH],
        responses={200: MISSIONS, 304: NOT_MODIFIED, **refusals(403)},
    )
    def get(self, request: Request) -> HttpResponse:
        """启用的航线任务: 航线 (LineString) 与相机地面覆盖范围, 带任务页地址。"""
        return self.respond(request, lambda: selectors.mission_layer(request.user))


class Search(LayerView):
    @extend_schema(
        operation_id="onemap_search",
        parameters=[
            OpenApiParameter("q", str, required=True, description="案件编号、地址、楼栋, 或人员姓名/身份证号")
        ],
        responses={200: SEARCH, **refusals(400, 403)},
    )
    def get(self, request: Request) -> HttpResponse:
        """按案件编号、地址、楼栋查找; 指挥中心与管理员还可按人员姓名或身份证号查找 (结果脱敏, 查询留痕)。"""
        q = param_text(request.query_params, "q", max_length=100)
        if q is None:
            raise BadRequest("参数 q 不能为空", field="q")
        results = selectors.search(request.user, q)
        response = HttpResponse(
            json.dumps(results, ensure_ascii=False).encode(), content_type="application/json"
        )
        response["Cache-Control"] = "private, no-store"
        return response


urlpatterns = [
    path("grids/", GridsLayer.as_view(), name="onemap-grids"),
    path("cases/", CasesLayer.as_view(), name="onemap-cases"),
    path("cameras/", CamerasLayer.as_view(), name="onemap-cameras"),
    path("assets/", AssetsLayer.as_view(), name="onemap-assets"),
    path("units/", UnitsLayer.as_view(), name="onemap-units"),
    path("drones/", DronesLayer.as_view(), name="onemap-drones"),
    path("missions/", MissionsLayer.as_view(), name="onemap-missions"),
    path("search/", Search.as_view(), name="onemap-search"),
]
