"""`POST /api/video/events/`: the webhook through which cameras, NVRs and other analytics systems
push the events they detected themselves (docs/video.md "External events").

Senders authenticate like every machine (`Authorization: Token <key>` from `shequ api-token`) as an
account made for them with the command-operator or administrator role; the camera must be in that
account's scope (an operator's grids, or not yet placed in a grid), and any other camera is as
unknown as one that does not exist. The body is validated by `ingest.EventIn`; a repeat of an
event id is answered 200 with the alert of the first delivery.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shequ.core.parsers import JSONParser
from shequ.video import ingest, selectors
from shequ.video.models import AlertOrigin

EXAMPLE = {
    "camera": "SXT-0017",
    "event_id": "nvr3-20261129-081500-0042",
    "kind": "intrusion",
    "label": "person",
    "score": 0.87,
    "detected_at": "2026-11-29T08:15:00+08:00",
    "box": [0.41, 0.22, 0.55, 0.78],
    "zone": "配电房门口",
    "description": "夜间有人进入配电房区域",
    "snapshot_base64": "/9j/4AAQSkZJRgABAQ...",
    "vendor_data": {"channel": 3, "rule_name": "区域入侵1"},
}

EventAnswer = inline_serializer(
    "ExternalEventAnswer",
    {
        "alert": serializers.IntegerField(help_text="告警 id"),
        "created": serializers.BooleanField(help_text="false: 同一 event_id 的重复投递"),
        "state": serializers.CharField(help_text="告警状态 new/filed/..."),
        "case": serializers.IntegerField(allow_null=True, help_text="自动立案时的案件 id"),
    },
)
ErrorAnswer = inline_serializer(
    "ExternalEventError",
    {
        "detail": serializers.CharField(),
        "field": serializers.CharField(required=False),
        "errors": serializers.ListField(child=serializers.DictField(), required=False),
    },
)


class MayPostEvents(BasePermission):
    message = "只有指挥中心坐席或系统管理员角色的账号可以推送告警事件"

    def has_permission(self, request: Request, view: Any) -> bool:
        return selectors.may_manage(request.user)


def openapi_30(schema: Any) -> Any:
    """Pydantic's JSON Schema in OpenAPI 3.0 terms: an optional field is `anyOf [T, {type: null}]`
    there, `T` with `nullable: true` here (3.0 has no null type)."""
    if isinstance(schema, list):
        return [openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: openapi_30(value) for key, value in schema.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        out.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        out["nullable"] = True
    return out


class WebhookView(APIView):
    """外部告警推送: one event of a camera or NVR becomes an alert (idempotent on event_id)."""

    parser_classes = [JSONParser]
    permission_classes = [IsAuthenticated, MayPostEvents]

    @extend_schema(
        operation_id="video_events_create",
        request={"application/json": openapi_30(ingest.EventIn.model_json_schema())},
        responses={
            201: OpenApiResponse(EventAnswer, description="新告警"),
            200: OpenApiResponse(EventAnswer, description="同一 event_id 的重复投递: 首次的告警"),
            400: OpenApiResponse(ErrorAnswer, description="请求格式错误 (不是 JSON、字段类型、未知字段)"),
            403: OpenApiResponse(ErrorAnswer, description="未登录, 或账号角色不是指挥中心坐席/系统管理员"),
            413: OpenApiResponse(ErrorAnswer, description="请求内容过大"),
            422: OpenApiResponse(ErrorAnswer, description="摄像头不存在或不在账号范围内, 或抓拍不是有效图片"),
        },
        examples=[OpenApiExample("区域入侵", value=EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        event = ingest.parse_event(request.data)
        alert, created = ingest.ingest_event(
            event, origin=AlertOrigin.WEBHOOK, cameras=selectors.cameras_for(request.user)
        )
        body = {"alert": alert.pk, "created": created, "state": alert.state, "case": alert.case_id}
        return Response(body, status=201 if created else 200)
