"""Drones API: missions (航线任务), mounted by shequ.drones.api under /api/drones/ (docs/api.md,
"Drones").

Thin: every rule is in `drones.services.missions`, every read through `drones.selectors`. Those who
may watch drones read missions in their scope; administrators and command operators plan, change,
import and schedule them. A mission out of scope is not found (404). Routes and coverage are
GeoJSON (WGS-84); the `.plan` and `.waypoints` downloads are the files a ground station loads.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shequ.cases.api import parse_pk
from shequ.core import api
from shequ.core.api import BadRequest, Pagination, StrictInput, param_choice, param_text, read_input
from shequ.core.errors import Forbidden
from shequ.core.parsers import JSONParser
from shequ.drones import selectors
from shequ.drones.models import Mission, Pattern, Repeat
from shequ.drones.services import missions as services
from shequ.grids.selectors import access_grid
from shequ_vision import missionfile

MAX_PLAN_BYTES = missionfile.MAX_FILE_BYTES


REFUSALS = {
    400: "请求格式错误 (字段类型、未知字段、参数)",
    403: "未登录、缺少 CSRF 令牌, 或角色无权查看/规划航线",
    404: "不存在或不在您的数据范围内",
    409: "编号已存在, 或航线已有飞行架次不能删除",
    413: "文件过大",
    422: "内容不被接受: errors 逐项列出被拒绝的字段 (如 altitude_m 超过限高)",
}


def refusals(*codes: int) -> dict[int, OpenApiResponse]:
    return api.refusals(REFUSALS, *codes)


def _watcher(request: Request) -> Any:
    if not selectors.may_watch(request.user):
        raise Forbidden("您的角色无权查看无人机航线")
    return request.user


def _manager(request: Request) -> Any:
    if not selectors.may_manage(request.user):
        raise Forbidden("只有指挥中心坐席和系统管理员可以规划航线")
    return request.user


def _mission(request: Request, pk: Any) -> Mission:
    mission = selectors.missions_for(_watcher(request)).filter(pk=parse_pk(pk)).first()
    if mission is None:
        raise Http404
    return mission


def routegeojson(route: list[list[float]]) -> dict[str, Any] | None:
    """The route as a GeoJSON LineString ([lon, lat, alt] positions)."""
    if not route:
        return None
    if len(route) == 1:
        return {"type": "Point", "coordinates": route[0]}
    return {"type": "LineString", "coordinates": route}


# --- how missions are shown ---------------------------------------------------------------------


class MissionSerializer(serializers.ModelSerializer):
    pattern = serializers.CharField(help_text=" / ".join(f"{p.value} {p.label}" for p in Pattern))
    pattern_label = serializers.CharField(source="get_pattern_display")
    grids = serializers.SerializerMethodField(help_text="网格编码")
    drone = serializers.SerializerMethodField(help_text="无人机编号")
    dock = serializers.SerializerMethodField(help_text="机巢编号")
    repeat = serializers.CharField(help_text="/".join(Repeat.values))
    repeat_time = serializers.TimeField(format="%H:%M", allow_null=True, help_text="北京时间")
    repeat_weekdays = serializers.ListField(child=serializers.IntegerField(), help_text="1–7, 1 为周一")
    flights = serializers.SerializerMethodField(help_text="飞行架次数")

    class Meta:
        model = Mission
        fields = [
            "id",
            "code",
            "name",
            "pattern",
            "pattern_label",
            "grids",
            "drone",
            "dock",
            "altitude_m",
            "front_overlap",
            "side_overlap",
            "angle_deg",
            "speed_m_s",
            "photo_spacing_m",
            "length_m",
            "duration_s",
            "photo_count",
            "repeat",
            "repeat_time",
            "repeat_weekdays",
            "next_run_at",
            "is_active",
            "flights",
            "source",
            "source_id",
            "created_at",
            "updated_at",
        ]

    def get_grids(self, obj: Mission) -> list[str]:
        return [g.code for g in obj.grids.all()]

    def get_drone(self, obj: Mission) -> str | None:
        return obj.drone.code if obj.drone_id and obj.drone else None

    def get_dock(self, obj: Mission) -> str | None:
        return obj.dock.code if obj.dock_id and obj.dock else None

    def get_flights(self, obj: Mission) -> int:
        return obj.flights.count()


class MissionDetailSerializer(MissionSerializer):
    route = serializers.SerializerMethodField(
        help_text="航线: GeoJSON LineString, 坐标 [经度, 纬度, 相对高度]"
    )
    coverage = serializers.JSONField(help_text="相机覆盖范围: GeoJSON")  # type: ignore[assignment]

    class Meta(MissionSerializer.Meta):
        fields = [*MissionSerializer.Meta.fields, "route", "coverage"]

    def get_route(self, obj: Mission) -> dict[str, Any] | None:
        return routegeojson(obj.route)


class PreviewSerializer(serializers.Serializer):
    route = serializers.JSONField(help_text="GeoJSON LineString")
    coverage = serializers.JSONField(help_text="GeoJSON")
    summary = serializers.JSONField(
        help_text="lines, waypoints, photo_count, photo_spacing_m, line_spacing_m, length_m, "
        "duration_s, angle_deg"
    )
    coverage_share = serializers.FloatField(allow_null=True, help_text="所选网格被覆盖的比例 0–1")


# --- what a client sends ------------------------------------------------------------------------


class MissionInput(StrictInput):
    code = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=100)
    pattern = serializers.CharField(max_length=12, help_text="survey / perimeter / waypoints")
    grids = serializers.ListField(child=serializers.CharField(max_length=20), required=False, max_length=200)
    altitude_m = serializers.FloatField(required=False, help_text="米, 相对起飞点; 不超过限高 (默认 120)")
    front_overlap = serializers.FloatField(required=False, help_text="0–0.95, 默认 0.7")
    side_overlap = serializers.FloatField(required=False, help_text="0–0.95, 默认 0.6")
    angle_deg = serializers.FloatField(
        required=False, allow_null=True, help_text="航线方向, 正北为 0 顺时针; 空: 沿最长边"
    )
    speed_m_s = serializers.FloatField(required=False)
    drone = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=40)
    dock = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=40)
    waypoints = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=3),
        required=False,
        allow_null=True,
        max_length=5000,
        help_text="[[经度, 纬度(, 高度)], ...] (自定航点)",
    )
    is_active = serializers.BooleanField(required=False)


class MissionPatchInput(MissionInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class PreviewInput(MissionInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].required = False
        self.fields["name"].required = False


class ScheduleInput(StrictInput):
    repeat = serializers.CharField(max_length=8, help_text="none / daily / weekly")
    time = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=8, help_text="HH:MM 北京时间"
    )
    weekdays = serializers.ListField(
        child=serializers.IntegerField(), required=False, allow_null=True, max_length=7
    )


class ImportInput(StrictInput):
    file = serializers.FileField(help_text="QGroundControl .plan 或 .waypoints (QGC WPL 110)")
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    code = serializers.CharField(required=False, allow_blank=True, max_length=40)
    drone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    dock = serializers.CharField(required=False, allow_blank=True, max_length=40)
    grids = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="网格编码, 逗号分隔"
    )


class ImportJSONInput(StrictInput):
    plan = serializers.JSONField(required=False, help_text=".plan 文件的内容 (JSON 对象)")
    text = serializers.CharField(required=False, max_length=MAX_PLAN_BYTES, help_text=".waypoints 文件的文本")
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    code = serializers.CharField(required=False, allow_blank=True, max_length=40)
    drone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    dock = serializers.CharField(required=False, allow_blank=True, max_length=40)
    grids = serializers.ListField(child=serializers.CharField(max_length=20), required=False, max_length=200)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if ("plan" in attrs) == ("text" in attrs):
            raise serializers.ValidationError("请给出 plan (.plan 的 JSON) 或 text (.waypoints 文本) 之一")
        return attrs


# --- missions -----------------------------------------------------------------------------------

MISSION_FILTERS = [
    OpenApiParameter("q", str, description="编号或名称包含的文字"),
    OpenApiParameter("grid", str, description="网格编码: 经过该网格及其下级的航线"),
    OpenApiParameter("pattern", str, enum=Pattern.values),
    OpenApiParameter("repeat", str, enum=Repeat.values),
]


def filter_missions(qs: QuerySet[Mission], request: Request) -> QuerySet[Mission]:
    params = request.query_params
    if q := param_text(params, "q", max_length=100):
        qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q))
    if code := param_text(params, "grid", max_length=40):
        grid = access_grid(request.user, code)
        if grid is None:
            return qs.none()
        qs = qs.filter(pk__in=Mission.objects.filter(grids__path__startswith=grid.path).values("pk"))
    if pattern := param_choice(params, "pattern", Pattern.values):
        qs = qs.filter(pattern=pattern)
    if repeat := param_choice(params, "repeat", Repeat.values):
        qs = qs.filter(repeat=repeat)
    return qs


class MissionsView(GenericAPIView):
    parser_classes = [JSONParser]
    pagination_class = Pagination
    serializer_class = MissionSerializer
    queryset = Mission.objects.none()

    @extend_schema(
        parameters=MISSION_FILTERS, responses={200: MissionSerializer(many=True), **refusals(400, 403)}
    )
    def get(self, request: Request) -> Response:
        """航线列表 (in my scope), by code."""
        qs = (
            selectors.missions_for(_watcher(request))
            .select_related("drone", "dock")
            .prefetch_related("grids")
            .order_by("code")
        )
        page = self.paginate_queryset(filter_missions(qs, request))
        return self.get_paginated_response(MissionSerializer(page, many=True).data)

    @extend_schema(
        request=MissionInput, responses={201: MissionDetailSerializer, **refusals(400, 403, 409, 422)}
    )
    def post(self, request: Request) -> Response:
        """规划航线: the route, coverage, length, time and photo count are computed and saved."""
        actor = _manager(request)
        data = read_input(MissionInput, request).validated_data
        mission = services.plan_mission(actor=actor, **data)
        return Response(MissionDetailSerializer(mission).data, status=201)


class MissionPreviewView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(request=PreviewInput, responses={200: PreviewSerializer, **refusals(400, 403, 422)})
    def post(self, request: Request) -> Response:
        """Plan without saving: the route and coverage to draw, and what it amounts to."""
        actor = _manager(request)
        data = read_input(PreviewInput, request).validated_data
        data = {k: v for k, v in data.items() if k not in ("code", "name", "is_active")}
        route, values = services.preview_mission(actor=actor, **data)
        share = None
        if values.get("grids"):
            share = round(services.coverage_share(route.coverage, services.grid_area(values["grids"])), 4)
        body = {
            "route": routegeojson([list(p) for p in route.waypoints]),
            "coverage": services.geojson(route.coverage),
            "summary": services.summary(route),
            "coverage_share": share,
        }
        return Response(PreviewSerializer(body).data)


class MissionView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: MissionDetailSerializer, **refusals(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        """一条航线, with its route and coverage (GeoJSON)."""
        return Response(MissionDetailSerializer(_mission(request, pk)).data)

    @extend_schema(
        request=MissionPatchInput,
        responses={200: MissionDetailSerializer, **refusals(400, 403, 404, 409, 422)},
    )
    def patch(self, request: Request, pk: Any) -> Response:
        """修改航线: only the fields sent change; a change to the route's inputs plans it again."""
        actor = _manager(request)
        data = read_input(MissionPatchInput, request).validated_data
        mission = services.update_mission(_mission(request, pk), actor=actor, **data)
        return Response(MissionDetailSerializer(mission).data)

    @extend_schema(responses={204: None, **refusals(403, 404, 409)})
    def delete(self, request: Request, pk: Any) -> Response:
        """删除航线 never flown; one with flights answers 409 (deactivate it instead)."""
        actor = _manager(request)
        services.delete_mission(_mission(request, pk), actor=actor)
        return Response(status=204)


