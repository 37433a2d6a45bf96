"""REST API of cameras and alerts (docs/api.md "Video"), mounted under /api/video/.

Thin: every rule is in `video.services`, every read through `video.selectors`. A role that has no
camera access at all is refused (403); a camera or alert outside the caller's grids is not found
(404). Images are served as the caller may see them: the original to the command center, faces and
plates blurred to grid workers; clips to the command center only. Passwords are write-only.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse
from django.urls import path
from django.utils.cache import patch_cache_control
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shequ.cases.api import active_category, param_moment, parse_pk
from shequ.core import api
from shequ.core.api import (
    Pagination,
    StrictInput,
    param_choice,
    param_int,
    param_text,
    read_input,
)
from shequ.core.errors import Forbidden
from shequ.core.parsers import JSONParser
from shequ.grids.selectors import access_grid
from shequ.video import selectors, services
from shequ.video.models import Alert, AlertKind, AlertState, Camera, CameraStatus, Protocol, Vendor
from shequ.video.services import media

try:  # the webhook of external analytics (backend helper C2's module)
    from shequ.video import ingest_api
except ModuleNotFoundError as exc:  # pragma: no cover - only while that module is being written
    if exc.name != "shequ.video.ingest_api":
        raise
    ingest_api = None  # type: ignore[assignment]

MAX_PK = 2**62


REFUSALS = {
    400: "请求格式错误 (字段类型、未知字段、参数)",
    403: "未登录、缺少 CSRF 令牌, 或角色无权查看/操作摄像头",
    404: "不存在、不在您的数据范围内, 或没有图像",
    409: "告警当前状态不允许此操作 (如已转为案件的告警不能标为误报)",
    413: "请求内容过大",
    422: "内容不被接受: errors 逐项列出被拒绝的字段",
}


def refusals(*codes: int) -> dict[int, OpenApiResponse]:
    return api.refusals(REFUSALS, *codes)


def _watcher(request: Request) -> Any:
    if not selectors.may_watch(request.user):
        raise Forbidden("您的角色无权查看摄像头和告警")
    return request.user


def _manager(request: Request) -> Any:
    if not selectors.may_manage(request.user):
        raise Forbidden("只有指挥中心坐席和系统管理员可以登记、修改或导入摄像头")
    return request.user


def _camera(request: Request, pk: Any, *, lock: bool = False) -> Camera:
    camera = selectors.access_camera(_watcher(request), parse_pk(pk), lock=lock)
    if camera is None:
        raise Http404
    return camera


def _alert(request: Request, pk: Any, *, lock: bool = False) -> Alert:
    alert = selectors.access_alert(_watcher(request), parse_pk(pk), lock=lock)
    if alert is None:
        raise Http404
    return alert


def _private(response: HttpResponse) -> HttpResponse:
    """Images of people: kept by no cache."""
    patch_cache_control(response, private=True, no_store=True)
    return response


# --- how cameras and alerts are shown ----------------------------------------------------------


class CameraSerializer(serializers.ModelSerializer):
    """A camera as the caller may see it: stream addresses only to those who manage cameras; the
    username and password never (`has_credentials` says whether they are set)."""

    grid = serializers.SerializerMethodField()
    grid_name = serializers.SerializerMethodField()
    status = serializers.CharField(help_text=" / ".join(f"{s.value} {s.label}" for s in CameraStatus))
    status_label = serializers.CharField(source="get_status_display")
    vendor = serializers.CharField(help_text="/".join(Vendor.values))
    protocol = serializers.CharField(help_text="/".join(Protocol.values))
    main_stream = serializers.SerializerMethodField()
    sub_stream = serializers.SerializerMethodField()
    snapshot_url = serializers.SerializerMethodField()
    has_credentials = serializers.SerializerMethodField()
    has_snapshot = serializers.SerializerMethodField()

    class Meta:
        model = Camera
        fields = [
            "id",
            "code",
            "name",
            "lon",
            "lat",
            "grid",
            "grid_name",
            "address",
            "heading",
            "vendor",
            "protocol",
            "main_stream",
            "sub_stream",
            "snapshot_url",
            "has_credentials",
            "watched",
            "status",
            "status_label",
            "status_since",
            "last_frame_at",
            "last_error",
            "has_snapshot",
            "metrics",
            "source",
            "source_id",
            "created_at",
            "updated_at",
        ]

    def _manages(self) -> bool:
        request = self.context.get("request")
        return bool(request and selectors.may_manage(request.user))

    def get_grid(self, obj: Camera) -> str | None:
        return obj.grid.code if obj.grid_id and obj.grid else None

    def get_grid_name(self, obj: Camera) -> str | None:
        return obj.grid.name if obj.grid_id and obj.grid else None

    def get_main_stream(self, obj: Camera) -> str:
        return obj.main_stream if self._manages() else ""

    def get_sub_stream(self, obj: Camera) -> str:
        return obj.sub_stream if self._manages() else ""

    def get_snapshot_url(self, obj: Camera) -> str:
        return obj.snapshot_url if self._manages() else ""

    def get_has_credentials(self, obj: Camera) -> bool:
        return bool(obj.username or obj.password)

    def get_has_snapshot(self, obj: Camera) -> bool:
        return bool(obj.latest_snapshot)


class CameraDetailSerializer(CameraSerializer):
    false_positives = serializers.SerializerMethodField(help_text="误报数, 按规则 id")
    alert_counts = serializers.SerializerMethodField(help_text="告警数, 按状态")

    class Meta(CameraSerializer.Meta):
        fields = [*CameraSerializer.Meta.fields, "false_positives", "alert_counts"]

    def get_false_positives(self, obj: Camera) -> dict[str, int]:
        return selectors.false_positives(obj)

    def get_alert_counts(self, obj: Camera) -> dict[str, int]:
        return selectors.alert_counts(obj)


class AlertSerializer(serializers.ModelSerializer):
    camera_code = serializers.CharField(source="camera.code")
    camera_name = serializers.CharField(source="camera.name")
    grid = serializers.SerializerMethodField()
    kind = serializers.CharField(help_text="/".join(AlertKind.values))
    kind_label = serializers.CharField(source="get_kind_display")
    origin_label = serializers.CharField(source="get_origin_display")
    state = serializers.CharField(help_text=" / ".join(f"{s.value} {s.label}" for s in AlertState))
    state_label = serializers.CharField(source="get_state_display")
    box = serializers.ListField(child=serializers.FloatField(), help_text="[x1, y1, x2, y2], 图像宽高的比例")
    case_number = serializers.SerializerMethodField()
    handled_by_name = serializers.SerializerMethodField()
    has_snapshot = serializers.SerializerMethodField()
    has_clip = serializers.SerializerMethodField(help_text="短视频仅指挥中心可看")

    class Meta:
        model = Alert
        fields = [
            "id",
            "camera",
            "camera_code",
            "camera_name",
            "grid",
            "kind",
            "kind_label",
            "origin",
            "origin_label",
            "source_id",
            "rule_id",
            "zone_id",
            "zone_name",
            "label",
            "confidence",
            "box",
            "detected_at",
            "description",
            "category_code",
            "state",
            "state_label",
            "case",
            "case_number",
            "handled_by_name",
            "handled_at",
            "dismiss_reason",
            "has_snapshot",
            "has_clip",
            "created_at",
        ]

    def get_grid(self, obj: Alert) -> str | None:
        camera = obj.camera
        return camera.grid.code if camera.grid_id and camera.grid else None

    def get_case_number(self, obj: Alert) -> str | None:
        return obj.case.number if obj.case_id and obj.case else None

    def get_handled_by_name(self, obj: Alert) -> str | None:
        user = obj.handled_by
        return (user.display_name or user.get_username()) if obj.handled_by_id and user else None

    def get_has_snapshot(self, obj: Alert) -> bool:
        return bool(obj.snapshot)

    def get_has_clip(self, obj: Alert) -> bool:
        request = self.context.get("request")
        return bool(obj.clip) and bool(request and selectors.sees_originals(request.user))


class VideoCaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    state = serializers.CharField()


class AlertConfirmedSerializer(serializers.Serializer):
    alert = AlertSerializer()
    case = VideoCaseRefSerializer()


class CameraAnalyticsSerializer(serializers.Serializer):
    analytics = serializers.JSONField(
        help_text="分析规则 (shequ_vision.config.CameraAnalytics, docs/vision.md)"
    )
    false_positives = serializers.DictField(child=serializers.IntegerField(), help_text="误报数, 按规则 id")
    updated_at = serializers.DateTimeField()


class VideoJobRefSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    url = serializers.CharField(help_text="GET 查看进度和逐行报告")


# --- what a client sends ------------------------------------------------------------------------


class CameraInput(StrictInput):
    code = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=100)
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    heading = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=359)
    vendor = serializers.CharField(required=False, max_length=12, help_text="/".join(Vendor.values))
    protocol = serializers.CharField(required=False, max_length=10, help_text="/".join(Protocol.values))
    main_stream = serializers.CharField(required=False, allow_blank=True, max_length=500)
    sub_stream = serializers.CharField(required=False, allow_blank=True, max_length=500)
    snapshot_url = serializers.CharField(required=False, allow_blank=True, max_length=500)
    username = serializers.CharField(required=False, allow_blank=True, max_length=100, write_only=True)
    password = serializers.CharField(required=False, allow_blank=True, max_length=200, write_only=True)
    watched = serializers.BooleanField(required=False)
    source = serializers.CharField(required=False, allow_blank=True, max_length=40)  # type: ignore[assignment]
    source_id = serializers.CharField(required=False, allow_blank=True, max_length=120)

    def validate_lon(self, value: float) -> float:
        return _finite(value)

    def validate_lat(self, value: float) -> float:
        return _finite(value)


def _finite(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise serializers.ValidationError("应为有限的数")
    return value


class CameraPatchInput(CameraInput):
    """The fields to change; absent ones stay. An empty password clears it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class AlertConfirmInput(StrictInput):
    category = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_PK,
        help_text="案件类别 id (小类); 默认按告警",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class AlertDismissInput(StrictInput):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)
    ignore_similar = serializers.BooleanField(
        required=False, default=False, help_text="把该告警的目标框加入规则的忽略列表"
    )


