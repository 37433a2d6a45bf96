"""REST API of units (docs/api.md "Units"), mounted under /api/units/: the phone posts positions
and sets its duty status; the map reads last positions; dispatch asks for the nearest available.

Thin: every rule is in services (403 not a field role, 409 no consent or off duty, 422 a refused
value), every read through the selectors' scope (a unit or case out of sight is a 404 or none).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.http import Http404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shequ.cases.api import parse_pk
from shequ.cases.selectors import access_case
from shequ.core import api
from shequ.core.api import BadRequest, StrictInput, param_int, read_input
from shequ.units import selectors, services
from shequ.units.models import DutyStatus, Status

MAX_PK = 2**62


REFUSALS = {
    400: "请求格式错误 (字段类型、未知字段、坐标或参数无效)",
    403: "未登录、缺少 CSRF 令牌, 或不是网格员/部门处置人员",
    404: "不存在或不在您的数据范围内",
    409: "未同意共享位置, 或处于下岗状态",
    422: "内容不被接受 (如定位时间在将来或过早)",
}


def refusals(*codes: int) -> dict[int, OpenApiResponse]:
    return api.refusals(REFUSALS, *codes)


STATUS_SCHEMA = {
    "type": "string",
    # A pattern, not an enum: drf-spectacular would name an enum used by several components after the
    # field alone, and other apps' "status" enums are other sets (a naming collision warning).
    "pattern": f"^({'|'.join(Status.values)})$",
    "description": " / ".join(f"{s.value} {s.label}" for s in Status),
}


@extend_schema_field(STATUS_SCHEMA)
class StatusField(serializers.ChoiceField):
    """The duty status: on_duty, busy, off_duty."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Status.choices, **kwargs)


# --- what is shown --------------------------------------------------------------------------------


class UnitSerializer(serializers.Serializer):
    """A unit as the map shows it (selectors.last_positions); no position when none is fresh."""

    user_id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()
    status = StatusField()
    lon = serializers.FloatField(allow_null=True)
    lat = serializers.FloatField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    accuracy_m = serializers.FloatField(allow_null=True)
    grid_id = serializers.IntegerField(allow_null=True)
    department = serializers.CharField(allow_null=True)


class UnitNearestSerializer(UnitSerializer):
    distance_m = serializers.FloatField()


class UnitDutySerializer(serializers.Serializer):
    """My duty status: `eligible` false for roles that have none (everything else empty then)."""

    eligible = serializers.BooleanField()
    status = StatusField()
    status_label = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)
    consent = serializers.BooleanField()
    consent_at = serializers.DateTimeField(allow_null=True)
    sharing = serializers.BooleanField()
    last_lon = serializers.FloatField(allow_null=True)
    last_lat = serializers.FloatField(allow_null=True)
    last_accuracy_m = serializers.FloatField(allow_null=True)
    last_at = serializers.DateTimeField(allow_null=True)
    min_interval_s = serializers.IntegerField()


def me_data(user: Any) -> dict[str, Any]:
    duty: DutyStatus | None = services.duty_of(user) if services.is_field_user(user) else None
    status = Status(duty.status) if duty else Status.OFF_DUTY
    return {
        "eligible": duty is not None,
        "status": status.value,
        "status_label": str(status.label),
        "since": duty.since if duty else None,
        "consent": bool(duty and duty.has_consent),
        "consent_at": duty.consent_at if duty else None,
        "sharing": bool(duty and duty.is_sharing),
        "last_lon": duty.last_lon if duty else None,
        "last_lat": duty.last_lat if duty else None,
        "last_accuracy_m": duty.last_accuracy_m if duty else None,
        "last_at": duty.last_at if duty else None,
        "min_interval_s": int(services.MIN_INTERVAL.total_seconds()),
    }


class UnitPositionResultSerializer(serializers.Serializer):
    result = serializers.CharField(help_text="recorded: 已记录; ignored: 过于频繁, 已忽略")
    published = serializers.BooleanField()
    status = StatusField()
    received_at = serializers.DateTimeField()
    message = serializers.CharField()


class UnitTrackPointSerializer(serializers.Serializer):
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    accuracy_m = serializers.FloatField()
    at = serializers.DateTimeField()
    status = StatusField()


# --- what a client sends --------------------------------------------------------------------------


