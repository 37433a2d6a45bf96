"""REST API of instructions (指令), /api/command/instructions/... (docs/api.md, docs/command.md):
thin, every read through the selectors (scope), every write one service call with the row locked.

An instruction outside the caller's scope answers 404; an act their role may not do a 403, one its
state does not allow a 409, a bad value a 422 and a malformed request a 400, each with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from shequ.accounts.models import Department
from shequ.cases import selectors as case_selectors
from shequ.cases.api import (
    IDEMPOTENCY_HEADER,
    MAX_PK,
    DepartmentRefSerializer,
    idempotency_key,
    param_bool,
    parse_pk,
    refusals,
)
from shequ.cases.models import Urgency
from shequ.command import selectors, services
from shequ.command.models import MAX_LEVEL, Escalation, Instruction, InstructionState
from shequ.core.api import (
    Pagination,
    StrictInput,
    param_choice,
    param_int,
    param_text,
    read_input,
)
from shequ.core.errors import Forbidden, Invalid
from shequ.core.parsers import JSONParser
from shequ.grids.selectors import access_grid

ACTS = ("acknowledge", "report", "escalate", "close")


# --- how an instruction is shown -----------------------------------------------------------------


class CaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()


class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()


class EscalationSerializer(serializers.ModelSerializer):
    by = serializers.SerializerMethodField()
    automatic = serializers.SerializerMethodField()

    class Meta:
        model = Escalation
        fields = ["level", "at", "by", "automatic", "reason"]

    def get_by(self, obj: Escalation) -> str:
        return str(obj.by) if obj.by is not None else "system"

    def get_automatic(self, obj: Escalation) -> bool:
        return obj.by_id is None


def _person(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": str(user), "role": user.role}


class InstructionSerializer(serializers.ModelSerializer):
    """An instruction as a list row shows it."""

    # A plain string in the schema: an enum component named "state" would collide with the cases'.
    state = serializers.CharField(
        help_text="sent 待签收 | acknowledged 已签收 | reported 已反馈 | closed 已办结"
    )
    state_label = serializers.CharField(source="get_state_display")
    urgency_label = serializers.CharField(source="get_urgency_display")
    case = serializers.SerializerMethodField()
    department = serializers.SerializerMethodField()
    recipient = serializers.SerializerMethodField()
    grid = serializers.SerializerMethodField()
    sent_by = serializers.CharField(source="sent_by_name")
    overdue = serializers.SerializerMethodField()
    waiting_minutes = serializers.SerializerMethodField()

    class Meta:
        model = Instruction
        fields = [
            "id",
            "title",
            "text",
            "urgency",
            "urgency_label",
            "state",
            "state_label",
            "level",
            "case",
            "department",
            "recipient",
            "grid",
            "sent_by",
            "sent_at",
            "due_at",
            "overdue",
            "waiting_minutes",
            "acknowledged_at",
            "reported_at",
            "closed_at",
        ]

    @extend_schema_field(CaseRefSerializer(allow_null=True))
    def get_case(self, obj: Instruction) -> dict[str, Any] | None:
        return {"id": obj.case.pk, "number": obj.case.number} if obj.case_id and obj.case else None

    @extend_schema_field(DepartmentRefSerializer(allow_null=True))
    def get_department(self, obj: Instruction) -> dict[str, Any] | None:
        d = obj.department
        return {"code": d.code, "name": d.name} if d else None

    @extend_schema_field(PersonRefSerializer(allow_null=True))
    def get_recipient(self, obj: Instruction) -> dict[str, Any] | None:
        return _person(obj.recipient)

    def get_grid(self, obj: Instruction) -> str | None:
        return obj.grid.code if obj.grid else None

    def get_overdue(self, obj: Instruction) -> bool:
        return obj.is_overdue(self.context.get("now") or timezone.now())

    def get_waiting_minutes(self, obj: Instruction) -> int:
        return obj.waiting_minutes(self.context.get("now") or timezone.now())


class InstructionDetailSerializer(InstructionSerializer):
    """An instruction with its acknowledgement, report, escalations and the caller's acts."""

    acknowledged_by = serializers.SerializerMethodField()
    reported_by = serializers.SerializerMethodField()
    escalations = EscalationSerializer(many=True, read_only=True)
    allowed_actions = serializers.SerializerMethodField()

    class Meta(InstructionSerializer.Meta):
        fields = [
            *InstructionSerializer.Meta.fields,
            "acknowledged_by",
            "report",
            "reported_by",
            "close_note",
            "escalations",
            "allowed_actions",
        ]

    def get_acknowledged_by(self, obj: Instruction) -> str | None:
        return str(obj.acknowledged_by) if obj.acknowledged_by else None

    def get_reported_by(self, obj: Instruction) -> str | None:
        return str(obj.reported_by) if obj.reported_by else None

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ACTS)))
    def get_allowed_actions(self, obj: Instruction) -> list[str]:
        return services.allowed_acts(self.context["request"].user, obj)