class CameraImportInput(StrictInput):
    file = serializers.FileField(help_text="Excel (.xlsx) 或 CSV, 列见 docs/video.md")


# --- cameras ------------------------------------------------------------------------------------

CAMERA_FILTERS = [
    OpenApiParameter("q", str, description="编号、名称或地址包含的文字"),
    OpenApiParameter("grid", str, description="网格编码: 该网格及其下级"),
    OpenApiParameter("status", str, enum=CameraStatus.values),
    OpenApiParameter("watched", str, enum=["true", "false"], description="是否接入分析"),
]


def filter_cameras(qs: QuerySet[Camera], request: Request) -> QuerySet[Camera]:
    params = request.query_params
    if q := param_text(params, "q", max_length=100):
        qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q) | Q(address__icontains=q))
    if code := param_text(params, "grid", max_length=40):
        grid = access_grid(request.user, code)
        qs = qs.none() if grid is None else qs.filter(grid__path__startswith=grid.path)
    if status := param_choice(params, "status", CameraStatus.values):
        qs = qs.filter(status=status)
    if (watched := param_choice(params, "watched", ("true", "false"))) is not None:
        qs = qs.filter(watched=watched == "true")
    return qs


class CamerasView(GenericAPIView):
    parser_classes = [JSONParser]
    pagination_class = Pagination
    serializer_class = CameraSerializer
    queryset = Camera.objects.none()  # for the schema; reads go through the selectors

    @extend_schema(
        parameters=CAMERA_FILTERS, responses={200: CameraSerializer(many=True), **refusals(400, 403)}
    )
    def get(self, request: Request) -> Response:
        """摄像头列表 (in my scope), by code."""
        qs = selectors.cameras_for(_watcher(request)).select_related("grid").order_by("code")
        page = self.paginate_queryset(filter_cameras(qs, request))
        return self.get_paginated_response(
            CameraSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request=CameraInput,
        responses={201: CameraDetailSerializer, **refusals(400, 403, 409, 422)},
    )
    def post(self, request: Request) -> Response:
        """登记摄像头. The grid comes from the point; the password is stored encrypted, never shown."""
        actor = _manager(request)
        data = read_input(CameraInput, request).validated_data
        camera = services.register_camera(actor=actor, **data)
        return Response(CameraDetailSerializer(camera, context={"request": request}).data, status=201)


