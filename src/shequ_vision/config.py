"""Per-camera analytics settings: zones, rules, thresholds, schedules (issue 5, "rules are data").

One pydantic model tree, `CameraAnalytics`, is both the per-camera settings that the camera page
edits and the rules file of `shequ vision analyse --rules x.json`; `analytics_schema()` is its JSON
schema. Every model rejects unknown keys (a typo must not silently switch a rule off) and every
field has bounds. Coordinates are image fractions (0..1, x right, y down) so a zone drawn on the
sub-stream snapshot fits the main stream too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]
BoxF = tuple[Fraction, Fraction, Fraction, Fraction]
Label = Annotated[str, StringConstraints(min_length=1, max_length=40)]
HHMM = Annotated[str, StringConstraints(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]

VEHICLES = ["car", "truck", "bus", "motorcycle"]
VENDING = ["person", "bicycle", "motorcycle", "umbrella", "handbag", "backpack", "suitcase", "chair",
           "bench", "dining table", "potted plant"]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Zone(_Strict):
    id: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
    polygon: Annotated[list[Point], Field(min_length=3, max_length=64)]


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Window(_Strict):
    """A weekly time window in local (Asia/Shanghai) time. `days` are ISO weekdays (1 = Monday).
    `end` before `start` crosses midnight; such a window belongs to the day it starts on
    (Friday 22:00-06:00 runs into Saturday morning)."""

    days: Annotated[list[Annotated[int, Field(ge=1, le=7)]], Field(min_length=1, max_length=7)] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6, 7]
    )
    start: HHMM
    end: HHMM

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == "24:00":
            raise ValueError("start 不能为 24:00")
        if _minutes(self.start) == _minutes(self.end):
            raise ValueError("start 与 end 相同：时段为空（全天请用 00:00–24:00）")
        return self

    def contains(self, local: datetime) -> bool:
        """Whether `local` (a datetime already in local time) falls in the window."""
        now = local.hour * 60 + local.minute
        start, end = _minutes(self.start), _minutes(self.end)
        weekday = local.isoweekday()
        if start < end:
            return weekday in self.days and start <= now < end
        # Crosses midnight: the evening part on a listed day, the morning part on the day after.
        yesterday = 7 if weekday == 1 else weekday - 1
        return (weekday in self.days and now >= start) or (yesterday in self.days and now < end)


class _RuleBase(_Strict):
    id: Slug
    zone: Slug
    enabled: bool = True
    schedule: Annotated[list[Window], Field(max_length=16)] = Field(default_factory=list)
    min_score: Annotated[float, Field(ge=0.05, le=0.99)] = 0.5
    cooldown_seconds: Annotated[float, Field(ge=0, le=86400)] = 600
    category: Annotated[str, StringConstraints(max_length=40)] = ""
    auto_case: bool = False
    # Boxes of dismissed false positives: a firing whose box overlaps one with IoU >= 0.5 is dropped.
    ignore: Annotated[list[BoxF], Field(max_length=64)] = Field(default_factory=list)

    @field_validator("ignore")
    @classmethod
    def _boxes_ordered(
        cls, boxes: list[tuple[float, float, float, float]]
    ) -> list[tuple[float, float, float, float]]:
        for x1, y1, x2, y2 in boxes:
            if not (x1 < x2 and y1 < y2):
                raise ValueError("框应为 [x1, y1, x2, y2]，且 x1 < x2、y1 < y2")
        return boxes

    def active_at(self, local: datetime | None) -> bool:
        """Whether the schedule allows the rule at `local` time; no schedule means always. Without a
        time (None) a scheduled rule is off: better silent than firing outside its hours."""
        if not self.schedule:
            return True
        return local is not None and any(w.contains(local) for w in self.schedule)


Classes = Annotated[list[Label], Field(min_length=1, max_length=80)]


class ParkingRule(_RuleBase):
    """A vehicle stationary in the zone for `min_minutes` (illegal parking)."""

    kind: Literal["parking"] = "parking"
    classes: Classes = Field(default_factory=lambda: list(VEHICLES))
    min_minutes: Annotated[float, Field(ge=0.1, le=1440)] = 5


class VendingRule(_RuleBase):
    """A person or object staying in the zone for `min_minutes` (street vending, road occupation)."""

    kind: Literal["vending"] = "vending"
    classes: Classes = Field(default_factory=lambda: list(VENDING))
    min_minutes: Annotated[float, Field(ge=0.1, le=1440)] = 10


class CrowdRule(_RuleBase):
    """At least `min_people` people standing in the zone for about `min_seconds`."""

    kind: Literal["crowd"] = "crowd"
    min_people: Annotated[int, Field(ge=2, le=500)] = 5
    min_seconds: Annotated[float, Field(ge=1, le=3600)] = 60


class DebrisRule(_RuleBase):
    """A new static region (not a detected class) persisting in the zone for `min_minutes`."""

    kind: Literal["debris"] = "debris"
    min_minutes: Annotated[float, Field(ge=0.1, le=1440)] = 10
    min_area: Annotated[float, Field(ge=0.0001, le=0.5)] = 0.002


class IntrusionRule(_RuleBase):
    """An object of `classes` in the zone for `min_seconds` (0 = at once), usually with a schedule."""

    kind: Literal["intrusion"] = "intrusion"
    classes: Classes = Field(default_factory=lambda: ["person"])
    min_seconds: Annotated[float, Field(ge=0, le=3600)] = 0


Rule = Annotated[
    ParkingRule | VendingRule | CrowdRule | DebrisRule | IntrusionRule, Field(discriminator="kind")
]


class Motion(_Strict):
    enabled: bool = True
    threshold: Annotated[int, Field(ge=1, le=255)] = 25
    min_area: Annotated[float, Field(ge=0.0, le=0.5)] = 0.001
    scale: Annotated[int, Field(ge=64, le=1920)] = 320


class DetectorConfig(_Strict):
    kind: Literal["ssd", "onnx"] = "ssd"
    model: Annotated[str, StringConstraints(max_length=500)] = ""
    providers: Annotated[list[Label], Field(max_length=8)] = Field(default_factory=list)
    input_size: Annotated[int, Field(ge=128, le=2048, multiple_of=32)] = 640
    classes: Annotated[list[Label], Field(max_length=80)] | None = None

    @model_validator(mode="after")
    def _model_for_onnx(self) -> DetectorConfig:
        if self.kind == "onnx" and not self.model:
            raise ValueError("ONNX 检测器需要 model（模型文件路径）")
        return self


class CameraAnalytics(_Strict):
    sample_fps: Annotated[float, Field(ge=0.05, le=30)] = 1.0
    motion: Motion = Field(default_factory=Motion)
    detector: DetectorConfig | None = None  # None: the platform default (SHEQU_VISION_DETECTOR)
    zones: Annotated[list[Zone], Field(max_length=32)] = Field(default_factory=list)
    rules: Annotated[list[Rule], Field(max_length=64)] = Field(default_factory=list)
    clip_seconds: Annotated[float, Field(ge=0, le=30)] = 6
    snapshot_every_seconds: Annotated[float, Field(ge=1, le=3600)] = 10

    @model_validator(mode="after")
    def _references(self) -> CameraAnalytics:
        # PydanticCustomError carries the field path in its context, so that parse_analytics can
        # point at rules.3.zone rather than at the whole document.
        seen: set[str] = set()
        for i, z in enumerate(self.zones):
            if z.id in seen:
                raise PydanticCustomError(
                    "duplicate", "区域 id {id} 重复", {"id": z.id, "field": f"zones.{i}.id"}
                )
            seen.add(z.id)
        rule_ids: set[str] = set()
        for i, r in enumerate(self.rules):
            if r.id in rule_ids:
                raise PydanticCustomError(
                    "duplicate", "规则 id {id} 重复", {"id": r.id, "field": f"rules.{i}.id"}
                )
            rule_ids.add(r.id)
            if r.zone not in seen:
                raise PydanticCustomError(
                    "unknown_zone", "区域 {zone} 不存在", {"zone": r.zone, "field": f"rules.{i}.zone"}
                )
        return self

    def zone(self, zone_id: str) -> Zone:
        return next(z for z in self.zones if z.id == zone_id)


class ConfigError(ValueError):
    """Invalid analytics settings; `.errors` lists {"field": "rules.0.zone", "message": ...}."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field'] or '(根)'}: {e['message']}" for e in errors))