def _filename(mission: Mission, suffix: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", mission.code) or f"mission-{mission.pk}"
    return f"{stem}{suffix}"


def _attachment(body: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class MissionPlanFileView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("firmware", str, enum=list(missionfile.FIRMWARE), description="默认 px4")
        ],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, **refusals(400, 403, 404, 422)},
    )
    def get(self, request: Request, pk: Any) -> HttpResponse:
        """The mission as a QGroundControl `.plan` file (download)."""
        mission = _mission(request, pk)
        firmware = param_choice(request.query_params, "firmware", tuple(missionfile.FIRMWARE)) or "px4"
        plan = services.export_plan(mission, firmware=firmware)
        body = json.dumps(plan, indent=4, ensure_ascii=False)
        return _attachment(body, "application/json", _filename(mission, ".plan"))


class MissionWaypointsFileView(APIView):
    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR, **refusals(403, 404, 422)})
    def get(self, request: Request, pk: Any) -> HttpResponse:
        """The mission as a MAVLink waypoint file (`QGC WPL 110`, download)."""
        mission = _mission(request, pk)
        text = services.export_waypoints(mission)
        return _attachment(text, "text/plain; charset=utf-8", _filename(mission, ".waypoints"))


class MissionScheduleView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=ScheduleInput, responses={200: MissionDetailSerializer, **refusals(400, 403, 404, 422)}
    )
    def put(self, request: Request, pk: Any) -> Response:
        """例行巡查: {"repeat": "daily", "time": "09:30"} or {"repeat": "weekly", "time": ..., "weekdays":
        [1, 3, 5]}; {"repeat": "none"} stops it. Times are Beijing time."""
        actor = _manager(request)
        data = read_input(ScheduleInput, request).validated_data
        mission = services.set_schedule(
            _mission(request, pk),
            actor=actor,
            repeat=data["repeat"],
            time=data.get("time") or None,
            weekdays=data.get("weekdays"),
        )
        return Response(MissionDetailSerializer(mission).data)

    post = put


