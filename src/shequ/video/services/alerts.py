"""Alerts (告警): raised by the engine, an external system or the health sweep; confirmed into a
case, dismissed as a false positive, or filed as a case by their rule at once (docs/video.md).

- `raise_alert` is idempotent on (origin, source_id): a repeated delivery returns the first alert
  and writes nothing. Its snapshot must decode, its clip be a bounded MP4/WebM.
- `confirm_alert` reports the case through `cases.services.intake.report_case` (source camera, the
  camera's point, the blurred snapshot as evidence kind "snapshot", source id "alert:<pk>"): a
  retry is the same case. A dismissed alert cannot be confirmed (409).
- `dismiss_alert` records the false positive; with `ignore_similar` the alert's box joins its
  rule's `ignore` list, so that the engine suppresses a firing there again.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from shequ.cases.models import Case, CaseState, Category, Evidence, Source
from shequ.cases.services.intake import DESCRIPTION_MAX, clean_text, report_case
from shequ.cases.services.machine import Action, transition
from shequ.core.audit import audit
from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.core.outbox import publish
from shequ.video.events import AlertHandled, AlertRaised
from shequ.video.models import Alert, AlertKind, AlertOrigin, AlertState, Camera
from shequ.video.selectors import alerts_for, may_handle
from shequ.video.services import media
from shequ.video.services.cameras import Refused, check_analytics

SYSTEM = "video"  # the actor named when the platform itself acts (auto cases, the health sweep)
# The case category an alert of each kind is filed under unless its rule names another: event
# subclasses of cases migration 0002, and for a camera that is down the 部件 "监控电子眼".
DEFAULT_CATEGORY: dict[str, str] = {
    AlertKind.PARKING: "0504",  # 机动车乱停放
    AlertKind.VENDING: "0501",  # 占道经营
    AlertKind.CROWD: "0408",  # 群体性事件苗头
    AlertKind.DEBRIS: "0107",  # 乱堆物堆料
    AlertKind.INTRUSION: "0604",  # 其他安全隐患
    AlertKind.EXTERNAL: "0605",  # 其他事件
    AlertKind.OFFLINE: "component:0121",  # 部件 监控电子眼
}
FUTURE_SKEW = dt.timedelta(minutes=5)  # a device clock may run a little fast
MAX_AGE = dt.timedelta(days=365)
REASON_MAX = 200
IGNORE_MAX = 100  # boxes a rule may ignore: more says the rule itself is wrong


def resolve_category(code: str) -> Category | None:
    """The active subclass a category code names: "0504" (an event first, then a 部件 of that
    code), or "event:0504" / "component:0121" to say which; None when there is none."""
    code = (code or "").strip()
    if not code:
        return None
    kinds = [Category.Kind.EVENT, Category.Kind.COMPONENT]
    if ":" in code:
        kind, code = code.split(":", 1)
        if kind not in Category.Kind.values:
            return None
        kinds = [Category.Kind(kind)]
    for kind in kinds:
        found = Category.objects.filter(kind=kind, code=code, parent__isnull=False, is_active=True).first()
        if found is not None:
            return found
    return None


def category_for(alert: Alert) -> Category | None:
    """The alert's category: its code, else its kind's default."""
    return resolve_category(alert.category_code) or resolve_category(DEFAULT_CATEGORY.get(alert.kind, ""))


# --- raising ------------------------------------------------------------------------------------


def _short(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    text = "" if value is None else value
    if not isinstance(text, str):
        raise Invalid(f"{field} 应为文本", field=field)
    text = text.strip()
    if "\x00" in text:
        raise Invalid(f"{field} 含有非法字符", field=field)
    if required and not text:
        raise Invalid(f"{field} 不能为空", field=field)
    if len(text) > limit:
        raise Invalid(f"{field} 过长(最多 {limit} 字)", field=field)
    return text


def check_box(box: Any, field: str = "box") -> list[float]:
    """A box [x1, y1, x2, y2] in image fractions (0–1, x1 < x2, y1 < y2), or [] for none."""
    if box is None or (isinstance(box, Sequence) and not isinstance(box, str) and len(box) == 0):
        return []
    message = "目标框应为 [x1, y1, x2, y2], 取值 0–1 (图像宽高的比例), 且 x1<x2, y1<y2"
    if isinstance(box, str | bytes) or not isinstance(box, Sequence) or len(box) != 4:
        raise Invalid(message, field=field)
    values = []
    for v in box:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 <= v <= 1:
            raise Invalid(message, field=field)
        values.append(round(float(v), 5))
    if not (values[0] < values[2] and values[1] < values[3]):
        raise Invalid(message, field=field)
    return values


def _check_time(detected_at: Any) -> dt.datetime:
    if not isinstance(detected_at, dt.datetime) or timezone.is_naive(detected_at):
        raise Invalid("发生时间应为带时区的时间", field="detected_at")
    now = timezone.now()
    if detected_at > now + FUTURE_SKEW:
        raise Invalid("发生时间晚于当前时间, 请校准设备时钟", field="detected_at")
    if detected_at < now - MAX_AGE:
        raise Invalid("发生时间过早 (超过一年)", field="detected_at")
    return detected_at


def _store(field: Any, name: str, data: bytes, stored: list[str]) -> None:
    field.save(name, ContentFile(data), save=False)
    stored.append(str(field.name))


def _delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


VENDOR_DATA_MAX = 8192  # bytes of JSON: a vendor's extra fields, not a second payload


def _vendor_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    if not data:
        return {}
    try:
        size = len(json.dumps(data, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError):
        raise Invalid("厂商数据应为 JSON 对象", field="vendor_data") from None
    if size > VENDOR_DATA_MAX:
        raise Invalid(f"厂商数据过大(最多 {VENDOR_DATA_MAX} 字节)", field="vendor_data")
    return dict(data)


def raise_alert(
    camera: Camera | int,
    *,
    origin: str,
    source_id: str,
    kind: str,
    detected_at: dt.datetime,
    rule_id: str = "",
    zone_id: str = "",
    zone_name: str = "",
    label: str = "",
    confidence: float | None = None,
    box: Sequence[float] = (),
    description: str = "",
    category_code: str = "",
    snapshot: bytes | None = None,
    clip: bytes | None = None,
    auto_case: bool = False,
    vendor_data: Mapping[str, Any] | None = None,
) -> tuple[Alert, bool]:
    """Record one alert with its evidence; returns (alert, created). A repeated (origin, source_id)
    returns the first alert and False. Refused input (Invalid) writes nothing."""
    if isinstance(camera, int):
        found = Camera.objects.filter(pk=camera).first()
        if found is None:
            raise Invalid("摄像头不存在", field="camera")
        camera = found
    if origin not in AlertOrigin.values:
        raise Invalid(f"来源应为 {'/'.join(AlertOrigin.values)} 之一", field="origin")
    if kind not in AlertKind.values:
        raise Invalid(f"类型应为 {'/'.join(AlertKind.values)} 之一", field="kind")
    source_id = _short(source_id, "source_id", 120, required=True)
    existing = Alert.objects.filter(origin=origin, source_id=source_id).first()
    if existing is not None:
        return existing, False
    if confidence is not None and (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not math.isfinite(confidence)
        or not 0 <= confidence <= 1
    ):
        raise Invalid("置信度应为 0–1 之间的数", field="confidence")
    alert = Alert(
        camera=camera,
        kind=kind,
        origin=origin,
        source_id=source_id,
        rule_id=_short(rule_id, "rule_id", 40),
        zone_id=_short(zone_id, "zone_id", 40),
        zone_name=_short(zone_name, "zone_name", 60),
        label=_short(label, "label", 40),
        confidence=None if confidence is None else float(confidence),
        box=check_box(box),
        detected_at=_check_time(detected_at),
        description=_short(description, "description", 300),
        category_code=_short(category_code, "category_code", 20) or DEFAULT_CATEGORY.get(kind, ""),
        vendor_data=_vendor_data(vendor_data),
    )
    shot = media.check_snapshot(snapshot) if snapshot is not None else None
    video = media.clip_extension(clip) if clip is not None else None
    stored: list[str] = []
    try:
        with transaction.atomic():
            stamp = alert.detected_at.strftime("%Y%m%d%H%M%S")
            if shot is not None:
                _store(alert.snapshot, f"{camera.pk}-{stamp}.jpg", shot.data, stored)
            if video is not None:
                _store(alert.clip, f"{camera.pk}-{stamp}.{video[1]}", video[0], stored)
            try:
                with transaction.atomic():
                    alert.save(force_insert=True)
            except IntegrityError:
                # The same delivery, arrived at the same moment through another process.
                _delete(stored)
                stored.clear()
                first = Alert.objects.filter(origin=origin, source_id=source_id).first()
                if first is None:
                    raise
                return first, False
            audit(
                "video.alert_raise",
                actor=SYSTEM,
                target=alert,
                camera=camera.code,
                kind=kind,
                origin=origin,
                source_id=source_id,
                rule=alert.rule_id,
            )
            publish(AlertRaised(alert_id=alert.pk, camera_id=camera.pk, kind=kind, grid_id=camera.grid_id))
            if auto_case:
                _auto_case(alert)
    except BaseException:
        _delete(stored)
        raise
    return alert, True


def _auto_case(alert: Alert) -> None:
    """The rule files its cases itself: the case is reported and filed at once (state FILED of the
    alert), unless intake found it a suspected duplicate, which waits for an operator."""
    case = _report(alert, actor=SYSTEM, category=category_for(alert), description="")
    if case.state == CaseState.REPORTED and case.category_id is not None and case.duplicate_of_id is None:
        transition(
            case, Action.FILE, actor=SYSTEM, reason=f"摄像头规则“{alert.rule_id or alert.kind}”自动立案"
        )
    _handled(alert, AlertState.FILED, actor=SYSTEM, case=case)


# --- confirming and dismissing ------------------------------------------------------------------


def _check_handler(actor: Any, alert: Alert) -> None:
    if isinstance(actor, str):
        return
    if not may_handle(actor):
        raise Forbidden(_("只有指挥中心坐席、系统管理员和网格员可以研判告警"))
    if not alerts_for(actor).filter(pk=alert.pk).exists():
        raise Forbidden(_("该告警不在您的数据范围内"))


def blurred_snapshot(alert: Alert) -> bytes | None:
    """The alert's snapshot with faces and plates blurred, made once and kept (None: no snapshot,
    or it was purged)."""
    if alert.snapshot_blurred:
        try:
            with alert.snapshot_blurred.open("rb") as f:
                return bytes(f.read())
        except OSError:
            pass
    if not alert.snapshot:
        return None
    try:
        with alert.snapshot.open("rb") as f:
            original = bytes(f.read())
    except OSError:
        return None
    blurred = media.blur(original, label=alert.label, box=alert.box or ())
    name = f"{alert.camera_id}-{alert.pk}-blurred.jpg"
    alert.snapshot_blurred.save(name, ContentFile(blurred), save=False)
    Alert.objects.filter(pk=alert.pk).update(snapshot_blurred=alert.snapshot_blurred.name)
    return blurred


def _report(alert: Alert, *, actor: Any, category: Category | None, description: str) -> Case:
    camera = alert.camera
    text = description or alert.description or f"{camera.name}: {alert.get_kind_display()}"
    if alert.zone_name and alert.zone_name not in text:
        text = f"{text} (区域: {alert.zone_name})"
    photo = blurred_snapshot(alert)
    case, _created = report_case(
        actor=actor,
        source=Source.CAMERA,
        description=text[:DESCRIPTION_MAX],
        category=category,
        lon=camera.lon,
        lat=camera.lat,
        address=camera.address,
        title=f"{camera.name} {alert.get_kind_display()}"[:100],
        photos=[photo] if photo else [],
        source_id=f"alert:{alert.pk}",
        photo_kind=Evidence.Kind.SNAPSHOT,
    )
    return case


def _handled(
    alert: Alert, state: AlertState, *, actor: Any, case: Case | None = None, reason: str = ""
) -> None:
    alert.state = state
    alert.case = case
    alert.handled_by = actor if getattr(actor, "is_authenticated", False) else None
    alert.handled_at = timezone.now()
    alert.dismiss_reason = reason
    alert.save(update_fields=["state", "case", "handled_by", "handled_at", "dismiss_reason", "updated_at"])
    audit(
        f"video.alert_{state.value}",
        actor=actor,
        target=alert,
        camera=alert.camera.code,
        kind=alert.kind,
        rule=alert.rule_id,
        case=case.number if case else None,
        reason=reason,
    )
    publish(
        AlertHandled(
            alert_id=alert.pk,
            camera_id=alert.camera_id,
            state=state.value,
            case_id=case.pk if case else None,
            grid_id=alert.camera.grid_id,
        )
    )


@transaction.atomic
def confirm_alert(
    alert: Alert, *, actor: Any, category: Category | None = None, description: str = ""
) -> Case:
    """确认: the alert becomes a case (category: the one given, else the alert's). Confirming an
    alert that is already a case returns that case; a dismissed one is a Conflict."""
    _check_handler(actor, alert)
    alert = Alert.objects.select_for_update(of=("self",)).select_related("camera").get(pk=alert.pk)
    if alert.case_id is not None and alert.state in (AlertState.CONFIRMED, AlertState.FILED):
        assert alert.case is not None
        return alert.case
    if alert.state == AlertState.DISMISSED:
        raise Conflict(_("该告警已标为误报, 不能再确认为案件"))
    text = clean_text(description, "description", "问题描述", DESCRIPTION_MAX)
    case = _report(alert, actor=actor, category=category or category_for(alert), description=text)
    _handled(alert, AlertState.CONFIRMED, actor=actor, case=case)
    return case


@transaction.atomic
def dismiss_alert(alert: Alert, *, actor: Any, reason: str = "", ignore_similar: bool = False) -> Alert:
    """误报: record the false positive (counted per rule); with `ignore_similar` the alert's box is
    added to its rule's ignore list. Dismissing again changes nothing; an alert that became a case
    cannot be dismissed (409)."""
    _check_handler(actor, alert)
    alert = Alert.objects.select_for_update(of=("self",)).select_related("camera").get(pk=alert.pk)
    if alert.state == AlertState.DISMISSED:
        return alert
    if alert.state in (AlertState.CONFIRMED, AlertState.FILED):
        number = alert.case.number if alert.case else ""
        message = _("该告警已转为案件 %(number)s, 不能再标为误报") % {"number": number}
        raise Conflict(message.replace("  ", " "))
    reason = clean_text(reason, "reason", "误报原因", REASON_MAX)
    if ignore_similar:
        _ignore_box(alert, actor=actor)
    _handled(alert, AlertState.DISMISSED, actor=actor, reason=reason)
    return alert


def _ignore_box(alert: Alert, *, actor: Any) -> None:
    """Add the alert's box to its rule's `ignore` list, checked by the engine's schema as any
    settings are."""
    if not alert.rule_id or len(alert.box or []) != 4:
        raise Invalid(_("该告警没有规则或目标框, 无法忽略相似告警"), field="ignore_similar")
    camera = Camera.objects.select_for_update().get(pk=alert.camera_id)
    analytics = dict(camera.analytics or {})
    rules = [dict(r) for r in analytics.get("rules", []) if isinstance(r, dict)]
    rule = next((r for r in rules if r.get("id") == alert.rule_id), None)
    if rule is None:
        raise Invalid(
            _("规则 %(rule)s 已不在该摄像头的分析规则中") % {"rule": alert.rule_id}, field="ignore_similar"
        )
    ignore = [list(b) for b in rule.get("ignore", [])]
    box = [float(v) for v in alert.box]
    if box not in ignore:
        if len(ignore) >= IGNORE_MAX:
            raise Invalid(
                _("规则 %(rule)s 已忽略 %(n)s 个区域, 请调整规则本身")
                % {"rule": alert.rule_id, "n": IGNORE_MAX},
                field="ignore_similar",
            )
        ignore.append(box)
    rule["ignore"] = ignore
    analytics["rules"] = rules
    try:
        clean = check_analytics(analytics)
    except Refused as exc:
        message = _("无法加入忽略列表: %(error)s") % {"error": exc.message}
        raise Invalid(message, field="ignore_similar") from None
    camera.analytics = clean
    camera.save(update_fields=["analytics", "updated_at"])
    audit("video.camera_ignore", actor=actor, target=camera, code=camera.code, rule=alert.rule_id, box=box)