# Chinese messages for the errors a person editing zones and rules meets; others keep pydantic's.
_MESSAGES = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "string_too_short": "不能为空",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不对",
    "literal_error": "只能是 {expected}",
    "union_tag_invalid": "kind 只能是 {expected_tags}",
    "union_tag_not_found": "缺少 kind",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "multiple_of": "应为 {multiple_of} 的倍数",
}
_KINDS = {"parking", "vending", "crowd", "debris", "intrusion"}


def _field(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    # The discriminated union puts the tag into the location ("rules", 0, "crowd", "min_people");
    # the person editing the rule knows it as rules.0.min_people.
    if len(parts) >= 3 and parts[0] == "rules" and parts[2] in _KINDS:
        del parts[2]
    return ".".join(str(p) for p in parts)


def _message(error: Any) -> str:
    template = _MESSAGES.get(error["type"])
    if template is not None:
        try:
            return template.format(**(error.get("ctx") or {}))
        except (KeyError, IndexError):
            pass
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse_analytics(data: Any) -> CameraAnalytics:
    """Validate settings from JSON; every problem is reported with its field path."""
    if not isinstance(data, dict):
        raise ConfigError([{"field": "", "message": "应为 JSON 对象"}])
    try:
        analytics = CameraAnalytics.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": str((e.get("ctx") or {}).get("field") or _field(e["loc"])), "message": _message(e)}
            for e in exc.errors()
        ]
        raise ConfigError(errors) from exc
    return analytics


def analytics_schema() -> dict[str, Any]:
    """JSON schema of a rules file / a camera's analytics settings."""
    return CameraAnalytics.model_json_schema()


def local_time(value: datetime) -> datetime:
    """`value` in Asia/Shanghai time, where schedules are written (naive values are taken as local)."""
    from zoneinfo import ZoneInfo

    if value.tzinfo is None:
        return value
    return value.astimezone(ZoneInfo("Asia/Shanghai"))


__all__ = [
    "CameraAnalytics",
    "ConfigError",
    "CrowdRule",
    "DebrisRule",
    "DetectorConfig",
    "IntrusionRule",
    "Motion",
    "ParkingRule",
    "Rule",
    "VendingRule",
    "Window",
    "Zone",
    "analytics_schema",
    "local_time",
    "parse_analytics",
]