class MissionImportView(APIView):
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": ImportInput, "application/json": ImportJSONInput},
        responses={201: MissionDetailSerializer, **refusals(400, 403, 409, 413, 422)},
    )
    def post(self, request: Request) -> Response:
        """导入航线 from a `.plan` or `.waypoints` file (multipart `file`), or JSON {"plan": {...}} /
        {"text": "QGC WPL 110 ..."}. The same file again is the same mission."""
        actor = _manager(request)
        content_type = request.content_type or ""
        if content_type.startswith("multipart/"):
            data = read_input(ImportInput, request).validated_data
            upload = data["file"]
            if upload.size is not None and upload.size > MAX_PLAN_BYTES:
                raise BadRequest(f"文件过大 (最多 {MAX_PLAN_BYTES // (1024 * 1024)} MB)", field="file")
            raw: bytes | str = upload.read()
            filename = upload.name or ""
            grids: Any = [c.strip() for c in (data.get("grids") or "").split(",") if c.strip()]
        else:
            data = read_input(ImportJSONInput, request).validated_data
            if "plan" in data:
                raw = json.dumps(data["plan"], ensure_ascii=False)
                filename = "mission.plan"
            else:
                raw = data["text"]
                filename = "mission.waypoints"
            grids = data.get("grids") or []
        mission = services.import_plan(
            actor=actor,
            data=raw,
            name=data.get("name") or "",
            code=data.get("code") or "",
            filename=filename,
            grids=grids or None,
            drone=data.get("drone") or None,
            dock=data.get("dock") or None,
        )
        return Response(MissionDetailSerializer(mission).data, status=201)


urlpatterns = [
    path("missions/", MissionsView.as_view(), name="api-drone-missions"),
    path("missions/preview/", MissionPreviewView.as_view(), name="api-drone-mission-preview"),
    path("missions/import/", MissionImportView.as_view(), name="api-drone-mission-import"),
    path("missions/<str:pk>/", MissionView.as_view(), name="api-drone-mission"),
    path("missions/<str:pk>/plan", MissionPlanFileView.as_view(), name="api-drone-mission-plan"),
    path(
        "missions/<str:pk>/waypoints", MissionWaypointsFileView.as_view(), name="api-drone-mission-waypoints"
    ),
    path("missions/<str:pk>/schedule/", MissionScheduleView.as_view(), name="api-drone-mission-schedule"),
]
