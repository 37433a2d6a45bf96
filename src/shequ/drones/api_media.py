"""Drones API: aerial photos and findings (mounted by shequ.drones.api under /api/drones/;
docs/api.md, "Drones").

Thin: every rule is in `drones.services.photos` and `.findings`, every read through
`drones.selectors`. A role that sees no drone media is refused (403); a photo or finding outside the
caller's grids is not found (404). Images are served as the caller may see them: the original to the
command center, faces and plates blurred to grid workers. An upload answers per file (201 all new,
200 nothing new and nothing refused, 207 some refused, 422 all refused) with the analysis job, whose
progress is at /api/jobs/<id>/.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from django.urls import path
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import DataAndFiles, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shequ.cases.api import param_moment, parse_pk
from shequ.core import api
from shequ.core.api import (
    BadRequest,
    Pagination,
    StrictInput,
    param_choice,
    param_int,
    param_text,
    read_input,
)
from shequ.core.errors import Forbidden, Invalid
from shequ.core.parsers import JSONParser
from shequ.drones import selectors
from shequ.drones.models import Drone, Finding, FindingKind, FindingState, Flight, Photo, PhotoState
from shequ.drones.services import findings, photos
from shequ.grids.selectors import access_grid

MAX_PK = 2**62


REFUSALS = {
    400: "请求格式错误 (字段类型、未知字段、参数)",
    403: "未登录、缺少 CSRF 令牌, 或角色无权查看/操作航拍照片和发现",
    404: "不存在、不在您的数据范围内, 或没有图像",
    409: "发现当前状态不允许此操作 (已转为案件的不能标为误报, 已标为误报的不能确认)",
    413: "请求内容过大",
    415: "内容类型不被接受 (上传须为 multipart/form-data)",
    422: "内容不被接受: 如一次上传的照片过多、类别不存在, 或所有照片都被拒收 (逐个文件说明)",
}


def refusals(*codes: int) -> dict[int, OpenApiResponse]:
    return api.refusals(REFUSALS, *codes)


def _watcher(request: Request) -> Any:
    if not selectors.may_watch(request.user):
        raise Forbidden(_("您的角色无权查看航拍照片和发现"))
    return request.user


def _manager(request: Request) -> Any:
    if not selectors.may_manage(request.user):
        raise Forbidden(_("只有指挥中心坐席和系统管理员可以上传航拍照片"))
    return request.user


def _photo(request: Request, pk: Any) -> Photo:
    photo = selectors.access_photo(_watcher(request), parse_pk(pk))
    if photo is None:
        raise Http404
    return photo


def _finding(request: Request, pk: Any) -> Finding:
    finding = selectors.access_finding(_watcher(request), parse_pk(pk))
    if finding is None:
        raise Http404
    return finding


def _private(response: HttpResponse) -> HttpResponse:
    """Images of people: kept by no cache."""
    patch_cache_control(response, private=True, no_store=True)
    return response


def _image_type(data: bytes) -> str:
    """The content type of a stored photo by its first bytes (the service took any image format
    Pillow reads; a blurred image is always JPEG)."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


# --- the upload's body -----------------------------------------------------------------------------


class CappedUpload(TemporaryFileUploadHandler):
    """Each uploaded file goes to a temporary file up to the photo size limit; past it the rest is
    read and dropped, and the file keeps its true size, so the service refuses it as too big (with
    its size) while the rest of the batch goes on. The disk holds at most the limit per file."""

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.limit = settings.DRONE_PHOTO_MAX_MB * photos.MIB

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) <= self.limit:
            self.file.write(raw_data)
        return None


