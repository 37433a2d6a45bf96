"""External events in (ARCHITECTURE §5): alerts that cameras, NVRs and other analytics systems
detected themselves, arriving through the webhook (`POST /api/video/events/`) or MQTT (the generic
topic `shequ/cameras/<code>/events` and Frigate's `frigate/events` and `frigate/reviews`).

Every path ends in `services.raise_alert`, the same as the platform's own engine, so an external
alert is confirmed, dismissed or filed automatically exactly like one of ours. Each event carries
an id of its sender and a repeat of it is the same alert (idempotent on origin + source id), so a
retry or a message delivered twice is harmless. Malformed input raises `MalformedEvent` (400) and
an unknown camera `UnknownCamera` (422), each with per-field messages and a short `reason` that the
MQTT consumer counts by.

The body (docs/video.md "External events"): top-level fields are strict (an unknown key is an
error, so a misspelled `detected_at` is not silently dropped), and a vendor's own fields go under
`vendor_data`, kept on the alert as it came (at most 8 KiB of JSON).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import logging
import math
from typing import Annotated, Any, Literal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from shequ.core.errors import DomainError, Invalid
from shequ.video import services
from shequ.video.models import Alert, AlertKind, AlertOrigin, Camera
from shequ.video.services.media import check_snapshot

log = logging.getLogger(__name__)

SNAPSHOT_MAX_BYTES = 4 * 1024 * 1024  # decoded; a 4K JPEG is ~2 MB
SNAPSHOT_MAX_BASE64 = (SNAPSHOT_MAX_BYTES + 2) // 3 * 4
RULE_KINDS = frozenset({"parking", "vending", "crowd", "debris", "intrusion"})

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
EventId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[!-~]{1,64}$")]


class MalformedEvent(DomainError):
    """Not an event this platform can read (bad JSON, wrong types, unknown fields): 400."""

    status = 400

    def __init__(self, message: str, *, reason: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message, field=errors[0]["field"] if errors and len(errors) == 1 else None)
        self.reason = reason
        self.errors = errors or []


class UnknownCamera(Invalid):
    """Well-formed, but no camera (that the sender may post for) has this code: 422."""

    def __init__(self, code: str) -> None:
        super().__init__(f"摄像头 {code!r} 不存在", field="camera")
        self.reason = "unknown_camera"
        self.errors = [{"field": "camera", "message": self.message}]


# --- the generic event body (webhook and shequ/cameras/<code>/events) ---------------------------------


class EventIn(BaseModel):
    """One event of an external system. `kind` is an AlertKind value (parking, intrusion, ...) or the
    sender's own type (line_crossing, fire...), which becomes an "external" alert that keeps it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    camera: Code | None = None
    event_id: EventId
    kind: Annotated[str, StringConstraints(min_length=1, max_length=40)] = AlertKind.EXTERNAL.value
    label: Annotated[str, StringConstraints(max_length=40)] = ""
    score: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    detected_at: dt.datetime
    box: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=list)
    zone: Annotated[str, StringConstraints(max_length=60)] = ""
    description: Annotated[str, StringConstraints(max_length=300)] = ""
    category: Annotated[str, StringConstraints(max_length=20)] | None = None
    auto_case: bool | None = None
    snapshot_base64: Annotated[str, StringConstraints(max_length=SNAPSHOT_MAX_BASE64)] | None = None
    vendor_data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("event_id", mode="before")
    @classmethod
    def _number_ids(cls, value: Any) -> Any:
        # Many NVRs number their events; an integer id is as good as a string one.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("detected_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        # Devices here often send local time without an offset. A time in the future or over a
        # year old is refused by raise_alert (422): well-formed, but not acceptable.
        if timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.get_default_timezone())
        return value

    @field_validator("box")
    @classmethod
    def _box(cls, value: list[float]) -> list[float]:
        if value and (len(value) != 4 or not (value[0] < value[2] and value[1] < value[3])):
            raise ValueError("目标框应为 [x1, y1, x2, y2], 图像比例 0..1, 且 x1<x2, y1<y2")
        return value


