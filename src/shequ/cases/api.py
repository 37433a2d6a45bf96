"""REST endpoints of the case loop, /api/cases/... (docs/api.md, docs/cases.md): thin, every read
through the selectors (data scope), every write one service call with the case row locked.

A case outside the caller's scope answers 404, never 403; an act the caller's role may not do is a
403, and one the case's state does not allow a 409, each with a message naming why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from shequ.accounts.models import Department
from shequ.cases import selectors
from shequ.cases.models import (
    STATE_KIND,
    Case,
    CaseState,
    Category,
    Evidence,
    Extension,
    HistoryEntry,
    LimitUnit,
    Source,
    StateKind,
    Urgency,
)
from shequ.cases.services import intake, workflow
from shequ.cases.services.machine import Action, allowed_actions
from shequ.cases.views import photo_response
from shequ.core import api
from shequ.core.api import (
    BadRequest,
    Pagination,
    StrictInput,
    param_bbox,
    param_choice,
    param_int,
    param_text,
    read_input,
)
from shequ.core.errors import Invalid
from shequ.core.parsers import JSONParser
from shequ.grids.selectors import access_grid

MAX_PK = 2**62
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_MAX = 80  # Case.idempotency_key


def parse_pk(raw: Any) -> int:
    """A path id that is not a sane integer is simply not found."""
    text = str(raw)
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Http404
    return int(text)


def param_bool(params: Mapping[str, str], name: str) -> bool | None:
    value = param_choice(params, name, ("true", "false", "1", "0"))
    return None if value is None else value in {"true", "1"}


def param_moment(params: Mapping[str, str], name: str, *, end_of_day: bool = False) -> dt.datetime | None:
    """A date (YYYY-MM-DD, the whole day in local time) or an ISO 8601 datetime."""
    value = param_text(params, name, max_length=40)
    if value is None:
        return None
    try:
        day = parse_date(value)  # first: a bare date would also parse as midnight
        moment = None if day else parse_datetime(value)
    except ValueError:
        moment = day = None
    # Years at the calendar's edges overflow the next day or the conversion to UTC (a 500).
    when = day or moment
    if when is not None and not 1900 <= when.year <= 9998:
        raise BadRequest(f"参数 {name} 的年份应在 1900 到 9998 之间", field=name)
    if day is not None:
        moment = dt.datetime.combine(day + dt.timedelta(days=1) if end_of_day else day, dt.time())
    if moment is None:
        raise BadRequest(f"参数 {name} 应为日期 (YYYY-MM-DD) 或 ISO 8601 时间", field=name)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


# --- how a case is shown --------------------------------------------------------------------------


REFUSALS = {
    400: "请求格式错误 (字段类型、未知字段、参数)",
    403: "未登录、缺少 CSRF 令牌, 或角色无权执行",
    404: "不存在或不在您的数据范围内",
    409: "案件当前状态不允许此操作",
    413: "请求内容过大",
    422: "内容不被接受 (如照片不是有效图片)",
}


def refusals(*codes: int) -> dict[int, OpenApiResponse]:
    return api.refusals(REFUSALS, *codes)


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class DepartmentRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class CaseSerializer(serializers.ModelSerializer):
    """A case as a list row shows it."""

    source_label = serializers.CharField(source="get_source_display")
    state_label = serializers.CharField(source="get_state_display")
    state_kind = serializers.SerializerMethodField()
    urgency_label = serializers.CharField(source="get_urgency_display")
    category = serializers.SerializerMethodField()
    grid = serializers.SerializerMethodField()
    department = serializers.SerializerMethodField()
    duplicate_of = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "source",
            "source_label",
            "category",
            "title",
            "description",
            "urgency",
            "urgency_label",
            "state",
            "state_label",
            "state_kind",
            "lon",
            "lat",
            "address",
            "grid",
            "department",
            "duplicate_of",
            "stage",
            "due_at",
            "overdue",
            "supervision_level",
            "self_handled",
            "created_at",
            "updated_at",
            "closed_at",
        ]

    def get_state_kind(self, obj: Case) -> str:
        return STATE_KIND[CaseState(obj.state)].value

    @extend_schema_field(CategoryRefSerializer(allow_null=True))
    def get_category(self, obj: Case) -> dict[str, Any] | None:
        c = obj.category
        return {"id": c.pk, "code": c.code, "name": c.name} if c else None

    def get_grid(self, obj: Case) -> str | None:
        return obj.grid.code if obj.grid else None

    @extend_schema_field(DepartmentRefSerializer(allow_null=True))
    def get_department(self, obj: Case) -> dict[str, Any] | None:
        d = obj.department
        return {"code": d.code, "name": d.name} if d else None

    def get_duplicate_of(self, obj: Case) -> int | None:
        return obj.duplicate_of_id

    def get_overdue(self, obj: Case) -> bool:
        return obj.is_overdue(self.context.get("now") or timezone.now())


class EvidenceSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Evidence
        fields = [
            "id",
            "kind",
            "kind_label",
            "url",
            "content_type",
            "size",
            "width",
            "height",
            "taken_at",
            "lon",
            "lat",
            "uploaded_at",
        ]

    def get_url(self, obj: Evidence) -> str:
        # Through the API, never /media/: the photo is shown only to those who may see the case.
        path = reverse("case-photo", kwargs={"pk": obj.case_id, "evidence_id": obj.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class HistoryEntrySerializer(serializers.ModelSerializer):
    action_label = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField()

    class Meta:
        model = HistoryEntry
        fields = [
            "id",
            "at",
            "actor_name",
            "action",
            "action_label",
            "from_state",
            "to_state",
            "reason",
            "detail",
            "evidence",
        ]

    def get_action_label(self, obj: HistoryEntry) -> str:
        try:
            return str(Action(obj.action).label)
        except ValueError:  # an act recorded by a later version of the machine
            return obj.action

    def get_evidence(self, obj: HistoryEntry) -> list[int]:
        return [e.pk for e in obj.attachments.all()]


class ExtensionSerializer(serializers.ModelSerializer):
    unit_label = serializers.CharField(source="get_unit_display")
    decision_label = serializers.CharField(source="get_decision_display")

    class Meta:
        model = Extension
        fields = [
            "id",
            "amount",
            "unit",
            "unit_label",
            "reason",
            "requested_at",
            "decision",
            "decision_label",
            "decided_at",
            "note",
            "old_due_at",
            "new_due_at",
        ]


class ReporterSerializer(serializers.Serializer):
    """The reporter as this caller may see them (selectors.reporter_view)."""

    name = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    account = serializers.IntegerField(allow_null=True)
    confidential = serializers.BooleanField()


class CaseDetailSerializer(CaseSerializer):
    """A case with its reporter (masked or hidden), history, photos, extensions and the acts the
    caller may do now."""

    reporter = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField()
    extensions = ExtensionSerializer(many=True, read_only=True)
    allowed_actions = serializers.SerializerMethodField()
    satisfaction_label = serializers.CharField(source="get_satisfaction_display")

    class Meta(CaseSerializer.Meta):
        fields = [
            *CaseSerializer.Meta.fields,
            "reporter",
            "stage_started_at",
            "handle_due_at",
            "warned_at",
            "overdue_at",
            "filed_at",
            "dispatched_at",
            "accepted_at",
            "handled_at",
            "closed_on_time",
            "dispatch_count",
            "return_count",
            "rework_count",
            "reopen_count",
            "satisfaction",
            "satisfaction_label",
            "satisfaction_note",
            "callback_at",
            "history",
            "evidence",
            "extensions",
            "allowed_actions",
        ]

    @extend_schema_field(ReporterSerializer)
    def get_reporter(self, obj: Case) -> dict[str, Any]:
        return selectors.reporter_view(self.context["request"].user, obj)

    @extend_schema_field(HistoryEntrySerializer(many=True))
    def get_history(self, obj: Case) -> Any:
        entries = selectors.history_for(self.context["request"].user, obj)
        return HistoryEntrySerializer(entries, many=True).data

    @extend_schema_field(EvidenceSerializer(many=True))
    def get_evidence(self, obj: Case) -> Any:
        photos = selectors.photos_for(self.context["request"].user, obj)
        return EvidenceSerializer(photos, many=True, context=self.context).data

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=Action.choices)))
    def get_allowed_actions(self, obj: Case) -> list[str]:
        return [a.value for a in allowed_actions(self.context["request"].user, obj)]


class CategoryTreeSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")
    children = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = ["id", "kind", "kind_label", "code", "name", "urgency", "filing_condition", "children"]

    @extend_schema_field(
        inline_serializer(
            "CategoryLeaf",
            {
                "id": serializers.IntegerField(),
                "kind": serializers.CharField(),
                "code": serializers.CharField(),
                "name": serializers.CharField(),
                "urgency": serializers.CharField(),
                "filing_condition": serializers.CharField(),
                "closing_condition": serializers.CharField(),
            },
            many=True,
        )
    )
    def get_children(self, obj: Category) -> list[dict[str, Any]]:
        return [
            {
                "id": c.pk,
                "kind": c.kind,
                "code": c.code,
                "name": c.name,
                "urgency": c.urgency,
                "filing_condition": c.filing_condition,
                "closing_condition": c.closing_condition,
            }
            for c in obj.children.all()
            if c.is_active
        ]


# --- what a client sends --------------------------------------------------------------------------


def photo_list() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FileField(max_length=200, allow_empty_file=False),
        required=False,
        max_length=intake.MAX_PHOTOS,
    )


class ReportInput(StrictInput):
    source = serializers.ChoiceField(choices=Source.choices, required=False)  # type: ignore[assignment]
    source_id = serializers.CharField(required=False, allow_blank=True, max_length=120)
    category = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_PK)
    title = serializers.CharField(required=False, allow_blank=True, max_length=100)
    description = serializers.CharField(max_length=2000)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, allow_null=True)
    lon = serializers.FloatField(required=False, allow_null=True, min_value=-180, max_value=180)
    lat = serializers.FloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    reporter_name = serializers.CharField(required=False, allow_blank=True, max_length=50)
    reporter_phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    reporter_confidential = serializers.BooleanField(required=False, default=False)
    photos = photo_list()


class OnTheSpotInput(StrictInput):
    category = serializers.IntegerField(min_value=1, max_value=MAX_PK)
    title = serializers.CharField(required=False, allow_blank=True, max_length=100)
    description = serializers.CharField(max_length=2000)
    result = serializers.CharField(max_length=2000)
    lon = serializers.FloatField(required=False, allow_null=True, min_value=-180, max_value=180)
    lat = serializers.FloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    photos = photo_list()
    result_photos = photo_list()


class NoteInput(StrictInput):
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class FileInput(NoteInput):
    category = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_PK)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, allow_null=True)


class RejectInput(StrictInput):
    reason = serializers.ChoiceField(choices=workflow.RejectReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class DispatchInput(StrictInput):
    department = serializers.CharField(max_length=32)
    assignee = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_PK)
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class ReasonInput(StrictInput):
    reason = serializers.CharField(max_length=1000)


class ExtensionInput(StrictInput):
    amount = serializers.IntegerField(min_value=1, max_value=1000)
    unit = serializers.ChoiceField(choices=LimitUnit.choices, required=False, default=LimitUnit.DAYS)
    reason = serializers.CharField(max_length=1000)


class FeedbackInput(StrictInput):
    result = serializers.CharField(max_length=2000)
    photos = photo_list()


class VerifyInput(StrictInput):
    ok = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    photos = photo_list()


class CallbackInput(StrictInput):
    satisfaction = serializers.ChoiceField(choices=Case.Satisfaction.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class MergeInput(NoteInput):
    into = serializers.IntegerField(min_value=1, max_value=MAX_PK)


class SuperviseInput(StrictInput):
    level = serializers.IntegerField(min_value=1, max_value=3)
    reason = serializers.CharField(max_length=200)


class TextInput(StrictInput):
    text = serializers.CharField(max_length=2000)


class PhotoInput(StrictInput):
    photo = serializers.FileField(max_length=200, allow_empty_file=False)
    kind = serializers.ChoiceField(
        choices=Evidence.Kind.choices, required=False, default=Evidence.Kind.REPORT
    )


# --- filters --------------------------------------------------------------------------------------

LIST_PARAMETERS = [
    OpenApiParameter("state", str, enum=CaseState.values, description="状态"),
    OpenApiParameter("state_kind", str, enum=StateKind.values, description="状态大类"),
    OpenApiParameter("source", str, enum=Source.values, description="来源"),
    OpenApiParameter("category", int, description="类别 id (大类含其小类)"),
    OpenApiParameter("grid", str, description="网格编码 (含下级)"),
    OpenApiParameter("department", str, description="处置部门编码"),
    OpenApiParameter("overdue", bool, description="未办结且已过当前阶段时限"),
    OpenApiParameter("supervised", bool, description="督办级别大于 0"),
    OpenApiParameter("created_after", str, description="上报时间不早于 (YYYY-MM-DD 或 ISO 8601)"),
    OpenApiParameter("created_before", str, description="上报时间早于 (日期则含当天)"),
    OpenApiParameter("q", str, description="编号、描述或地址包含"),
    OpenApiParameter("bbox", str, description="最小经度,最小纬度,最大经度,最大纬度 (WGS-84)"),
]


def filter_cases(qs: QuerySet[Case], params: Mapping[str, str], user: Any) -> QuerySet[Case]:
    """The list's query parameters, each checked (400 naming it), as selectors.filter_cases."""
    code = param_text(params, "grid", max_length=20)
    grid = access_grid(user, code) if code is not None else None
    qs = selectors.filter_cases(
        qs,
        state=param_choice(params, "state", CaseState.values),
        state_kind=param_choice(params, "state_kind", StateKind.values),
        source=param_choice(params, "source", Source.values),
        category_id=param_int(params, "category", low=1, high=MAX_PK),
        grid=grid,
        department_code=param_text(params, "department", max_length=32),
        overdue=param_bool(params, "overdue"),
        supervised=param_bool(params, "supervised"),
        created_from=param_moment(params, "created_after"),
        created_before=param_moment(params, "created_before", end_of_day=True),
        text=param_text(params, "q", max_length=100),
        bbox=param_bbox(params),
    )
    return qs.none() if code is not None and grid is None else qs  # a grid out of sight: no cases