# --- what a client sends --------------------------------------------------------------------------


class InstructionSendInput(StrictInput):
    title = serializers.CharField(max_length=services.TITLE_MAX)
    text = serializers.CharField(max_length=services.TEXT_MAX)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, default=Urgency.NORMAL)
    department = serializers.CharField(required=False, allow_null=True, max_length=32, help_text="部门编码")
    recipient = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_PK, help_text="接收人用户 id"
    )
    case = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_PK)
    grid = serializers.CharField(required=False, allow_null=True, max_length=20, help_text="网格编码")


class InstructionNoteInput(StrictInput):
    note = serializers.CharField(required=False, allow_blank=True, max_length=services.NOTE_MAX)


class InstructionReportInput(StrictInput):
    text = serializers.CharField(max_length=services.TEXT_MAX)


class InstructionEscalateInput(StrictInput):
    reason = serializers.CharField(max_length=services.REASON_MAX)
    level = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_LEVEL)


# --- the endpoints --------------------------------------------------------------------------------

LIST_PARAMETERS = [
    OpenApiParameter("state", str, enum=InstructionState.values, description="状态"),
    OpenApiParameter("overdue", bool, description="超过签收时限仍未签收"),
    OpenApiParameter("escalated", bool, description="已升级 (级别大于 0)"),
    OpenApiParameter("open", bool, description="待签收或待反馈"),
    OpenApiParameter("case", int, description="关联案件 id"),
]
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    description="重试时携带同一值: 不会重复下达, 返回 200 与首次的指令",
)
ACT_REFUSALS = refusals(400, 403, 404, 409, 422)


def _ref_text(value: str | None, field: str) -> str | None:
    """A code given in the body: a NUL in it is refused (PostgreSQL would fail on it)."""
    if value is not None and "\x00" in value:
        raise Invalid("含有非法字符", field=field)
    return value or None


