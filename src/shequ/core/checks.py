"""Field checks shared by the registers of devices (cameras, drones, docks, missions): a code, a
WGS-84 coordinate, and a whole set of fields checked at once, each refusal naming its field."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shequ.core.errors import DomainError, Invalid, Refused

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")


def check_code(value: Any) -> str:
    """A device's code (编号): 1–40 letters, digits, "-", "_", ".", starting with a letter or digit."""
    code = value.strip() if isinstance(value, str) else value
    if not isinstance(code, str) or not CODE.match(code):
        raise Invalid("编号应为 1–40 个字母、数字、“-”“_”“.”, 以字母或数字开头", field="code")
    return code


def check_coordinate(value: Any, field: str) -> float:
    """A longitude (`field` "lon") or latitude in WGS-84 degrees; JSON booleans are not numbers."""
    bound = 180.0 if field == "lon" else 90.0
    name = "经度" if field == "lon" else "纬度"
    if isinstance(value, bool) or value is None or value == "":
        raise Invalid(f"{name}不能为空 (WGS-84)", field=field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{name}必须是数字", field=field) from None
    if not math.isfinite(number) or abs(number) > bound:
        raise Invalid(f"{name}应在 ±{bound:g} 之内 (WGS-84)", field=field)
    return number


def check_fields(
    raw: Mapping[str, Any],
    checks: Mapping[str, Callable[[Any], Any]],
    *,
    required: Iterable[str] = (),
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The clean values of the fields given, each through its check; a field without a check is
    unknown (refused at once), and every other problem is listed together: Refused's `errors` names
    each refused or missing field (labels: the names people read, "名称不能为空")."""
    unknown = sorted(str(k) for k in raw if k not in checks)
    if unknown:
        raise Invalid(f"未知字段: {', '.join(unknown)[:200]}", field=unknown[0][:80])
    labels = labels or {}
    errors = [{"field": f, "message": f"{labels.get(f, f)}不能为空"} for f in required if f not in raw]
    values: dict[str, Any] = {}
    for field, value in raw.items():
        try:
            values[field] = checks[field](value)
        except DomainError as exc:
            errors.append({"field": field, "message": exc.message})
    if errors:
        raise Refused(errors)
    return values