class FiniteFloatField(serializers.FloatField):
    """A float that is a number: NaN, infinities and booleans (DRF takes true for 1.0) are refused
    (400), not stored."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class UnitPositionInput(StrictInput):
    lon = FiniteFloatField(min_value=-180, max_value=180)
    lat = FiniteFloatField(min_value=-90, max_value=90)
    accuracy_m = FiniteFloatField(min_value=0, max_value=services.MAX_ACCURACY_M)
    at = serializers.DateTimeField(required=False, allow_null=True)


class UnitStatusInput(StrictInput):
    status = StatusField()
    consent = serializers.BooleanField(required=False, allow_null=True, default=None)


# --- the endpoints --------------------------------------------------------------------------------


class PositionView(APIView):
    @extend_schema(
        request=UnitPositionInput,
        responses={
            201: OpenApiResponse(UnitPositionResultSerializer, description="已记录"),
            202: OpenApiResponse(UnitPositionResultSerializer, description="距上次不足 5 秒, 已忽略 (无害)"),
            **refusals(400, 403, 409, 422),
        },
    )
    def post(self, request: Request) -> Response:
        """上报位置 (WGS-84) from a field user's phone: only with consent, on duty or busy."""
        data = read_input(UnitPositionInput, request).validated_data
        at = data.get("at")
        done = services.record_position(request.user, data["lon"], data["lat"], data["accuracy_m"], at)
        body = {
            "result": "ignored" if done.ignored else "recorded",
            "published": done.published,
            "status": done.duty.status,
            "received_at": done.position.received_at if done.position else timezone.now(),
            "message": "过于频繁, 已忽略" if done.ignored else "已记录",
        }
        return Response(UnitPositionResultSerializer(body).data, status=202 if done.ignored else 201)


class StatusView(APIView):
    @extend_schema(request=UnitStatusInput, responses={200: UnitDutySerializer, **refusals(400, 403, 422)})
    def post(self, request: Request) -> Response:
        """上岗/忙碌/下岗, and give (`consent: true`) or revoke (`false`) consent to share the position."""
        data = read_input(UnitStatusInput, request).validated_data
        services.set_status(request.user, data["status"], consent=data.get("consent"))
        return Response(UnitDutySerializer(me_data(request.user)).data)


class MeView(APIView):
    @extend_schema(responses={200: UnitDutySerializer, **refusals(403)})
    def get(self, request: Request) -> Response:
        """My duty status, consent and last position."""
        return Response(UnitDutySerializer(me_data(request.user)).data)


class UnitsView(APIView):
    @extend_schema(responses={200: UnitSerializer(many=True), **refusals(403)})
    def get(self, request: Request) -> Response:
        """Units on duty or busy in my scope, with their last position (of the last 30 minutes)."""
        return Response(UnitSerializer(selectors.last_positions(request.user), many=True).data)


class NearestView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("case", int, required=True, description="案件 id"),
            OpenApiParameter("limit", int, description="最多几个 (1–20, 默认 5)"),
        ],
        responses={200: UnitNearestSerializer(many=True), **refusals(400, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        """The available units nearest to a case (for dispatch), nearest first."""
        case_pk = param_int(request.query_params, "case", low=1, high=MAX_PK)
        if case_pk is None:
            raise BadRequest("缺少参数 case", field="case")
        limit = param_int(request.query_params, "limit", low=1, high=20) or 5
        case = access_case(request.user, case_pk)
        if case is None:
            raise Http404
        return Response(
            UnitNearestSerializer(selectors.nearest_units(request.user, case, limit), many=True).data
        )


class TrackView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("hours", int, description="最近几小时 (1–24, 默认 8)")],
        responses={200: UnitTrackPointSerializer(many=True), **refusals(400, 403, 404)},
    )
    def get(self, request: Request, user_id: Any = None) -> Response:
        """A unit's track (command center only; every look audited)."""
        hours = param_int(request.query_params, "hours", low=1, high=24) or 8
        duty = selectors.access_unit(request.user, parse_pk(user_id))
        if duty is None:
            raise Http404
        points = selectors.track(request.user, duty, since=dt.timedelta(hours=hours))
        return Response(UnitTrackPointSerializer(points, many=True).data)


urlpatterns = [
    path("positions/", PositionView.as_view(), name="units-positions"),
    path("status/", StatusView.as_view(), name="units-status"),
    path("me/", MeView.as_view(), name="units-me"),
    path("units/", UnitsView.as_view(), name="units-list"),
    path("units/<str:user_id>/track/", TrackView.as_view(), name="units-track"),
    path("nearest/", NearestView.as_view(), name="units-nearest"),
]