class InstructionViewSet(viewsets.GenericViewSet):
    """指令: send, list, show, and one POST per act."""

    queryset = Instruction.objects.none()  # for the schema; every real read goes through the selectors
    serializer_class = InstructionSerializer
    pagination_class = Pagination
    parser_classes = [JSONParser]

    def get_queryset(self) -> QuerySet[Instruction]:
        return selectors.command_list(self.request.user)

    def _shown(self, pk: int, *, acted_on: Instruction | None = None, status: int = 200) -> Response:
        qs = selectors.instructions_for(self.request.user).select_related(*selectors.RELATED)
        instruction = qs.prefetch_related("escalations__by").filter(pk=pk).first() or acted_on
        if instruction is None:
            raise Http404
        context = {"request": self.request, "now": timezone.now()}
        return Response(InstructionDetailSerializer(instruction, context=context).data, status=status)

    def _act(self, pk: Any, do: Callable[[Instruction], Any]) -> Response:
        with transaction.atomic():
            instruction = selectors.access_instruction(self.request.user, parse_pk(pk), lock=True)
            if instruction is None:
                raise Http404
            do(instruction)
        return self._shown(instruction.pk, acted_on=instruction)

    def _list(self, qs: QuerySet[Instruction]) -> Response:
        params = self.request.query_params
        qs = selectors.filter_instructions(
            qs,
            state=param_choice(params, "state", InstructionState.values),
            overdue=param_bool(params, "overdue"),
            escalated=param_bool(params, "escalated"),
            open_only=param_bool(params, "open"),
            case_id=param_int(params, "case", low=1, high=MAX_PK),
        )
        page = self.paginate_queryset(qs)
        context = {"request": self.request, "now": timezone.now()}
        return self.get_paginated_response(InstructionSerializer(page, many=True, context=context).data)

    @extend_schema(
        parameters=LIST_PARAMETERS, responses={200: InstructionSerializer(many=True), **refusals(400)}
    )
    def list(self, request: Request) -> Response:
        """The instructions the caller may see: unacknowledged first (most escalated, oldest on top)."""
        return self._list(self.get_queryset())

    @extend_schema(
        parameters=LIST_PARAMETERS, responses={200: InstructionSerializer(many=True), **refusals(400)}
    )
    @action(detail=False, methods=["get"])
    def inbox(self, request: Request) -> Response:
        """The caller's inbox: the instructions they (or their department) answer for, open ones
        unless `state` says otherwise; unacknowledged first, the oldest on top."""
        include_done = bool(param_text(request.query_params, "state", max_length=20))
        return self._list(selectors.inbox_for(request.user, include_done=include_done))

    @extend_schema(responses={200: InstructionDetailSerializer, **refusals(404)})
    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return self._shown(parse_pk(pk))

    @extend_schema(
        request=InstructionSendInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OpenApiResponse(InstructionDetailSerializer, description="新下达的指令"),
            200: OpenApiResponse(
                InstructionDetailSerializer, description="同一 Idempotency-Key 的重试: 首次的指令"
            ),
            **refusals(400, 403, 422),
        },
    )
    def create(self, request: Request) -> Response:
        """下达指令 to a department (its code) and/or a person (user id), about a case (id) or not."""
        user: Any = request.user
        key = idempotency_key(request)
        data = dict(read_input(InstructionSendInput, request).validated_data)
        if not services.may_send(user):
            raise Forbidden("只有指挥中心坐席、领导和管理员可以下达指令")
        department = None
        if code := _ref_text(data.pop("department", None), "department"):
            department = Department.objects.filter(code=code, is_active=True).first()
            if department is None:
                raise Invalid("接收部门不存在或已停用", field="department")
        recipient = None
        if (recipient_pk := data.pop("recipient", None)) is not None:
            recipient = get_user_model().objects.filter(pk=recipient_pk, is_active=True).first()
            if recipient is None:
                raise Invalid("接收人不存在或已停用", field="recipient")
        case = None
        if (case_pk := data.pop("case", None)) is not None:
            case = case_selectors.cases_for(user).filter(pk=case_pk).first()
            if case is None:
                raise Invalid("案件不存在或不在您的数据范围内", field="case")
        grid = None
        if code := _ref_text(data.pop("grid", None), "grid"):
            grid = access_grid(user, code)
            if grid is None:
                raise Invalid("网格不存在或不在您的数据范围内", field="grid")
        instruction, created = services.send_instruction(
            actor=user,
            department=department,
            recipient=recipient,
            case=case,
            grid=grid,
            idempotency_key=key,
            **data,
        )
        return self._shown(instruction.pk, acted_on=instruction, status=201 if created else 200)

    @extend_schema(request=InstructionNoteInput, responses={200: InstructionDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: Any = None) -> Response:
        """签收 (the recipient person, or a handler of the recipient department)."""
        note = read_input(InstructionNoteInput, request).validated_data.get("note", "")
        return self._act(pk, lambda ins: services.acknowledge(ins, actor=request.user, note=note))

    @extend_schema(
        request=InstructionReportInput, responses={200: InstructionDetailSerializer, **ACT_REFUSALS}
    )
    @action(detail=True, methods=["post"])
    def report(self, request: Request, pk: Any = None) -> Response:
        """反馈: what was done (text). Acknowledges it too, if not yet."""
        text = read_input(InstructionReportInput, request).validated_data["text"]
        return self._act(pk, lambda ins: services.report(ins, actor=request.user, text=text))

    @extend_schema(
        request=InstructionEscalateInput, responses={200: InstructionDetailSerializer, **ACT_REFUSALS}
    )
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, pk: Any = None) -> Response:
        """升级: one level up (or to `level`), at most 3, while it waits for its recipient."""
        data = read_input(InstructionEscalateInput, request).validated_data
        return self._act(
            pk,
            lambda ins: services.escalate(
                ins, actor=request.user, reason=data["reason"], level=data.get("level")
            ),
        )

    @extend_schema(request=InstructionNoteInput, responses={200: InstructionDetailSerializer, **ACT_REFUSALS})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: Any = None) -> Response:
        """办结 after the report, or withdraw before it (then `note` is required)."""
        note = read_input(InstructionNoteInput, request).validated_data.get("note", "")
        return self._act(pk, lambda ins: services.close(ins, actor=request.user, note=note))


router = SimpleRouter()
router.register("instructions", InstructionViewSet, basename="instruction")
urlpatterns = router.urls
