"""The camera register (摄像头/点位): register, change, and the analytics settings of a camera.

Every field is checked before anything is written (Invalid names the field); the grid comes from
the point (grids.index), never from the client; the password is stored encrypted and never shown.
A scoped writer (an operator of some grids) registers and changes only cameras in their grids.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from shequ.accounts.models import Role
from shequ.core import checks
from shequ.core.audit import audit
from shequ.core.checks import check_code, check_coordinate
from shequ.core.errors import Conflict, Forbidden, Invalid, Refused
from shequ.grids import index as grid_index
from shequ.grids.selectors import visible_grid_ids
from shequ.video.models import Camera, Protocol, Vendor
from shequ.video.selectors import may_manage

URL_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https", "file"})
URL_FIELDS = ("main_stream", "sub_stream", "snapshot_url")
URL_MAX = 500
ANALYTICS_MAX_BYTES = 256 * 1024  # far above 32 zones × 64 points and 64 rules
TEXT_LIMITS = {"name": 100, "address": 200, "username": 100, "password": 200, "source": 40, "source_id": 120}
LABELS = {
    "code": "编号",
    "name": "名称",
    "address": "地址",
    "username": "用户名",
    "password": "密码",
    "source": "来源",
    "source_id": "来源编号",
    "main_stream": "主码流地址",
    "sub_stream": "子码流地址",
    "snapshot_url": "抓图地址",
}


def _text(value: Any, field: str, *, required: bool = False) -> str:
    text = "" if value is None else value
    if not isinstance(text, str):
        raise Invalid(f"{LABELS.get(field, field)}应为文本", field=field)
    text = text.strip()
    if "\x00" in text or any(ord(c) < 32 for c in text):
        raise Invalid(f"{LABELS.get(field, field)}含有控制字符", field=field)
    if required and not text:
        raise Invalid(f"{LABELS.get(field, field)}不能为空", field=field)
    limit = TEXT_LIMITS.get(field, 40)
    if len(text) > limit:
        raise Invalid(f"{LABELS.get(field, field)}过长(最多 {limit} 字)", field=field)
    return text


def check_heading(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Invalid("朝向应为 0–359 的整数(度, 正北为 0, 顺时针)", field="heading")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid("朝向应为 0–359 的整数(度, 正北为 0, 顺时针)", field="heading") from None
    if not math.isfinite(number) or not number.is_integer() or not 0 <= number <= 359:
        raise Invalid("朝向应为 0–359 的整数(度, 正北为 0, 顺时针)", field="heading")
    return int(number)


def check_url(value: Any, field: str) -> str:
    """A stream or snapshot address: rtsp(s)://, http(s):// or file://, no credentials in it (they
    go into the encrypted fields), no spaces or control characters; empty allowed."""
    label = LABELS[field]
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{label}应为文本", field=field)
    url = value.strip()
    if len(url) > URL_MAX:
        raise Invalid(f"{label}过长(最多 {URL_MAX} 字符)", field=field)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise Invalid(f"{label}不能含空格或控制字符", field=field)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise Invalid(f"{label}不是有效的地址", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        raise Invalid(f"{label}应以 rtsp://、http(s):// 或 file:// 开头", field=field)
    if scheme == "file":
        if not parts.path.startswith("/"):
            raise Invalid(f"{label}: file:// 后应为绝对路径", field=field)
        return url
    try:
        host, userinfo = parts.hostname, "@" in parts.netloc
        parts.port  # noqa: B018  (raises ValueError for a port that is no number)
    except ValueError:
        raise Invalid(f"{label}的端口无效", field=field) from None
    if not host:
        raise Invalid(f"{label}缺少主机地址", field=field)
    if userinfo:
        raise Invalid(f"{label}中不要写用户名密码: 请填在“用户名”“密码”中 (加密保存)", field=field)
    return url


def _url_check(value: Any, *, field: str) -> str:
    return check_url(value, field)


def _choice(value: Any, field: str, choices: Any, label: str) -> str:
    if value not in choices.values:
        raise Invalid(f"{label}应为 {'/'.join(choices.values)} 之一", field=field)
    return str(value)


def check_fields(raw: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The clean values of the fields given (all required ones unless `partial`); Refused lists
    every field refused. What a client may set: grid, status, metrics and snapshots are the platform's."""
    field_checks: dict[str, Callable[[Any], Any]] = {
        "code": check_code,
        "name": lambda v: _text(v, "name", required=True),
        "lon": lambda v: check_coordinate(v, "lon"),
        "lat": lambda v: check_coordinate(v, "lat"),
        "heading": check_heading,
        "vendor": lambda v: _choice(v, "vendor", Vendor, "厂商"),
        "protocol": lambda v: _choice(v, "protocol", Protocol, "协议"),
        "watched": _watched,
    }
    for name in URL_FIELDS:
        field_checks[name] = functools.partial(_url_check, field=name)
    for name in ("address", "username", "password", "source", "source_id"):
        field_checks[name] = functools.partial(_text, field=name)
    required = () if partial else ("code", "name", "lon", "lat")
    return checks.check_fields(raw, field_checks, required=required, labels=LABELS)


