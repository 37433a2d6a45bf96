"""Drones API: the fleet (drones, docks), flights with their track and coverage, and telemetry over
HTTP (mounted by shequ.drones.api under /api/drones/; docs/api.md, "Drones").

Thin: every rule is in `drones.services.fleet` and `.flights`, every read through
`drones.selectors`. A role that sees no drones is refused (403); a drone, dock or flight outside
the caller's grids is not found (404). Refused input is 400 (malformed), 409 (state) or 422 (values;
`errors` lists each refused field), never a 500.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404
from django.urls import path
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shequ.cases.api import parse_pk
from shequ.core import api
from shequ.core.api import BadRequest, Pagination, StrictInput, param_choice, param_text, read_input
from shequ.core.errors import Forbidden, Invalid
from shequ.core.parsers import JSONParser
from shequ.drones import selectors
from shequ.drones.models import Dock, Drone, DroneStatus, Flight, FlightState
from shequ.drones.services import fleet, flights
from shequ.drones.telemetry import record_json

REFUSALS = {
    400: "请求格式错误 (字段类型、未知字段、参数)",
    403: "未登录、缺少 CSRF 令牌, 或角色无权查看/操作无人机",
    404: "不存在, 或不在您的数据范围内",
    409: "当前状态不允许此操作 (如无人机已在飞行、架次已结束、编号已登记)",
    422: "内容不被接受: errors 逐项列出被拒绝的字段",
}


def refusals(*codes: int) -> dict[int, OpenApiResponse]:
    return api.refusals(REFUSALS, *codes)


def _watcher(request: Request) -> Any:
    if not selectors.may_watch(request.user):
        raise Forbidden("您的角色无权查看无人机")
    return request.user


def _manager(request: Request) -> Any:
    if not selectors.may_manage(request.user):
        raise Forbidden("只有指挥中心坐席和系统管理员可以登记无人机、机巢和操作架次")
    return request.user


def _code(raw: Any) -> str:
    text = str(raw)
    if len(text) > 40 or "\x00" in text:
        raise Http404
    return text


def _drone(request: Request, code: Any) -> Drone:
    drone = selectors.drones_for(_watcher(request)).filter(code=_code(code)).first()
    if drone is None:
        raise Http404
    return drone


def _dock(request: Request, code: Any) -> Dock:
    dock = selectors.docks_for(_watcher(request)).filter(code=_code(code)).first()
    if dock is None:
        raise Http404
    return dock


def _flight(request: Request, pk: Any) -> Flight:
    flight = (
        selectors.flights_for(_watcher(request))
        .select_related("drone", "mission")
        .filter(pk=parse_pk(pk))
        .first()
    )
    if flight is None:
        raise Http404
    return flight


# --- how they are shown -------------------------------------------------------------------------


class DockSerializer(serializers.ModelSerializer):
    grids = serializers.SerializerMethodField(help_text="覆盖网格编码")

    class Meta:
        model = Dock
        fields = [
            "id",
            "code",
            "name",
            "lon",
            "lat",
            "elevation_m",
            "range_m",
            "grids",
            "is_active",
            "created_at",
            "updated_at",
        ]

    def get_grids(self, obj: Dock) -> list[str]:
        return sorted(g.code for g in obj.grids.all())


class DroneSerializer(serializers.ModelSerializer):
    dock = serializers.SerializerMethodField()
    status = serializers.CharField(help_text=" / ".join(f"{s.value} {s.label}" for s in DroneStatus))
    status_label = serializers.CharField(source="get_status_display")
    flight = serializers.SerializerMethodField(help_text="飞行中的架次 id")
    camera = serializers.SerializerMethodField(help_text="相机视场角(度)")

    class Meta:
        model = Drone
        fields = [
            "id",
            "code",
            "name",
            "model",
            "serial",
            "dock",
            "mavlink_system_id",
            "sensor_width_mm",
            "sensor_height_mm",
            "focal_length_mm",
            "image_width",
            "image_height",
            "camera",
            "max_flight_minutes",
            "cruise_speed_m_s",
            "status",
            "status_label",
            "flight",
            "lon",
            "lat",
            "alt_m",
            "heading",
            "battery",
            "position_at",
            "is_active",
            "created_at",
            "updated_at",
        ]

    def get_dock(self, obj: Drone) -> str | None:
        return obj.dock.code if obj.dock_id and obj.dock else None

    def get_flight(self, obj: Drone) -> int | None:
        if hasattr(obj, "open_flight"):
            return obj.open_flight  # type: ignore[no-any-return]
        flight = (
            Flight.objects.filter(drone=obj, state=FlightState.FLYING).values_list("pk", flat=True).first()
        )
        return flight

    def get_camera(self, obj: Drone) -> dict[str, float]:
        camera = fleet.camera_of(obj)
        return {"fov_x_deg": round(camera.fov_x_deg, 2), "fov_y_deg": round(camera.fov_y_deg, 2)}


class FlightSerializer(serializers.ModelSerializer):
    drone = serializers.CharField(source="drone.code")
    drone_name = serializers.CharField(source="drone.name")
    mission = serializers.SerializerMethodField()
    mission_name = serializers.SerializerMethodField()
    state = serializers.CharField(help_text=" / ".join(f"{s.value} {s.label}" for s in FlightState))
    state_label = serializers.CharField(source="get_state_display")

    class Meta:
        model = Flight
        fields = [
            "id",
            "drone",
            "drone_name",
            "mission",
            "mission_name",
            "state",
            "state_label",
            "planned_at",
            "started_at",
            "ended_at",
            "distance_m",
            "max_alt_m",
            "note",
            "source",
            "source_id",
            "created_at",
        ]

    def get_mission(self, obj: Flight) -> str | None:
        return obj.mission.code if obj.mission_id and obj.mission else None

    def get_mission_name(self, obj: Flight) -> str | None:
        return obj.mission.name if obj.mission_id and obj.mission else None


class FlightDetailSerializer(FlightSerializer):
    track = serializers.SerializerMethodField(
        help_text="航迹 GeoJSON LineString, 坐标 [经度, 纬度, 相对高度]"
    )
    coverage = serializers.JSONField(help_text="相机看到的地面 (GeoJSON), 降落时计算")  # type: ignore[assignment]
    grid_coverage = serializers.SerializerMethodField(help_text="各网格覆盖率")

    class Meta(FlightSerializer.Meta):
        fields = [*FlightSerializer.Meta.fields, "track", "coverage", "grid_coverage"]

    def get_track(self, obj: Flight) -> dict[str, Any] | None:
        return flights.track_geojson(obj)

    def get_grid_coverage(self, obj: Flight) -> list[dict[str, Any]]:
        rows = obj.grid_coverage.select_related("grid").order_by("grid__code")
        return [
            {
                "grid": r.grid.code,
                "grid_name": r.grid.name,
                "covered_m2": r.covered_m2,
                "share": round(r.share, 4),
            }
            for r in rows
        ]


class TelemetryAnswerSerializer(serializers.Serializer):
    points = serializers.IntegerField(help_text="记入航迹的样本数 (重复的只记一次)")
    skipped = serializers.IntegerField(help_text="不在任何架次内的样本 (地面待命, 或已结束架次的重放)")
    flight = serializers.IntegerField(allow_null=True, help_text="飞行中的架次 id")
    opened = serializers.IntegerField(allow_null=True, help_text="本次起飞的架次 id")
    landed = serializers.IntegerField(allow_null=True, help_text="本次降落的架次 id")


# --- what a client sends ------------------------------------------------------------------------


class DroneInput(StrictInput):
    code = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=100)
    model = serializers.CharField(required=False, allow_blank=True, max_length=60)
    serial = serializers.CharField(required=False, allow_blank=True, max_length=60)
    dock = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=40, help_text="机巢编号"
    )
    mavlink_system_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=255)
    sensor_width_mm = serializers.FloatField()
    sensor_height_mm = serializers.FloatField()
    focal_length_mm = serializers.FloatField(help_text="实际焦距 (非 35 毫米等效)")
    image_width = serializers.IntegerField()
    image_height = serializers.IntegerField()
    max_flight_minutes = serializers.IntegerField(required=False)
    cruise_speed_m_s = serializers.FloatField(required=False)
    status = serializers.CharField(required=False, max_length=12, help_text="idle/maintenance/offline")
    is_active = serializers.BooleanField(required=False)


class DronePatchInput(DroneInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class DockInput(StrictInput):
    code = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=100)
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    elevation_m = serializers.FloatField(required=False, allow_null=True, help_text="地面海拔(米)")
    range_m = serializers.IntegerField(required=False)
    grids = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, max_length=200, help_text="覆盖网格编码"
    )
    is_active = serializers.BooleanField(required=False)


class DockPatchInput(DockInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class FlightStartInput(StrictInput):
    drone = serializers.CharField(max_length=40, help_text="无人机编号")
    mission = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=40)
    source_id = serializers.CharField(required=False, allow_blank=True, max_length=120, help_text="幂等键")


class FlightAbortInput(StrictInput):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)


# --- drones and docks ---------------------------------------------------------------------------


def _drones(request: Request) -> QuerySet[Drone]:
    flying = Flight.objects.filter(drone=OuterRef("pk"), state=FlightState.FLYING).values("pk")[:1]
    return (
        selectors.drones_for(_watcher(request))
        .select_related("dock")
        .annotate(open_flight=Subquery(flying))
        .order_by("code")
    )


class DronesView(GenericAPIView):
    parser_classes = [JSONParser]
    pagination_class = Pagination
    serializer_class = DroneSerializer
    queryset = Drone.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=DroneStatus.values),
            OpenApiParameter("dock", str, description="机巢编号"),
        ],
        responses={200: DroneSerializer(many=True), **refusals(400, 403)},
    )
    def get(self, request: Request) -> Response:
        """无人机列表 (in my scope), by code, with the open flight and last position."""
        qs = _drones(request)
        if status := param_choice(request.query_params, "status", DroneStatus.values):
            qs = qs.filter(status=status)
        if dock := param_text(request.query_params, "dock", max_length=40):
            qs = qs.filter(dock__code=dock)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(DroneSerializer(page, many=True).data)

    @extend_schema(request=DroneInput, responses={201: DroneSerializer, **refusals(400, 403, 409, 422)})
    def post(self, request: Request) -> Response:
        """登记无人机 with its camera; the optics are checked as a whole (field of view, aspect)."""
        actor = _manager(request)
        data = read_input(DroneInput, request).validated_data
        drone = fleet.register_drone(actor=actor, **data)
        return Response(DroneSerializer(drone).data, status=201)


class DroneView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: DroneSerializer, **refusals(403, 404)})
    def get(self, request: Request, code: str) -> Response:
        """一架无人机."""
        return Response(DroneSerializer(_drone(request, code)).data)

    @extend_schema(
        request=DronePatchInput, responses={200: DroneSerializer, **refusals(400, 403, 404, 409, 422)}
    )
    def patch(self, request: Request, code: str) -> Response:
        """修改无人机: only the fields sent change."""
        actor = _manager(request)
        data = read_input(DronePatchInput, request).validated_data
        drone = fleet.update_drone(_drone(request, code), actor=actor, **data)
        return Response(DroneSerializer(drone).data)

    @extend_schema(responses={200: DroneSerializer, **refusals(403, 404, 409)})
    def delete(self, request: Request, code: str) -> Response:
        """停用无人机 (kept with its flights and photos)."""
        actor = _manager(request)
        drone = fleet.deactivate_drone(_drone(request, code), actor=actor)
        return Response(DroneSerializer(drone).data)


class DroneTelemetryView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses={200: TelemetryAnswerSerializer, **refusals(400, 403, 404, 409, 422)},
    )
    def post(self, request: Request, code: str) -> Response:
        """遥测 (HTTP): one sample {"at", "lat", "lon", "alt", ...} or a list of them, for drones a
        ground station relays; the same body as MQTT (docs/drones.md). Replays add nothing."""
        _manager(request)
        drone = _drone(request, code)
        result = record_json(drone, request.data)
        return Response(
            TelemetryAnswerSerializer(
                {
                    "points": result.points,
                    "skipped": result.skipped,
                    "flight": result.flight.pk if result.flight else None,
                    "opened": result.opened.pk if result.opened else None,
                    "landed": result.landed.pk if result.landed else None,
                }
            ).data
        )


class DocksView(GenericAPIView):
    parser_classes = [JSONParser]
    pagination_class = Pagination
    serializer_class = DockSerializer
    queryset = Dock.objects.none()

    @extend_schema(responses={200: DockSerializer(many=True), **refusals(400, 403)})
    def get(self, request: Request) -> Response:
        """机巢列表 (in my scope), by code."""
        qs = selectors.docks_for(_watcher(request)).prefetch_related("grids").order_by("code")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(DockSerializer(page, many=True).data)

    @extend_schema(request=DockInput, responses={201: DockSerializer, **refusals(400, 403, 409, 422)})
    def post(self, request: Request) -> Response:
        """登记机巢 with the grids it covers."""
        actor = _manager(request)
        data = read_input(DockInput, request).validated_data
        dock = fleet.register_dock(actor=actor, **data)
        return Response(DockSerializer(dock).data, status=201)


class DockView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: DockSerializer, **refusals(403, 404)})
    def get(self, request: Request, code: str) -> Response:
        """一个机巢."""
        return Response(DockSerializer(_dock(request, code)).data)

    @extend_schema(
        request=DockPatchInput, responses={200: DockSerializer, **refusals(400, 403, 404, 409, 422)}
    )
    def patch(self, request: Request, code: str) -> Response:
        """修改机巢: only the fields sent change; `grids` replaces the covered grids."""
        actor = _manager(request)
        data = read_input(DockPatchInput, request).validated_data
        dock = fleet.update_dock(_dock(request, code), actor=actor, **data)
        return Response(DockSerializer(dock).data)

    @extend_schema(responses={200: DockSerializer, **refusals(403, 404, 409)})
    def delete(self, request: Request, code: str) -> Response:
        """停用机巢."""
        actor = _manager(request)
        dock = fleet.deactivate_dock(_dock(request, code), actor=actor)
        return Response(DockSerializer(dock).data)


# --- flights ------------------------------------------------------------------------------------

FLIGHT_FILTERS = [
    OpenApiParameter("drone", str, description="无人机编号"),
    OpenApiParameter("mission", str, description="任务编号"),
    OpenApiParameter("state", str, enum=FlightState.values),
    OpenApiParameter("date", str, description="日期 YYYY-MM-DD (北京时间): 当天起飞或计划的架次"),
]


def filter_flights(qs: QuerySet[Flight], request: Request) -> QuerySet[Flight]:
    params = request.query_params
    if drone := param_text(params, "drone", max_length=40):
        qs = qs.filter(drone__code=drone)
    if mission := param_text(params, "mission", max_length=40):
        qs = qs.filter(mission__code=mission)
    if state := param_choice(params, "state", FlightState.values):
        qs = qs.filter(state=state)
    if raw := param_text(params, "date", max_length=10):
        try:
            day = parse_date(raw)
        except ValueError:
            day = None
        if day is None or not 1900 <= day.year <= 9998:
            raise BadRequest("参数 date 应为日期 YYYY-MM-DD", field="date")
        start = dt.datetime.combine(day, dt.time(), ZoneInfo(settings.TIME_ZONE))
        end = start + dt.timedelta(days=1)
        qs = qs.filter(started_at__gte=start, started_at__lt=end) | qs.filter(
            started_at__isnull=True, planned_at__gte=start, planned_at__lt=end
        )
    return qs


class FlightsView(GenericAPIView):
    parser_classes = [JSONParser]
    pagination_class = Pagination
    serializer_class = FlightSerializer
    queryset = Flight.objects.none()

    @extend_schema(
        parameters=FLIGHT_FILTERS, responses={200: FlightSerializer(many=True), **refusals(400, 403)}
    )
    def get(self, request: Request) -> Response:
        """架次列表 (in my scope), newest first."""
        qs = selectors.flights_for(_watcher(request)).select_related("drone", "mission")
        page = self.paginate_queryset(filter_flights(qs, request).order_by("-started_at", "-pk"))
        return self.get_paginated_response(FlightSerializer(page, many=True).data)

    @extend_schema(
        request=FlightStartInput, responses={201: FlightDetailSerializer, **refusals(400, 403, 409, 422)}
    )
    def post(self, request: Request) -> Response:
        """起飞: open a flight of a drone (its planned flight of today if there is one)."""
        actor = _manager(request)
        data = read_input(FlightStartInput, request).validated_data
        drone = selectors.drones_for(actor).filter(code=data["drone"]).first()
        if drone is None:
            raise Invalid(f"无人机 {data['drone'][:40]} 不存在", field="drone")
        mission = None
        if data.get("mission"):
            mission = selectors.missions_for(actor).filter(code=data["mission"]).first()
            if mission is None:
                raise Invalid(f"任务 {data['mission'][:40]} 不存在", field="mission")
        flight = flights.start_flight(
            drone=drone, mission=mission, actor=actor, source_id=data.get("source_id", "")
        )
        return Response(FlightDetailSerializer(flight).data, status=201)


class FlightView(APIView):
    @extend_schema(responses={200: FlightDetailSerializer, **refusals(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        """一个架次 with its track (GeoJSON LineString) and coverage per grid."""
        return Response(FlightDetailSerializer(_flight(request, pk)).data)


class FlightStartView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(request=None, responses={200: FlightDetailSerializer, **refusals(403, 404, 409)})
    def post(self, request: Request, pk: Any) -> Response:
        """起飞一个待执行的架次."""
        actor = _manager(request)
        flight = _flight(request, pk)
        flight = flights.start_flight(drone=flight.drone, mission=flight.mission, actor=actor, planned=flight)
        return Response(FlightDetailSerializer(flight).data)


class FlightLandView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(request=None, responses={200: FlightDetailSerializer, **refusals(403, 404, 409)})
    def post(self, request: Request, pk: Any) -> Response:
        """结束架次 (降落): computes its distance and coverage per grid from the track."""
        actor = _manager(request)
        flight = flights.land_flight(_flight(request, pk), actor=actor)
        return Response(FlightDetailSerializer(flight).data)


class FlightAbortView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=FlightAbortInput, responses={200: FlightDetailSerializer, **refusals(400, 403, 404, 409)}
    )
    def post(self, request: Request, pk: Any) -> Response:
        """中止架次 (a planned one is called off; a flying one ends abnormally)."""
        actor = _manager(request)
        data = read_input(FlightAbortInput, request).validated_data
        flight = flights.abort_flight(_flight(request, pk), actor=actor, reason=data.get("reason", ""))
        return Response(FlightDetailSerializer(flight).data)


urlpatterns = [
    path("drones/", DronesView.as_view(), name="api-drones"),
    path("drones/<str:code>/", DroneView.as_view(), name="api-drone"),
    # The HTTP twin of the MQTT topic shequ/drones/<code>/telemetry.
    path("drones/<str:code>/telemetry/", DroneTelemetryView.as_view(), name="api-drone-telemetry"),
    path("docks/", DocksView.as_view(), name="api-drone-docks"),
    path("docks/<str:code>/", DockView.as_view(), name="api-drone-dock"),
    path("flights/", FlightsView.as_view(), name="api-drone-flights"),
    path("flights/<str:pk>/", FlightView.as_view(), name="api-drone-flight"),
    path("flights/<str:pk>/start/", FlightStartView.as_view(), name="api-drone-flight-start"),
    path("flights/<str:pk>/land/", FlightLandView.as_view(), name="api-drone-flight-land"),
    path("flights/<str:pk>/abort/", FlightAbortView.as_view(), name="api-drone-flight-abort"),
]