class PhotoUploadParser(MultiPartParser):
    """multipart/form-data with the files stored by CappedUpload; too many files in one request is
    the service's 422 (the same message), not Django's bare 400."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> DataAndFiles:
        context = parser_context or {}
        request = context["request"]
        encoding = context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = DjangoMultiPartParser(meta, stream, [CappedUpload(request._request)], encoding)
            data, files = parser.parse()
        except TooManyFilesSent:
            raise Invalid(
                _("一次最多上传 %(n)d 张照片") % {"n": settings.DRONE_UPLOAD_MAX_FILES}, field="files"
            ) from None
        except TooManyFieldsSent:
            raise BadRequest(_("表单字段过多")) from None
        except MultiPartParserError as exc:
            raise ParseError(_("multipart 表单格式错误: %(e)s") % {"e": str(exc)[:200]}) from None
        return DataAndFiles(data, files)


class PhotoUploadInput(StrictInput):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),  # an empty file is refused in the report
        allow_empty=False,
        help_text="照片文件, 同一字段名可重复多次 (JPEG/TIFF/PNG, 带 GPS 的 EXIF)",
    )
    flight = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_PK, help_text="架次 id"
    )
    drone = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_PK,
        help_text="无人机 id: 用其登记的相机参数和机巢地面海拔",
    )


def _drone_ref(actor: Any, pk: int | None) -> Drone | None:
    if pk is None:
        return None
    drone = selectors.drones_for(actor).select_related("dock").filter(pk=pk).first()
    if drone is None:
        raise Invalid(_("无人机不存在或不在您的数据范围内"), field="drone")
    return drone


def _flight_ref(actor: Any, pk: int | None) -> Flight | None:
    if pk is None:
        return None
    flight = selectors.flights_for(actor).select_related("drone__dock").filter(pk=pk).first()
    if flight is None:
        raise Invalid(_("架次不存在或不在您的数据范围内"), field="flight")
    return flight


# --- how photos and findings are shown ---------------------------------------------------------


def _grid_code(obj: Photo | Finding) -> str | None:
    return obj.grid.code if obj.grid_id and obj.grid else None


def _grid_name(obj: Photo | Finding) -> str | None:
    return obj.grid.name if obj.grid_id and obj.grid else None


class PhotoSerializer(serializers.ModelSerializer):
    drone_code = serializers.SerializerMethodField()
    grid = serializers.SerializerMethodField(help_text="照片中心所在网格编码")
    grid_name = serializers.SerializerMethodField()
    footprint = serializers.JSONField(help_text="地面覆盖 GeoJSON Polygon (WGS-84)")  # type: ignore[assignment]
    state = serializers.CharField(help_text=" / ".join(f"{s.value} {s.label}" for s in PhotoState))
    state_label = serializers.CharField(source="get_state_display")
    alt_source = serializers.CharField(
        help_text="xmp_relative / gps_minus_ground / gps_assumed_agl / given (docs/drones.md)"
    )
    heading_source = serializers.CharField(
        help_text="xmp_gimbal_yaw / xmp_flight_yaw / exif_img_direction / track / given / 空"
    )
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Photo
        fields = [
            "id",
            "name",
            "flight",
            "drone",
            "drone_code",
            "taken_at",
            "width",
            "height",
            "lon",
            "lat",
            "alt_m",
            "alt_source",
            "heading",
            "heading_source",
            "gimbal_pitch",
            "gimbal_roll",
            "footprint",
            "gsd_cm",
            "grid",
            "grid_name",
            "state",
            "state_label",
            "error",
            "analysed_at",
            "image_url",
            "created_at",
        ]

    def get_drone_code(self, obj: Photo) -> str | None:
        return obj.drone.code if obj.drone_id and obj.drone else None

    def get_grid(self, obj: Photo) -> str | None:
        return _grid_code(obj)

    def get_grid_name(self, obj: Photo) -> str | None:
        return _grid_name(obj)

    def get_image_url(self, obj: Photo) -> str:
        return f"/api/drones/photos/{obj.pk}/image/"


class FindingSerializer(serializers.ModelSerializer):
    photo_name = serializers.CharField(source="photo.name")
    flight = serializers.IntegerField(source="photo.flight_id", allow_null=True)
    taken_at = serializers.DateTimeField(source="photo.taken_at", allow_null=True)
    kind = serializers.CharField(help_text="/".join(FindingKind.values))
    kind_label = serializers.CharField(source="get_kind_display")
    state = serializers.CharField(help_text=" / ".join(f"{s.value} {s.label}" for s in FindingState))
    state_label = serializers.CharField(source="get_state_display")
    box = serializers.ListField(child=serializers.FloatField(), help_text="[x1, y1, x2, y2], 照片宽高的比例")
    grid = serializers.SerializerMethodField(help_text="地面位置所在网格编码")
    grid_name = serializers.SerializerMethodField()
    case_number = serializers.SerializerMethodField()
    handled_by_name = serializers.SerializerMethodField()
    crop_url = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "id",
            "photo",
            "photo_name",
            "flight",
            "taken_at",
            "kind",
            "kind_label",
            "label",
            "count",
            "confidence",
            "box",
            "lon",
            "lat",
            "grid",
            "grid_name",
            "compared_with",
            "category_code",
            "state",
            "state_label",
            "case",
            "case_number",
            "handled_by_name",
            "handled_at",
            "dismiss_reason",
            "crop_url",
            "created_at",
        ]

    def get_grid(self, obj: Finding) -> str | None:
        return _grid_code(obj)

    def get_grid_name(self, obj: Finding) -> str | None:
        return _grid_name(obj)

    def get_case_number(self, obj: Finding) -> str | None:
        return obj.case.number if obj.case_id and obj.case else None

    def get_handled_by_name(self, obj: Finding) -> str | None:
        user = obj.handled_by
        return (user.display_name or user.get_username()) if obj.handled_by_id and user else None

    def get_crop_url(self, obj: Finding) -> str | None:
        return f"/api/drones/findings/{obj.pk}/crop/" if obj.crop else None


class PhotoDetailSerializer(PhotoSerializer):
    findings = serializers.SerializerMethodField(help_text="该照片上您范围内的发现")

    class Meta(PhotoSerializer.Meta):
        fields = [*PhotoSerializer.Meta.fields, "findings"]

    def get_findings(self, obj: Photo) -> list[dict[str, Any]]:
        request = self.context["request"]
        rows = (
            selectors.findings_for(request.user)
            .filter(photo=obj)
            .select_related(*FINDING_RELATED)
            .order_by("pk")
        )
        return list(FindingSerializer(rows, many=True).data)


class FileResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["ok", "duplicate", "rejected"])
    photo = serializers.IntegerField(required=False, help_text="新照片, 或已存在的同一照片")
    field = serializers.CharField(required=False, help_text="拒收原因所在: photo/gps/altitude/camera/...")
    message = serializers.CharField(required=False, help_text="拒收原因 (含文件名)")


class UploadReportSerializer(serializers.Serializer):
    ok = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    job = serializers.IntegerField(allow_null=True, help_text="新照片的分析任务")
    job_url = serializers.CharField(allow_null=True, help_text="GET 查看分析进度")
    files = FileResultSerializer(many=True, help_text="逐个文件, 顺序同上传")


class DroneCaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    state = serializers.CharField()


class FindingConfirmedSerializer(serializers.Serializer):
    finding = FindingSerializer()
    case = DroneCaseRefSerializer()


class FindingConfirmInput(StrictInput):
    category = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text='案件类别编码 (小类, 如 "0501" 或 "event:0501"); 默认按发现类型',
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class FindingDismissInput(StrictInput):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)


# --- photos -------------------------------------------------------------------------------------

PHOTO_FILTERS = [
    OpenApiParameter("flight", int, description="架次 id"),
    OpenApiParameter("grid", str, description="网格编码: 该网格及其下级"),
    OpenApiParameter("state", str, enum=PhotoState.values),
    OpenApiParameter("since", str, description="拍摄时间不早于: 日期 (YYYY-MM-DD) 或 ISO 8601 时间"),
    OpenApiParameter("until", str, description="拍摄时间早于: 日期 (含当天) 或 ISO 8601 时间"),
]


def filter_photos(qs: QuerySet[Photo], request: Request) -> QuerySet[Photo]:
    params = request.query_params
    if (flight := param_int(params, "flight", low=1, high=MAX_PK)) is not None:
        qs = qs.filter(flight_id=flight)
    if code := param_text(params, "grid", max_length=40):
        grid = access_grid(request.user, code)
        qs = qs.none() if grid is None else qs.filter(grid__path__startswith=grid.path)
    if state := param_choice(params, "state", PhotoState.values):
        qs = qs.filter(state=state)
    if (since := param_moment(params, "since")) is not None:
        qs = qs.filter(taken_at__gte=since)
    if (until := param_moment(params, "until", end_of_day=True)) is not None:
        qs = qs.filter(taken_at__lt=until)  # a date: the whole day, up to the next midnight
    return qs


class PhotosView(GenericAPIView):
    parser_classes = [PhotoUploadParser]
    pagination_class = Pagination
    serializer_class = PhotoSerializer
    queryset = Photo.objects.none()  # for the schema; reads go through the selectors

    @extend_schema(
        parameters=PHOTO_FILTERS, responses={200: PhotoSerializer(many=True), **refusals(400, 403)}
    )
    def get(self, request: Request) -> Response:
        """航拍照片列表 (in my scope), newest taken first."""
        qs = (
            selectors.photos_for(_watcher(request))
            .select_related("drone", "grid")
            .order_by("-taken_at", "-pk")
        )
        page = self.paginate_queryset(filter_photos(qs, request))
        return self.get_paginated_response(PhotoSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": PhotoUploadInput},
        responses={
            201: OpenApiResponse(UploadReportSerializer, description="全部为新照片"),
            200: OpenApiResponse(UploadReportSerializer, description="没有新照片被拒收: 有重复的"),
            207: OpenApiResponse(UploadReportSerializer, description="部分拒收: files 逐个说明"),
            422: OpenApiResponse(
                UploadReportSerializer, description="全部拒收 (files 逐个说明), 或照片过多/无人机、架次不存在"
            ),
            **refusals(400, 403, 413, 415),
        },
    )
    def post(self, request: Request) -> Response:
        """上传航拍照片 (many files under `files`): each is judged on its own and the report says
        what became of it; the new photos are analysed by a job (GET `job_url` for its progress)."""
        actor = _manager(request)
        data = read_input(PhotoUploadInput, request).validated_data
        flight = _flight_ref(actor, data.get("flight"))
        drone = _drone_ref(actor, data.get("drone"))
        files = [(upload.name, upload) for upload in data["files"]]
        report = photos.ingest_photos(actor=actor, files=files, flight=flight, drone=drone)
        body = report.as_dict()
        body["job_url"] = f"/api/jobs/{report.job}/" if report.job is not None else None
        return Response(UploadReportSerializer(body).data, status=photos.upload_status(report))


class PhotoView(APIView):
    @extend_schema(responses={200: PhotoDetailSerializer, **refusals(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        """一张航拍照片: position, pose, ground footprint and its findings (in my scope)."""
        photo = _photo(request, pk)
        return Response(PhotoDetailSerializer(photo, context={"request": request}).data)


IMAGE: dict[Any, Any] = {
    (200, "image/jpeg"): OpenApiTypes.BINARY,
    (200, "image/png"): OpenApiTypes.BINARY,
    (200, "image/tiff"): OpenApiTypes.BINARY,
    **refusals(403, 404),
}


class PhotoImageView(APIView):
    @extend_schema(responses=IMAGE)
    def get(self, request: Request, pk: Any) -> HttpResponse:
        """The photo: as taken to the command center, faces and plates blurred (JPEG) to grid
        workers; 404 when its file is gone."""
        photo = _photo(request, pk)
        data = selectors.photo_image_for(request.user, photo)
        if data is None:
            raise Http404
        return _private(HttpResponse(data, content_type=_image_type(data)))


# --- findings -----------------------------------------------------------------------------------

FINDING_FILTERS = [
    OpenApiParameter("state", str, enum=FindingState.values),
    OpenApiParameter("kind", str, enum=FindingKind.values),
    OpenApiParameter("grid", str, description="网格编码: 该网格及其下级"),
    OpenApiParameter("flight", int, description="架次 id"),
    OpenApiParameter("photo", int, description="照片 id"),
]
FINDING_RELATED = ("photo", "grid", "case", "handled_by")


def filter_findings(qs: QuerySet[Finding], request: Request) -> QuerySet[Finding]:
    params = request.query_params
    if state := param_choice(params, "state", FindingState.values):
        qs = qs.filter(state=state)
    if kind := param_choice(params, "kind", FindingKind.values):
        qs = qs.filter(kind=kind)
    if code := param_text(params, "grid", max_length=40):
        grid = access_grid(request.user, code)
        qs = qs.none() if grid is None else qs.filter(grid__path__startswith=grid.path)
    if (flight := param_int(params, "flight", low=1, high=MAX_PK)) is not None:
        qs = qs.filter(photo__flight_id=flight)
    if (photo := param_int(params, "photo", low=1, high=MAX_PK)) is not None:
        qs = qs.filter(photo_id=photo)
    return qs


class FindingsView(GenericAPIView):
    pagination_class = Pagination
    serializer_class = FindingSerializer
    queryset = Finding.objects.none()

    @extend_schema(
        parameters=FINDING_FILTERS, responses={200: FindingSerializer(many=True), **refusals(400, 403)}
    )
    def get(self, request: Request) -> Response:
        """航拍发现列表 (in my scope), newest first."""
        qs = (
            selectors.findings_for(_watcher(request))
            .select_related(*FINDING_RELATED)
            .order_by("-created_at", "-pk")
        )
        page = self.paginate_queryset(filter_findings(qs, request))
        return self.get_paginated_response(FindingSerializer(page, many=True).data)


class FindingView(APIView):
    @extend_schema(responses={200: FindingSerializer, **refusals(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        """一条航拍发现."""
        return Response(FindingSerializer(_finding(request, pk)).data)


class FindingCropView(APIView):
    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY, **refusals(403, 404)})
    def get(self, request: Request, pk: Any) -> HttpResponse:
        """The finding's crop (blurred outside the command center); 404 when there is none."""
        data = selectors.crop_for(request.user, _finding(request, pk))
        if data is None:
            raise Http404
        return _private(HttpResponse(data, content_type="image/jpeg"))