def _watched(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("接入分析应为 true 或 false", field="watched")
    return value


def _check_writer(actor: Any) -> None:
    if isinstance(actor, str):
        return  # the system (an import run from the command line, the demo generator)
    if not may_manage(actor):
        raise Forbidden(_("只有指挥中心坐席和系统管理员可以登记或修改摄像头"))


def _check_in_scope(actor: Any, grid_id: int | None) -> None:
    if isinstance(actor, str):
        return
    if grid_id is None and actor.role == Role.COMMAND_OPERATOR:
        return  # a camera in no grid is the command center's to place (as in selectors.cameras_for)
    visible = visible_grid_ids(actor)
    if visible is not None and grid_id not in visible:
        raise Forbidden(_("摄像头位置不在您管辖的网格内"), field="lon")


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a change: never the password or the username."""
    shown = {k: v for k, v in values.items() if k not in ("password", "username")}
    if "password" in values:
        shown["password_changed"] = True
    if "username" in values:
        shown["username_changed"] = True
    return shown


@transaction.atomic
def register_camera(*, actor: Any, **fields: Any) -> Camera:
    """登记摄像头: code, name, lon and lat are required; the grid is where the point lies."""
    _check_writer(actor)
    values = check_fields(fields, partial=False)
    if Camera.objects.filter(code=values["code"]).exists():
        raise Conflict(f"编号 {values['code']} 已登记", field="code")
    camera = Camera(**values)
    camera.grid_id = grid_index.locate(camera.lon, camera.lat)
    _check_in_scope(actor, camera.grid_id)
    try:
        with transaction.atomic():
            camera.save(force_insert=True)
    except IntegrityError:
        raise Conflict(f"编号 {values['code']} 已登记", field="code") from None
    audit("video.camera_register", actor=actor, target=camera, **_audited(values))
    return camera


@transaction.atomic
def update_camera(camera: Camera, *, actor: Any, **fields: Any) -> Camera:
    """修改摄像头: only the fields given change; a new point moves it to that point's grid; an empty
    password clears it, an absent one leaves it."""
    _check_writer(actor)
    _check_in_scope(actor, camera.grid_id)
    values = check_fields(fields, partial=True)
    camera = Camera.objects.select_for_update().get(pk=camera.pk)
    code = values.get("code", camera.code)
    if code != camera.code and Camera.objects.filter(code=code).exclude(pk=camera.pk).exists():
        raise Conflict(f"编号 {code} 已登记", field="code")
    changed = {k: v for k, v in values.items() if getattr(camera, k) != v}
    if not changed:
        return camera
    for key, value in changed.items():
        setattr(camera, key, value)
    update = [*changed, "updated_at"]
    if "lon" in changed or "lat" in changed:
        camera.grid_id = grid_index.locate(camera.lon, camera.lat)
        _check_in_scope(actor, camera.grid_id)
        update.append("grid")
    try:
        with transaction.atomic():
            camera.save(update_fields=update)
    except IntegrityError:
        raise Conflict(f"编号 {values.get('code')} 已登记", field="code") from None
    audit("video.camera_update", actor=actor, target=camera, **({"code": camera.code} | _audited(changed)))
    return camera


def check_analytics(data: Any) -> dict[str, Any]:
    """Analytics settings as the engine reads them (shequ_vision.config.CameraAnalytics), every
    default filled in; Refused with one entry per refused field ("rules.0.zone": ...)."""
    from shequ_vision.config import ConfigError, parse_analytics

    if not isinstance(data, dict):
        raise Refused([{"field": "", "message": _("分析规则应为 JSON 对象")}])
    try:
        size = len(json.dumps(data, ensure_ascii=False, allow_nan=False))
    except (ValueError, TypeError, RecursionError):
        raise Refused([{"field": "", "message": _("分析规则含有无法保存的值 (如 NaN 或嵌套过深)")}]) from None
    if size > ANALYTICS_MAX_BYTES:
        message = _("分析规则过大 (最多 %(n)s KB)") % {"n": ANALYTICS_MAX_BYTES // 1024}
        raise Refused([{"field": "", "message": message}])
    try:
        config = parse_analytics(data)
    except ConfigError as exc:
        errors = [
            {"field": str(e.get("field", "")), "message": str(e.get("message", ""))} for e in exc.errors
        ]
        raise Refused(errors or [{"field": "", "message": str(exc)}]) from None
    return config.model_dump(mode="json")


@transaction.atomic
def set_analytics(camera: Camera, data: dict[str, Any], *, actor: Any) -> Camera:
    """Save a camera's zones and rules after the engine's own schema accepted them."""
    _check_writer(actor)
    _check_in_scope(actor, camera.grid_id)
    clean = check_analytics(data)
    camera = Camera.objects.select_for_update().get(pk=camera.pk)
    camera.analytics = clean
    camera.save(update_fields=["analytics", "updated_at"])
    audit(
        "video.camera_analytics",
        actor=actor,
        target=camera,
        code=camera.code,
        zones=len(clean.get("zones", [])),
        rules=[r.get("id") for r in clean.get("rules", [])],
    )
    return camera


def import_cameras(upload: Any, *, actor: Any, filename: str = "") -> Any:
    """Start the import of an uploaded sheet (video.imports) as a job (core.jobs); its report says
    per row what became of it. Only those who manage cameras may import. Returns the Job."""
    from shequ.core.jobs import start_job
    from shequ.video.imports import JOB_KIND  # importing it registers the job's runner

    _check_writer(actor)
    name = (filename or getattr(upload, "name", "") or "cameras.xlsx")[:200]
    return start_job(JOB_KIND, actor=actor, params={"filename": name}, input_file=upload)
