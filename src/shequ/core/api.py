"""Shared API plumbing: every refused request becomes a JSON answer with a message, never a 500."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from shequ.core.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        if errors := getattr(exc, "errors", None):
            body["errors"] = errors
        return Response(body, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=400)
    if isinstance(exc, RequestDataTooBig):
        limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
        return Response({"detail": f"请求内容过大(最多 {limit_mb} MB)"}, status=413)
    return drf_exception_handler(exc, context)


# --- shared pieces of every endpoint: strict query parameters, bounded pages, strict bodies ------
# A client mistake is answered 400 with {"detail": ..., "field": ...}, the same shape as a DomainError.

MAX_PAGE = 500
MAX_OFFSET = 10**7
MAX_TEXT = 200


class BadRequest(DomainError):
    """A malformed request: a query parameter that is not a number, an unknown body field."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, errors: Any = None) -> None:
        super().__init__(message, field=field)
        self.errors = errors


def _raw(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value.strip() == "":
        return None
    if "\x00" in value:
        raise BadRequest(f"参数 {name} 含有非法字符", field=name)
    return value.strip()


def param_text(params: Mapping[str, str], name: str, *, max_length: int = MAX_TEXT) -> str | None:
    value = _raw(params, name)
    if value is not None and len(value) > max_length:
        raise BadRequest(f"参数 {name} 过长(最多 {max_length} 字)", field=name)
    return value


def param_int(params: Mapping[str, str], name: str, *, low: int = 0, high: int = 10**9) -> int | None:
    value = _raw(params, name)
    if value is None:
        return None
    if len(value) > 12 or not re.fullmatch(r"-?[0-9]+", value):  # one sign at most ("--5" is no number)
        raise BadRequest(f"参数 {name} 应为整数, 不是 {value[:40]!r}", field=name)
    number = int(value)
    if not low <= number <= high:
        raise BadRequest(f"参数 {name} 应在 {low} 到 {high} 之间", field=name)
    return number


def param_float(params: Mapping[str, str], name: str, *, low: float, high: float) -> float | None:
    value = _raw(params, name)
    if value is None:
        return None
    try:
        number = float(value) if len(value) <= 40 else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise BadRequest(f"参数 {name} 应为数字, 不是 {value[:40]!r}", field=name)
    if not low <= number <= high:
        raise BadRequest(f"参数 {name} 应在 {low} 到 {high} 之间", field=name)
    return number


def param_choice(params: Mapping[str, str], name: str, choices: Iterable[str]) -> str | None:
    value = _raw(params, name)
    allowed = list(choices)
    if value is not None and value not in allowed:
        raise BadRequest(f"参数 {name} 应为 {'/'.join(allowed)} 之一", field=name)
    return value


def param_bbox(params: Mapping[str, str], name: str = "bbox") -> tuple[float, float, float, float] | None:
    """`minlon,minlat,maxlon,maxlat` in WGS-84 degrees, or None when absent."""
    value = _raw(params, name)
    if value is None:
        return None
    parts = value.split(",")
    message = f"参数 {name} 应为 最小经度,最小纬度,最大经度,最大纬度 (WGS-84)"
    if len(parts) != 4:
        raise BadRequest(message, field=name)
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError:
        raise BadRequest(message, field=name) from None
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        raise BadRequest(message, field=name)
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise BadRequest(f"{message}; 且最小值不大于最大值, 经度在 ±180, 纬度在 ±90 之内", field=name)
    return min_lon, min_lat, max_lon, max_lat


class Pagination(LimitOffsetPagination):
    """limit/offset pages; a limit or offset that is not a sane number is a 400, not a silent default."""

    max_limit = MAX_PAGE

    def get_limit(self, request: Any) -> int | None:
        limit = param_int(request.query_params, self.limit_query_param, low=1, high=MAX_PAGE)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Any) -> int:
        return param_int(request.query_params, self.offset_query_param, low=0, high=MAX_OFFSET) or 0


class StrictInput(serializers.Serializer):
    """An input body: a JSON object whose keys must all be known fields (a typo is a 400, not ignored)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, Mapping):
            unknown = sorted(str(k) for k in self.initial_data if k not in self.fields)
            if unknown:
                raise BadRequest(f"未知字段: {', '.join(unknown)[:200]}", field=unknown[0][:80])
        return attrs


def read_input[S: serializers.Serializer](serializer_class: type[S], request: Any, **kwargs: Any) -> S:
    """Validate a request body with an input serializer; a wrong type is a 400 naming the field."""
    serializer = serializer_class(data=request.data, **kwargs)
    if not serializer.is_valid():
        errors = serializer.errors
        field = next(iter(errors), "")
        first = errors[field] if field else ""
        message = str(first[0] if isinstance(first, list) and first else first)
        if field == api_settings.NON_FIELD_ERRORS_KEY:
            raise BadRequest(message or "请求内容无效")
        raise BadRequest(f"{field}: {message}", field=field, errors=errors)
    return serializer


# --- the refusal body in the OpenAPI description ---------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """The body of every refusal (exception_handler). `errors`, when there: a malformed body's
    fields and their messages ({"field": ["..."]}, 400), or every refused field of well-formed
    content ([{"field": ..., "message": ...}], 422)."""

    detail = serializers.CharField()
    field = serializers.CharField(required=False)
    # DRF's metaclass takes declared fields off the class: the name shadows .errors for mypy only
    errors = serializers.JSONField(required=False)  # type: ignore[assignment]


def refusals(texts: Mapping[int, str], *codes: int) -> dict[int, OpenApiResponse]:
    """The refusals an endpoint answers, each with what it means there (`texts`: an app's wording)."""
    return {code: OpenApiResponse(ErrorSerializer, description=texts[code]) for code in codes}