# --- the endpoints --------------------------------------------------------------------------------

ACT_REFUSALS = refusals(400, 403, 404, 409, 422)
EXTENSION_ID = OpenApiParameter("extension_id", int, OpenApiParameter.PATH)
EVIDENCE_ID = OpenApiParameter("evidence_id", int, OpenApiParameter.PATH)
UPLOAD_PARSERS = [JSONParser, MultiPartParser]


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    description="重试时携带同一值: 不会重复立案, 返回 200 与首次的案件",
)


def idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if len(key) > IDEMPOTENCY_MAX or not key.isprintable():
        raise BadRequest(
            f"{IDEMPOTENCY_HEADER} 应为不超过 {IDEMPOTENCY_MAX} 个可见字符", field=IDEMPOTENCY_HEADER
        )
    return key


def case_id(pk: Any) -> int:
    return parse_pk(pk)


def active_category(pk: int | None) -> Category | None:
    if pk is None:
        return None
    category = Category.objects.filter(pk=pk, is_active=True).first()
    if category is None:
        raise Invalid("类别不存在或已停用", field="category")
    return category


class CaseViewSet(viewsets.GenericViewSet):
    """事件/案件: report, list, show, and one POST per act of the state machine."""

    queryset = Case.objects.none()  # for the schema; every real read goes through the selectors
    serializer_class = CaseSerializer
    pagination_class = Pagination
    parser_classes = [JSONParser]

    def get_parsers(self) -> list[Any]:
        # A report may carry photos: multipart as well as JSON (the acts name their own parsers).
        # Called before `self.action` is set, so the action is looked up from the method here.
        request = getattr(self, "request", None)  # None while the schema is generated
        if request is not None and self.action_map.get(request.method.lower()) == "create":
            return [parser() for parser in UPLOAD_PARSERS]
        return super().get_parsers()

    def get_queryset(self) -> QuerySet[Case]:
        return (
            selectors.cases_for(self.request.user)
            .select_related("category", "grid", "department")
            .order_by("-created_at", "-id")
        )

    def _shown(self, pk: int, *, acted_on: Case | None = None, status: int = 200) -> Response:
        """The case as its detail shows it, read through the scope. An act may have moved the case
        out of the caller's sight: then they still see, once, the case as they left it."""
        case = self.get_queryset().filter(pk=pk).first() or acted_on
        if case is None:
            raise Http404
        context = {"request": self.request, "now": timezone.now()}
        return Response(CaseDetailSerializer(case, context=context).data, status=status)

    def _act(self, pk: Any, do: Callable[[Case], Any]) -> Response:
        """Lock the case (404 outside the scope), run one service on it, show the result."""
        with transaction.atomic():
            case = selectors.access_case(self.request.user, case_id(pk), lock=True)
            if case is None:
                raise Http404
            do(case)
        return self._shown(case.pk, acted_on=case)

    @extend_schema(parameters=LIST_PARAMETERS, responses={200: CaseSerializer(many=True), **refusals(400)})
    def list(self, request: Request) -> Response:
        qs = filter_cases(self.get_queryset(), request.query_params, request.user)
        page = self.paginate_queryset(qs)
        context = {"request": request, "now": timezone.now()}
        return self.get_paginated_response(CaseSerializer(page, many=True, context=context).data)

    @extend_schema(responses={200: CaseDetailSerializer, **refusals(404)})
    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return self._shown(case_id(pk))

    @extend_schema(
        request={"application/json": ReportInput, "multipart/form-data": ReportInput},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OpenApiResponse(CaseDetailSerializer, description="新上报的案件"),
            200: OpenApiResponse(CaseDetailSerializer, description="同一 Idempotency-Key 的重试: 首次的案件"),
            **refusals(400, 403, 413, 422),
        },
    )
    def create(self, request: Request) -> Response:
        """上报: JSON, or multipart with `photos`. A retry with the same Idempotency-Key is harmless."""
        user: Any = request.user
        key = idempotency_key(request)
        data = dict(read_input(ReportInput, request).validated_data)
        category = active_category(data.pop("category", None))
        source = data.pop("source", None) or intake.default_source(user.role)
        case, created = intake.report_case(
            actor=user,
            source=source,
            category=category,
            photos=data.pop("photos", []),
            idempotency_key=key,
            **data,
        )
        return self._shown(case.pk, acted_on=case, status=201 if created else 200)

    @extend_schema(
        request={"application/json": OnTheSpotInput, "multipart/form-data": OnTheSpotInput},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OpenApiResponse(CaseDetailSerializer, description="已上报并办结的案件"),
            200: OpenApiResponse(CaseDetailSerializer, description="同一 Idempotency-Key 的重试: 首次的案件"),
            **refusals(400, 403, 413, 422),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="on-the-spot",
        url_name="on-the-spot",
        parser_classes=UPLOAD_PARSERS,
    )
    def on_the_spot(self, request: Request) -> Response:
        """自行处置: a grid worker reports a problem in their grid that they solved there; the case is
        reported and closed at once. JSON, or multipart with `photos` (before) and `result_photos`."""
        key = idempotency_key(request)
        data = dict(read_input(OnTheSpotInput, request).validated_data)
        category = active_category(data.pop("category"))
        case, created = intake.handle_on_the_spot(
            actor=request.user, category=category, idempotency_key=key, **data
        )
        return self._shown(case.pk, acted_on=case, status=201 if created else 200)

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=Category.Kind.values, description="部件/事件")],
        responses={200: CategoryTreeSerializer(many=True), **refusals(400)},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def categories(self, request: Request) -> Response:
        """The category tree: active major classes, each with its active subclasses."""
        qs = Category.objects.filter(parent__isnull=True, is_active=True).prefetch_related("children")
        if kind := param_choice(request.query_params, "kind", Category.Kind.values):
            qs = qs.filter(kind=kind)
        return Response(CategoryTreeSerializer(qs.order_by("kind", "code"), many=True).data)

    # --- acts -------------------------------------------------------------------------------------

    @extend_schema(request=FileInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"], url_path="file")
    def file(self, request: Request, pk: Any = None) -> Response:
        """立案, under the subclass it was reported with or another one (`category`)."""
        data = dict(read_input(FileInput, request).validated_data)
        category = active_category(data.pop("category", None))
        return self._act(
            pk, lambda case: workflow.file_case(case, actor=request.user, category=category, **data)
        )

    @extend_schema(request=RejectInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: Any = None) -> Response:
        """不予立案: the reason is duplicate, out_of_scope or invalid."""
        data = read_input(RejectInput, request).validated_data
        return self._act(pk, lambda case: workflow.reject_case(case, actor=request.user, **data))

    @extend_schema(request=DispatchInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"], url_path="dispatch", url_name="dispatch")
    def dispatch_to(self, request: Request, pk: Any = None) -> Response:
        """派遣 to a department (its code), optionally to one of its members."""
        data = dict(read_input(DispatchInput, request).validated_data)
        department = Department.objects.filter(code=data.pop("department"), is_active=True).first()
        if department is None:
            raise Invalid("处置部门不存在或已停用", field="department")
        assignee = None
        if (assignee_pk := data.pop("assignee", None)) is not None:
            assignee = department.members.filter(pk=assignee_pk, is_active=True).first()
            if assignee is None:
                raise Invalid("处置人不是该部门的在岗人员", field="assignee")
        return self._act(
            pk,
            lambda case: workflow.dispatch_case(
                case, department, assignee=assignee, actor=request.user, **data
            ),
        )

    @extend_schema(request=NoteInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: Any = None) -> Response:
        """签收."""
        data = read_input(NoteInput, request).validated_data
        return self._act(pk, lambda case: workflow.accept_case(case, actor=request.user, **data))

    @extend_schema(request=ReasonInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_case(self, request: Request, pk: Any = None) -> Response:
        """退回: not this department's case."""
        reason = read_input(ReasonInput, request).validated_data["reason"]
        return self._act(pk, lambda case: workflow.return_case(case, reason=reason, actor=request.user))

    @extend_schema(request=ExtensionInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def extension(self, request: Request, pk: Any = None) -> Response:
        """申请延期 of the handling stage; the command center grants or refuses it."""
        data = read_input(ExtensionInput, request).validated_data
        return self._act(pk, lambda case: workflow.request_extension(case, actor=request.user, **data))

    def _decide(self, pk: Any, extension_id: Any, grant: bool) -> Response:
        note = read_input(NoteInput, self.request).validated_data.get("note", "")

        def decide(case: Case) -> None:
            extension = case.extensions.filter(pk=parse_pk(extension_id)).first()
            if extension is None:
                raise Http404
            decide_extension = workflow.grant_extension if grant else workflow.refuse_extension
            decide_extension(extension, note=note, actor=self.request.user)

        return self._act(pk, decide)

    @extend_schema(
        request=NoteInput, parameters=[EXTENSION_ID], responses={200: CaseDetailSerializer, **ACT_REFUSALS}
    )
    @action(detail=True, methods=["post"], url_path=r"extensions/(?P<extension_id>[^/.]+)/grant")
    def grant_extension(self, request: Request, pk: Any = None, extension_id: Any = None) -> Response:
        """同意延期."""
        return self._decide(pk, extension_id, grant=True)

    @extend_schema(
        request=NoteInput, parameters=[EXTENSION_ID], responses={200: CaseDetailSerializer, **ACT_REFUSALS}
    )
    @action(detail=True, methods=["post"], url_path=r"extensions/(?P<extension_id>[^/.]+)/refuse")
    def refuse_extension(self, request: Request, pk: Any = None, extension_id: Any = None) -> Response:
        """不同意延期."""
        return self._decide(pk, extension_id, grant=False)

    @extend_schema(
        request={"application/json": FeedbackInput, "multipart/form-data": FeedbackInput},
        responses={200: CaseDetailSerializer, **ACT_REFUSALS, **refusals(413)},
    )
    @action(detail=True, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def feedback(self, request: Request, pk: Any = None) -> Response:
        """处置反馈: the result, with photos."""
        data = read_input(FeedbackInput, request).validated_data
        return self._act(
            pk,
            lambda case: workflow.feedback_case(
                case, result=data["result"], photos=data.get("photos", []), actor=request.user
            ),
        )

    @extend_schema(
        request={"application/json": VerifyInput, "multipart/form-data": VerifyInput},
        responses={200: CaseDetailSerializer, **ACT_REFUSALS, **refusals(413)},
    )
    @action(detail=True, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def verify(self, request: Request, pk: Any = None) -> Response:
        """核查: ok closes the case, not ok sends it back for rework."""
        data = read_input(VerifyInput, request).validated_data
        return self._act(
            pk,
            lambda case: workflow.verify_case(
                case,
                ok=data["ok"],
                note=data.get("note", ""),
                photos=data.get("photos", []),
                actor=request.user,
            ),
        )

    @extend_schema(request=CallbackInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def callback(self, request: Request, pk: Any = None) -> Response:
        """回访: the reporter's satisfaction."""
        data = read_input(CallbackInput, request).validated_data
        return self._act(
            pk,
            lambda case: workflow.callback_case(
                case, satisfaction=data["satisfaction"], note=data.get("note", ""), actor=request.user
            ),
        )

    @extend_schema(request=MergeInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: Any = None) -> Response:
        """合并 into another case (its id) the caller can see."""
        data = dict(read_input(MergeInput, request).validated_data)
        into_pk = data.pop("into")

        def merge(case: Case) -> None:
            into = selectors.cases_for(request.user).filter(pk=into_pk).first()
            if into is None:
                raise Invalid("要合并到的案件不存在或不在您的数据范围内", field="into")
            workflow.merge_case(case, into, actor=request.user, **data)

        return self._act(pk, merge)

    @extend_schema(request=ReasonInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: Any = None) -> Response:
        """重办 a closed or rejected case."""
        reason = read_input(ReasonInput, request).validated_data["reason"]
        return self._act(pk, lambda case: workflow.reopen_case(case, reason=reason, actor=request.user))

    @extend_schema(request=SuperviseInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def supervise(self, request: Request, pk: Any = None) -> Response:
        """督办: raise the case's supervision level (1–3)."""
        data = read_input(SuperviseInput, request).validated_data
        return self._act(pk, lambda case: workflow.supervise_case(case, actor=request.user, **data))

    @extend_schema(request=TextInput, responses={200: CaseDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk: Any = None) -> Response:
        """备注: a line in the history; the state does not change."""
        text = read_input(TextInput, request).validated_data["text"]
        return self._act(pk, lambda case: workflow.add_note(case, text=text, actor=request.user))

    # --- photos -----------------------------------------------------------------------------------

    @extend_schema(
        request={"multipart/form-data": PhotoInput},
        responses={201: EvidenceSerializer, **refusals(400, 403, 404, 409, 413, 422)},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def photos(self, request: Request, pk: Any = None) -> Response:
        """Add a photo (JPEG, PNG or WebP) to a case."""
        data = read_input(PhotoInput, request).validated_data
        with transaction.atomic():
            case = selectors.access_case(request.user, case_id(pk), lock=True)
            if case is None:
                raise Http404
            evidence = intake.add_evidence(case, data["photo"], actor=request.user, kind=data["kind"])
        return Response(EvidenceSerializer(evidence, context={"request": request}).data, status=201)

    @extend_schema(
        parameters=[EVIDENCE_ID],
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/webp"): OpenApiTypes.BINARY,
            **refusals(404),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"photos/(?P<evidence_id>[^/.]+)",
        url_name="photo",
    )
    def photo(self, request: Request, pk: Any = None, evidence_id: Any = None) -> HttpResponseBase:
        """One photo of a case, to those who may see the case."""
        evidence = selectors.access_photo(request.user, case_id(pk), parse_pk(evidence_id))
        if evidence is None:
            raise Http404
        return photo_response(evidence)


router = SimpleRouter()
router.register("", CaseViewSet, basename="case")
urlpatterns = router.urls