# Chinese messages for the usual mistakes; others keep pydantic's own.
_MESSAGES = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段(厂商自有字段请放在 vendor_data 中)",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "string_too_short": "不能为空",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不对(1 到 64 个可见 ASCII 字符)",
    "string_type": "应为字符串",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为有限数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "list_type": "应为数组",
    "dict_type": "应为 JSON 对象",
    "datetime_parsing": "应为 ISO 8601 时间, 如 2026-11-29T08:15:00+08:00",
    "datetime_from_date_parsing": "应为 ISO 8601 时间, 如 2026-11-29T08:15:00+08:00",
    "datetime_type": "应为 ISO 8601 时间",
}


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for error in exc.errors():
        template = _MESSAGES.get(error["type"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if template is not None:
            with contextlib.suppress(KeyError, IndexError):
                message = template.format(**(error.get("ctx") or {}))
        out.append({"field": ".".join(str(p) for p in error["loc"]) or "(根)", "message": message})
    return out


def parse_json(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEvent(f"不是有效的 JSON: {exc}"[:200], reason="bad_json") from None


def parse_event(data: Any) -> EventIn:
    if not isinstance(data, dict):
        raise MalformedEvent("事件应为 JSON 对象", reason="invalid")
    try:
        return EventIn.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise MalformedEvent(f"事件格式错误: {summary}", reason="invalid", errors=errors) from None


def _snapshot(event: EventIn) -> bytes | None:
    if not event.snapshot_base64:
        return None
    text = event.snapshot_base64
    if text.startswith("data:") and "," in text[:100]:  # a data: URL, as browsers make them
        text = text.split(",", 1)[1]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("snapshot_base64 不是有效的 Base64", field="snapshot_base64") from None
    if len(raw) > SNAPSHOT_MAX_BYTES:
        raise Invalid(f"抓拍过大(最大 {SNAPSHOT_MAX_BYTES // (1024 * 1024)} MB)", field="snapshot_base64")
    return check_snapshot(raw, field="snapshot_base64").data


def _rule_defaults(camera: Camera, kind: str) -> tuple[str, bool]:
    """An external event of a rule kind takes the case category and auto-filing of the camera's
    first enabled rule of that kind, so a camera is set up once for both its own analytics and the
    NVR's."""
    rules = camera.analytics.get("rules", []) if isinstance(camera.analytics, dict) else []
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict) and rule.get("kind") == kind and rule.get("enabled", True):
            return str(rule.get("category") or ""), bool(rule.get("auto_case", False))
    return "", False


def find_camera(code: str, cameras: QuerySet[Camera] | None = None) -> Camera:
    camera = (cameras if cameras is not None else Camera.objects.all()).filter(code=code).first()
    if camera is None:
        raise UnknownCamera(code)
    return camera


def ingest_event(
    event: EventIn,
    *,
    origin: AlertOrigin,
    camera: Camera | None = None,
    cameras: QuerySet[Camera] | None = None,
) -> tuple[Alert, bool]:
    """The alert of one generic event, and whether it is new. `camera` when the channel names it
    (an MQTT topic); otherwise the body's, looked up in `cameras` (the sender's scope)."""
    if camera is None:
        if not event.camera:
            raise MalformedEvent(
                "缺少摄像头编号 camera", reason="invalid", errors=[{"field": "camera", "message": "必填"}]
            )
        camera = find_camera(event.camera, cameras)
    elif event.camera and event.camera != camera.code:
        raise MalformedEvent(
            f"消息中的摄像头 {event.camera!r} 与主题中的 {camera.code!r} 不一致",
            reason="camera_mismatch",
            errors=[{"field": "camera", "message": "与主题中的摄像头编号不一致"}],
        )
    kind = event.kind if event.kind in AlertKind.values else AlertKind.EXTERNAL.value
    description = event.description
    if kind != event.kind:  # the sender's own type is kept where a person reads it
        description = f"[{event.kind}] {description}".strip()[:300]
    category, auto_case = _rule_defaults(camera, kind) if kind in RULE_KINDS else ("", False)
    if event.category is not None:
        category = event.category
    if event.auto_case is not None:
        auto_case = event.auto_case
    return services.raise_alert(
        camera,
        origin=origin,
        source_id=f"{camera.code}:{event.event_id}",
        kind=kind,
        detected_at=event.detected_at,
        zone_id=event.zone[:40],
        zone_name=event.zone,
        label=event.label,
        confidence=event.score,
        box=tuple(event.box),
        description=description,
        category_code=category,
        snapshot=_snapshot(event),
        auto_case=auto_case,
        vendor_data=event.vendor_data,
    )


# --- Frigate (https://docs.frigate.video/integrations/mqtt) --------------------------------------------
# Frigate sends whole objects with many fields of its own: only the ones read here are checked, the
# rest ignored. Its camera names are Shequ camera codes (one way only: docs/video.md).


class _FrigateModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FrigateObject(_FrigateModel):
    id: EventId
    camera: Code
    label: Annotated[str, StringConstraints(max_length=40)] = ""
    score: float | None = None
    top_score: float | None = None
    box: list[float] | None = None
    frame_shape: list[int] | None = None  # [height, width] of the detect stream, when a bridge adds it
    current_zones: list[str] = Field(default_factory=list)
    entered_zones: list[str] = Field(default_factory=list)
    start_time: float
    false_positive: bool | None = None


class FrigateEvent(_FrigateModel):
    type: Literal["new", "update", "end"]
    after: FrigateObject


class FrigateReviewData(_FrigateModel):
    detections: list[str] = Field(default_factory=list)
    objects: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)


class FrigateReviewItem(_FrigateModel):
    id: EventId
    camera: Code
    start_time: float
    severity: str
    data: FrigateReviewData = Field(default_factory=FrigateReviewData)


class FrigateReview(_FrigateModel):
    type: str
    after: FrigateReviewItem

    @model_validator(mode="after")
    def _known_type(self) -> FrigateReview:
        if self.type not in {"new", "update", "end", "genai"}:
            raise ValueError(f"未知的 review 消息类型 {self.type!r}")
        return self


def _validate(model: type[BaseModel], data: Any) -> Any:
    if not isinstance(data, dict):
        raise MalformedEvent("消息应为 JSON 对象", reason="invalid")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise MalformedEvent(f"Frigate 消息格式错误: {summary}", reason="invalid", errors=errors) from None


def _epoch(seconds: float) -> dt.datetime:
    if not math.isfinite(seconds) or not 0 < seconds < 4102444800:  # before 2100
        raise MalformedEvent("start_time 不是有效的时间戳", reason="invalid")
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def frigate_box(obj: FrigateObject) -> tuple[float, ...]:
    """Frigate boxes are pixels of the detect stream; Shequ's are fractions. Without the frame size
    in the message the box cannot be mapped, and is left empty rather than guessed."""
    if not obj.box or len(obj.box) != 4 or not obj.frame_shape or len(obj.frame_shape) < 2:
        return ()
    height, width = obj.frame_shape[0], obj.frame_shape[1]
    if height <= 0 or width <= 0:
        return ()
    x1, y1, x2, y2 = obj.box
    box = tuple(min(1.0, max(0.0, v)) for v in (x1 / width, y1 / height, x2 / width, y2 / height))
    return box if box[0] < box[2] and box[1] < box[3] else ()


def _description(label: str, zones: list[str]) -> str:
    text = f"Frigate 检测到 {label or '目标'}"
    return (text + (f", 区域 {', '.join(zones)}" if zones else ""))[:300]


def ingest_frigate_event(data: Any) -> tuple[Alert, bool] | None:
    """`frigate/events`: one alert per Frigate event id, made by the first message of the event
    whose object has entered a zone (and is not a false positive); None for every other message
    (objects outside all zones, and the updates of an event already alerted)."""
    message: FrigateEvent = _validate(FrigateEvent, data)
    obj = message.after
    if obj.false_positive or not obj.entered_zones:
        return None
    camera = find_camera(obj.camera)
    score = obj.top_score if obj.top_score is not None else obj.score
    zones = obj.entered_zones
    return services.raise_alert(
        camera,
        origin=AlertOrigin.FRIGATE,
        source_id=f"{camera.code}:event:{obj.id}",
        kind=AlertKind.EXTERNAL,
        detected_at=_epoch(obj.start_time),
        zone_id=zones[0][:40],
        zone_name=zones[0][:60],
        label=obj.label,
        confidence=score if score is not None and 0.0 <= score <= 1.0 else None,
        box=frigate_box(obj),
        description=_description(obj.label, zones),
    )


def ingest_frigate_review(data: Any) -> tuple[Alert, bool] | None:
    """`frigate/reviews`: one alert per review item of severity "alert"; "detection" items are
    Frigate's lesser findings and make none. A review shares its source id with the alert of its
    first tracked object (`event:<id>`), so subscribing to both topics gives one alert per object,
    whichever message comes first."""
    message: FrigateReview = _validate(FrigateReview, data)
    item = message.after
    if item.severity != "alert":
        return None
    camera = find_camera(item.camera)
    detections = [d for d in item.data.detections if isinstance(d, str) and 0 < len(d) <= 64]
    for other in detections[1:]:
        existing = Alert.objects.filter(
            origin=AlertOrigin.FRIGATE, source_id=f"{camera.code}:event:{other}"
        ).first()
        if existing is not None:
            return existing, False
    source_id = f"{camera.code}:event:{detections[0]}" if detections else f"{camera.code}:review:{item.id}"
    label = item.data.objects[0][:40] if item.data.objects else ""
    zones = [z for z in item.data.zones if isinstance(z, str)]
    return services.raise_alert(
        camera,
        origin=AlertOrigin.FRIGATE,
        source_id=source_id,
        kind=AlertKind.EXTERNAL,
        detected_at=_epoch(item.start_time),
        zone_id=zones[0][:40] if zones else "",
        zone_name=zones[0][:60] if zones else "",
        label=label,
        description=_description(label, zones),
    )


def max_payload_bytes() -> int:
    """The largest message read: a body with the largest snapshot, and room for the rest."""
    return int(getattr(settings, "MQTT_MAX_PAYLOAD", SNAPSHOT_MAX_BASE64 + 256 * 1024))