def _category(code: str) -> Any:
    if not code:
        return None
    category = findings.resolve_category(code)
    if category is None:
        raise Invalid(_("类别不存在或已停用"), field="category")
    return category


class FindingConfirmView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=FindingConfirmInput,
        responses={
            201: OpenApiResponse(FindingConfirmedSerializer, description="已确认, 新立的案件"),
            200: OpenApiResponse(FindingConfirmedSerializer, description="已是案件 (重复确认): 原案件"),
            **refusals(400, 403, 404, 409, 422),
        },
    )
    def post(self, request: Request, pk: Any) -> Response:
        """确认发现: it becomes a case (source drone, the finding's point, its crop blurred as
        evidence). Confirming again returns the same case; a dismissed finding is a 409."""
        data = read_input(FindingConfirmInput, request).validated_data
        category = _category(data.get("category", ""))
        finding = _finding(request, pk)
        created = finding.case_id is None
        case = findings.confirm_finding(
            finding, actor=request.user, category=category, description=data.get("description", "")
        )
        body = {
            "finding": _finding(request, pk),
            "case": {"id": case.pk, "number": case.number, "state": case.state},
        }
        return Response(FindingConfirmedSerializer(body).data, status=201 if created else 200)


class FindingDismissView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=FindingDismissInput, responses={200: FindingSerializer, **refusals(400, 403, 404, 409, 422)}
    )
    def post(self, request: Request, pk: Any) -> Response:
        """误报: dismissing again changes nothing; a finding that became a case is a 409."""
        data = read_input(FindingDismissInput, request).validated_data
        findings.dismiss_finding(_finding(request, pk), actor=request.user, reason=data.get("reason", ""))
        return Response(FindingSerializer(_finding(request, pk)).data)


urlpatterns = [
    path("photos/", PhotosView.as_view(), name="api-drone-photos"),
    path("photos/<str:pk>/", PhotoView.as_view(), name="api-drone-photo"),
    path("photos/<str:pk>/image/", PhotoImageView.as_view(), name="api-drone-photo-image"),
    path("findings/", FindingsView.as_view(), name="api-drone-findings"),
    path("findings/<str:pk>/", FindingView.as_view(), name="api-drone-finding"),
    path("findings/<str:pk>/crop/", FindingCropView.as_view(), name="api-drone-finding-crop"),
    path("findings/<str:pk>/confirm/", FindingConfirmView.as_view(), name="api-drone-finding-confirm"),
    path("findings/<str:pk>/dismiss/", FindingDismissView.as_view(), name="api-drone-finding-dismiss"),
]