class CameraView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: CameraDetailSerializer, **refusals(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        """一个摄像头, with its false positives per rule and alerts per state."""
        camera = _camera(request, pk)
        return Response(CameraDetailSerializer(camera, context={"request": request}).data)

    @extend_schema(
        request=CameraPatchInput, responses={200: CameraDetailSerializer, **refusals(400, 403, 404, 409, 422)}
    )
    def patch(self, request: Request, pk: Any) -> Response:
        """修改摄像头: only the fields sent change."""
        actor = _manager(request)
        data = read_input(CameraPatchInput, request).validated_data
        camera = services.update_camera(_camera(request, pk), actor=actor, **data)
        return Response(CameraDetailSerializer(camera, context={"request": request}).data)


class AnalyticsView(APIView):
    parser_classes = [JSONParser]

    def _shown(self, camera: Camera) -> Response:
        body = {
            "analytics": camera.analytics,
            "false_positives": selectors.false_positives(camera),
            "updated_at": camera.updated_at,
        }
        return Response(CameraAnalyticsSerializer(body).data)

    @extend_schema(responses={200: CameraAnalyticsSerializer, **refusals(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        """A camera's zones and rules (the engine's schema, every default filled in)."""
        return self._shown(_camera(request, pk))

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses={200: CameraAnalyticsSerializer, **refusals(400, 403, 404, 413, 422)},
    )
    def put(self, request: Request, pk: Any) -> Response:
        """Replace a camera's zones and rules; 422 lists every refused field ("rules.0.zone")."""
        actor = _manager(request)
        data: Any = request.data  # any JSON: what is not an object is refused by the service (422)
        camera = services.set_analytics(_camera(request, pk), data, actor=actor)
        return self._shown(camera)


IMAGE: dict[Any, Any] = {(200, "image/jpeg"): OpenApiTypes.BINARY, **refusals(403, 404)}


class CameraSnapshotView(APIView):
    @extend_schema(responses=IMAGE)
    def get(self, request: Request, pk: Any) -> HttpResponse:
        """The camera's latest frame (blurred outside the command center); 404 when there is none."""
        camera = _camera(request, pk)
        data = selectors.snapshot_for(request.user, camera)
        if data is None:
            raise Http404
        return _private(HttpResponse(data, content_type="image/jpeg"))


class CameraImportView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": CameraImportInput},
        responses={202: VideoJobRefSerializer, **refusals(400, 403, 413)},
    )
    def post(self, request: Request) -> Response:
        """导入摄像头 (Excel/CSV) as a job: GET the job for its progress and per-row report."""
        actor = _manager(request)
        upload = read_input(CameraImportInput, request).validated_data["file"]
        job = services.import_cameras(upload, actor=actor, filename=upload.name or "")
        return Response({"job": job.pk, "url": f"/api/jobs/{job.pk}/"}, status=202)


# --- alerts -------------------------------------------------------------------------------------

ALERT_FILTERS = [
    OpenApiParameter("state", str, enum=AlertState.values),
    OpenApiParameter("kind", str, enum=AlertKind.values),
    OpenApiParameter("camera", int, description="摄像头 id"),
    OpenApiParameter("grid", str, description="网格编码: 该网格及其下级"),
    OpenApiParameter("since", str, description="发生时间不早于: 日期 (YYYY-MM-DD) 或 ISO 8601 时间"),
]


def filter_alerts(qs: QuerySet[Alert], request: Request) -> QuerySet[Alert]:
    params = request.query_params
    if state := param_choice(params, "state", AlertState.values):
        qs = qs.filter(state=state)
    if kind := param_choice(params, "kind", AlertKind.values):
        qs = qs.filter(kind=kind)
    if (camera := param_int(params, "camera", low=1, high=MAX_PK)) is not None:
        qs = qs.filter(camera_id=camera)
    if code := param_text(params, "grid", max_length=40):
        grid = access_grid(request.user, code)
        qs = qs.none() if grid is None else qs.filter(camera__grid__path__startswith=grid.path)
    if (since := param_moment(params, "since")) is not None:
        qs = qs.filter(detected_at__gte=since)
    return qs


ALERT_RELATED = ("camera", "camera__grid", "case", "handled_by")


class AlertsView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = AlertSerializer
    queryset = Alert.objects.none()

    @extend_schema(
        parameters=ALERT_FILTERS, responses={200: AlertSerializer(many=True), **refusals(400, 403)}
    )
    def get(self, request: Request) -> Response:
        """告警列表 (in my scope), newest first."""
        qs = (
            selectors.alerts_for(_watcher(request))
            .select_related(*ALERT_RELATED)
            .order_by("-detected_at", "-pk")
        )
        page = self.paginate_queryset(filter_alerts(qs, request))
        return self.get_paginated_response(
            AlertSerializer(page, many=True, context={"request": request}).data
        )


class AlertView(APIView):
    @extend_schema(responses={200: AlertSerializer, **refusals(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        """一条告警."""
        return Response(AlertSerializer(_alert(request, pk), context={"request": request}).data)


class AlertSnapshotView(APIView):
    @extend_schema(responses=IMAGE)
    def get(self, request: Request, pk: Any) -> HttpResponse:
        """The alert's snapshot (box drawn; blurred outside the command center); 404 when none."""
        alert = _alert(request, pk)
        data = selectors.snapshot_for(request.user, alert)
        if data is None:
            raise Http404
        return _private(HttpResponse(data, content_type="image/jpeg"))


class AlertClipView(APIView):
    @extend_schema(
        responses={
            (200, "video/mp4"): OpenApiTypes.BINARY,
            (200, "video/webm"): OpenApiTypes.BINARY,
            **refusals(403, 404),
        }
    )
    def get(self, request: Request, pk: Any) -> HttpResponse:
        """The alert's clip, to the command center only (it cannot be blurred); 404 when none."""
        alert = _alert(request, pk)
        data = selectors.clip_for(request.user, alert)
        if data is None:
            raise Http404
        return _private(HttpResponse(data, content_type=media.clip_content_type(alert.clip.name)))


class AlertConfirmView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=AlertConfirmInput,
        responses={
            201: OpenApiResponse(AlertConfirmedSerializer, description="已确认, 新立的案件"),
            200: OpenApiResponse(
                AlertConfirmedSerializer, description="已是案件 (重复确认或自动立案): 原案件"
            ),
            **refusals(400, 403, 404, 409, 422),
        },
    )
    def post(self, request: Request, pk: Any) -> Response:
        """确认告警: it becomes a case (source camera, the camera's point, the blurred snapshot as
        evidence). Confirming again returns the same case."""
        data = read_input(AlertConfirmInput, request).validated_data
        category = active_category(data.get("category"))
        with transaction.atomic():
            alert = _alert(request, pk, lock=True)
            created = alert.case_id is None
            case = services.confirm_alert(
                alert, actor=request.user, category=category, description=data.get("description", "")
            )
        alert = _alert(request, pk)
        body = {"alert": alert, "case": {"id": case.pk, "number": case.number, "state": case.state}}
        return Response(
            AlertConfirmedSerializer(body, context={"request": request}).data, status=201 if created else 200
        )


class AlertDismissView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=AlertDismissInput, responses={200: AlertSerializer, **refusals(400, 403, 404, 409, 422)}
    )
    def post(self, request: Request, pk: Any) -> Response:
        """误报: record the false positive; `ignore_similar` adds its box to the rule's ignore list.
        Dismissing again changes nothing; an alert that became a case is a 409."""
        data = read_input(AlertDismissInput, request).validated_data
        with transaction.atomic():
            alert = _alert(request, pk, lock=True)
            services.dismiss_alert(
                alert,
                actor=request.user,
                reason=data.get("reason", ""),
                ignore_similar=data["ignore_similar"],
            )
        return Response(AlertSerializer(_alert(request, pk), context={"request": request}).data)


urlpatterns = [
    path("cameras/", CamerasView.as_view(), name="video-cameras"),
    path("cameras/import/", CameraImportView.as_view(), name="video-cameras-import"),
    path("cameras/<str:pk>/", CameraView.as_view(), name="video-camera"),
    path("cameras/<str:pk>/analytics/", AnalyticsView.as_view(), name="video-camera-analytics"),
    path("cameras/<str:pk>/snapshot/", CameraSnapshotView.as_view(), name="video-camera-snapshot"),
    path("alerts/", AlertsView.as_view(), name="video-alerts"),
    path("alerts/<str:pk>/", AlertView.as_view(), name="video-alert"),
    path("alerts/<str:pk>/snapshot/", AlertSnapshotView.as_view(), name="video-alert-snapshot"),
    path("alerts/<str:pk>/clip/", AlertClipView.as_view(), name="video-alert-clip"),
    path("alerts/<str:pk>/confirm/", AlertConfirmView.as_view(), name="video-alert-confirm"),
    path("alerts/<str:pk>/dismiss/", AlertDismissView.as_view(), name="video-alert-dismiss"),
]
if ingest_api is not None:
    urlpatterns.append(path("events/", ingest_api.WebhookView.as_view(), name="video-events"))
