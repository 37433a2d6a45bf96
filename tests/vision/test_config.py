"""The analytics settings schema: defaults, bounds, unknown keys, references, error paths."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shequ_vision.config import (
    CameraAnalytics,
    ConfigError,
    CrowdRule,
    ParkingRule,
    Window,
    analytics_schema,
    parse_analytics,
)

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


def _doc(**rule: object) -> dict[str, object]:
    return {
        "zones": [{"id": "road", "name": "消防通道", "polygon": SQUARE}],
        "rules": [{"id": "r1", "zone": "road", **rule}],
    }


def _errors(data: object) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_analytics(data)  # type: ignore[arg-type]
    return {e["field"]: e["message"] for e in info.value.errors}


def test_defaults_per_kind() -> None:
    config = parse_analytics(_doc(kind="parking"))
    rule = config.rules[0]
    assert isinstance(rule, ParkingRule)
    assert (rule.min_minutes, rule.cooldown_seconds, rule.min_score) == (5, 600, 0.5)
    assert rule.classes == ["car", "truck", "bus", "motorcycle"]
    assert (config.sample_fps, config.clip_seconds, config.motion.threshold) == (1.0, 6, 25)
    crowd = parse_analytics(_doc(kind="crowd")).rules[0]
    assert isinstance(crowd, CrowdRule) and (crowd.min_people, crowd.min_seconds) == (5, 60)
    assert parse_analytics({}) == CameraAnalytics()


def test_errors_name_the_field_without_the_kind_tag() -> None:
    errors = _errors(_doc(kind="crowd", min_people=1, colour="red"))
    assert errors == {"rules.0.min_people": "不能小于 2", "rules.0.colour": "不允许的字段"}


def test_unknown_kind_and_missing_zone() -> None:
    assert "kind" in _errors(_doc(kind="fire"))["rules.0"]
    assert _errors(_doc(kind="parking", zone="nowhere")) == {"rules.0.zone": "区域 nowhere 不存在"}


def test_duplicate_ids_and_bounds() -> None:
    doc = _doc(kind="parking")
    doc["rules"] = [*doc["rules"], {"id": "r1", "zone": "road", "kind": "intrusion"}]  # type: ignore[misc]
    assert _errors(doc) == {"rules.1.id": "规则 id r1 重复"}
    assert "polygon" in next(
        iter(_errors({"zones": [{"id": "z", "name": "Z", "polygon": [[0, 0], [1, 1]]}]}))
    )
    assert _errors({"sample_fps": 0}) == {"sample_fps": "不能小于 0.05"}
    assert _errors({"zones": [{"id": "z", "name": "Z", "polygon": [[0, 0], [1.5, 0], [1, 1]]}]}) == {
        "zones.0.polygon.1.0": "不能大于 1.0"
    }
    assert "field" in json.dumps(ConfigError([{"field": "x", "message": "y"}]).errors)
    assert _errors([1, 2]) == {"": "应为 JSON 对象"}


def test_ignore_boxes_must_be_boxes() -> None:
    assert "x1 < x2" in _errors(_doc(kind="parking", ignore=[[0.5, 0.1, 0.4, 0.2]]))["rules.0.ignore"]
    assert parse_analytics(_doc(kind="parking", ignore=[[0.4, 0.1, 0.5, 0.2]])).rules[0].ignore == [
        (0.4, 0.1, 0.5, 0.2)
    ]


def test_onnx_detector_needs_a_model() -> None:
    assert "model" in _errors({"detector": {"kind": "onnx"}})["detector"]
    assert parse_analytics({"detector": {"kind": "onnx", "model": "/m/yolo.onnx"}}).detector is not None


def test_windows_in_local_time_and_across_midnight() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    night = Window(days=[5], start="22:00", end="06:00")  # Friday night into Saturday
    assert night.contains(datetime(2026, 11, 27, 23, 0, tzinfo=shanghai))  # Friday 23:00
    assert night.contains(datetime(2026, 11, 28, 5, 59, tzinfo=shanghai))  # Saturday 05:59
    assert not night.contains(datetime(2026, 11, 28, 23, 0, tzinfo=shanghai))  # Saturday 23:00
    assert not night.contains(datetime(2026, 11, 27, 5, 0, tzinfo=shanghai))  # Friday morning
    day = Window(start="08:00", end="24:00")
    assert day.contains(datetime(2026, 11, 27, 23, 59)) and not day.contains(datetime(2026, 11, 27, 7, 59))
    assert (
        "相同"
        in _errors(_doc(kind="intrusion", schedule=[{"start": "08:00", "end": "08:00"}]))[
            "rules.0.schedule.0"
        ]
    )
    assert "rules.0.schedule.0.start" in _errors(
        _doc(kind="intrusion", schedule=[{"start": "8:00", "end": "09:00"}])
    )
    rule = parse_analytics(_doc(kind="intrusion", schedule=[{"start": "20:00", "end": "06:00"}])).rules[0]
    assert not rule.active_at(None)  # a scheduled rule without a clock stays silent


def test_schema_is_the_rules_file_schema() -> None:
    schema = analytics_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) >= {"sample_fps", "zones", "rules", "motion", "detector", "clip_seconds"}
    kinds = json.dumps(schema)
    for kind in ("parking", "vending", "crowd", "debris", "intrusion"):
        assert f'"{kind}"' in kinds


def test_the_documented_example_is_valid() -> None:
    # docs/vision.md shows a full rules file; it must stay true to the schema.
    text = (Path(__file__).resolve().parents[2] / "docs" / "vision.md").read_text(encoding="utf-8")
    example = text.split("## Rules file", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    config = parse_analytics(json.loads(example))
    assert [r.kind for r in config.rules] == ["parking", "vending", "crowd", "debris", "intrusion"]
