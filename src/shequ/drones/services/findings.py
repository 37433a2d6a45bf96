"""Findings (航拍发现): what the engine saw in an aerial photo, placed on the ground, with a crop as
evidence; an operator confirms one into a case (source drone) or dismisses it (docs/drones.md,
"Photos and findings").

From detections to findings (`group_detections`), honestly:
- people: a cluster of at least DRONE_CROWD_MIN_PEOPLE people each within DRONE_CROWD_RADIUS_M of
  another → one CROWD finding (人员聚集) with the count; fewer people are a street, not a finding;
- umbrellas and tables (COCO "umbrella", "dining table"): from above, the sunshades and tables of a
  street stall; a cluster of them (within STALL_RADIUS_M) → one VENDING finding (占道经营, to be
  judged by the operator: a café terrace looks the same);
- vehicles are NOT findings: the platform has no no-parking zones, and cars at a kerb are normal;
  a vehicle that was not there on an earlier patrol is found as a CHANGE;
- CHANGE (新增物体): an object present in this photo but not in an earlier patrol's photo of the
  same place (`shequ_vision.change.compare`), most often dumped rubbish or a stall; filed by default
  as 乱堆物堆料.
Everything else a COCO detector knows (birds, kites, ...) is ignored.

`raise_findings` is idempotent: a finding is known by its photo, kind and box (rounded to 1/1000
of the image), so analysing a photo again adds only what was not found before.
`confirm_finding` reports the case through `cases.services.intake.report_case` (source drone, the
finding's point, its crop blurred as evidence, source id "finding:<pk>"): a second confirm is the
same case; a dismissed finding cannot be confirmed (409) nor a confirmed one dismissed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from shequ.cases.models import Case, Category, Evidence, Source
from shequ.cases.services.intake import DESCRIPTION_MAX, clean_text, report_case
from shequ.core.audit import audit
from shequ.core.errors import Conflict, Forbidden
from shequ.core.geo import local_projection
from shequ.core.outbox import publish
from shequ.drones.events import FindingHandled, FindingRaised
from shequ.drones.models import Finding, FindingKind, FindingState, Photo
from shequ.drones.selectors import crop_for, findings_for, may_handle
from shequ.grids.index import locate

SYSTEM = "drones"  # the actor named when the platform itself acts
# The case category a finding of each kind is filed under unless the operator names another
# (event subclasses of cases migration 0002, as the video app's alert kinds).
DEFAULT_CATEGORY: dict[str, str] = {
    FindingKind.CROWD: "0408",  # 群体性事件苗头
    FindingKind.VENDING: "0501",  # 占道经营
    FindingKind.DEBRIS: "0107",  # 乱堆物堆料
    FindingKind.PARKING: "0504",  # 机动车乱停放
    FindingKind.CHANGE: "0107",  # 乱堆物堆料: what appears between patrols is mostly dumped
    FindingKind.OBJECT: "0605",  # 其他事件
}
PEOPLE = frozenset({"person"})
STALL_LABELS = frozenset({"umbrella", "dining table"})
STALL_RADIUS_M = 6.0
CROP_MARGIN = 0.5  # of the box's size on each side: the evidence shows what is around it
CROP_MIN_PX = 96
CROP_MAX_PX = 1024
CROP_QUALITY = 88
REASON_MAX = 200


@dataclass(frozen=True)
class Candidate:
    """A finding to raise: kind, what was seen, where (box in image fractions; lon/lat)."""

    kind: str
    label: str
    count: int
    confidence: float | None
    box: tuple[float, float, float, float]
    lon: float
    lat: float
    compared_with: Photo | None = None

    @property
    def signature(self) -> tuple[str, tuple[float, ...]]:
        return signature(self.kind, self.box)


def signature(kind: str, box: Sequence[float]) -> tuple[str, tuple[float, ...]]:
    return kind, tuple(round(float(v), 3) for v in box)


def resolve_category(code: str) -> Category | None:
    from shequ.video.services.alerts import resolve_category as resolve

    return resolve(code)


def category_for(finding: Finding) -> Category | None:
    """The finding's category: its code, else its kind's default."""
    return resolve_category(finding.category_code) or resolve_category(DEFAULT_CATEGORY.get(finding.kind, ""))


# --- from detections to candidates --------------------------------------------------------------


def _clusters(points: Sequence[tuple[float, float]], radius_m: float) -> list[list[int]]:
    """Single-linkage clusters of (lon, lat) points: two points closer than `radius_m` are in the
    same cluster. Quadratic; a photo holds at most a few hundred detections."""
    if not points:
        return []
    forward, _inverse = local_projection(points[0][0], points[0][1])
    xs, ys = forward(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    xy = np.column_stack([xs, ys])
    parent = list(range(len(points)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    close = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1]) <= radius_m
    for i, j in zip(*np.nonzero(np.triu(close, 1)), strict=True):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(len(points)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _union_box(boxes: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def group_detections(
    detections: Sequence[Any], *, crowd_min: int | None = None, crowd_radius_m: float | None = None
) -> list[Candidate]:
    """Findings from ground detections (shequ_vision.aerial.GroundDetection: label, score, box,
    lon, lat), by the mapping in the module's docstring."""
    crowd_min = crowd_min or settings.DRONE_CROWD_MIN_PEOPLE
    crowd_radius_m = crowd_radius_m or settings.DRONE_CROWD_RADIUS_M
    out: list[Candidate] = []
    for labels, radius, minimum, kind in (
        (PEOPLE, crowd_radius_m, crowd_min, FindingKind.CROWD),
        (STALL_LABELS, STALL_RADIUS_M, 1, FindingKind.VENDING),
    ):
        chosen = [d for d in detections if d.label in labels]
        for members in _clusters([(d.lon, d.lat) for d in chosen], radius):
            if len(members) < minimum:
                continue
            group = [chosen[i] for i in members]
            top = max(group, key=lambda d: d.score)
            out.append(
                Candidate(
                    kind=kind,
                    label=top.label,
                    count=len(group),
                    confidence=round(float(top.score), 4),
                    box=_union_box([d.box for d in group]),
                    lon=float(np.mean([d.lon for d in group])),
                    lat=float(np.mean([d.lat for d in group])),
                )
            )
    return out


def change_candidates(changes: Sequence[Any], earlier: Photo) -> list[Candidate]:
    """CHANGE findings from `shequ_vision.change.compare`'s changes (box in the later photo, lon,
    lat, area_m2, score) against the earlier photo."""
    out = []
    for c in changes:
        out.append(
            Candidate(
                kind=FindingKind.CHANGE,
                label=_("新增物体 %(area).1f 平方米") % {"area": float(c.area_m2)},
                count=1,
                confidence=round(float(c.score), 4) if c.score is not None else None,
                box=tuple(float(v) for v in c.box),  # type: ignore[arg-type]
                lon=float(c.lon),
                lat=float(c.lat),
                compared_with=earlier,
            )
        )
    return out


# --- raising --------------------------------------------------------------------------------------


def crop_jpeg(image: np.ndarray, box: Sequence[float]) -> bytes:
    """The box with a margin around it, as JPEG (at least CROP_MIN_PX, at most CROP_MAX_PX a side)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    cx, cy = (x1 + x2) / 2 * w, (y1 + y2) / 2 * h
    half_w = max((x2 - x1 + 2 * mx) * w, CROP_MIN_PX) / 2
    half_h = max((y2 - y1 + 2 * my) * h, CROP_MIN_PX) / 2
    left, right = max(0, int(cx - half_w)), min(w, math.ceil(cx + half_w))
    top, bottom = max(0, int(cy - half_h)), min(h, math.ceil(cy + half_h))
    crop = image[top:bottom, left:right]
    longest = max(crop.shape[:2])
    if longest > CROP_MAX_PX:
        scale = CROP_MAX_PX / longest
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, CROP_QUALITY])
    if not ok:  # pragma: no cover - a non-empty uint8 image always encodes
        raise ValueError("crop did not encode")
    return bytes(data.tobytes())


def raise_findings(photo: Photo, candidates: Sequence[Candidate], image: np.ndarray) -> list[Finding]:
    """Record the candidates not yet known for this photo (one transaction, the photo's row locked
    so that two analyses of it cannot both add the same finding); FindingRaised for each new one.
    Returns the new findings."""
    stored: list[str] = []
    try:
        with transaction.atomic():
            Photo.objects.select_for_update().filter(pk=photo.pk).first()
            known = {signature(f.kind, f.box) for f in Finding.objects.filter(photo=photo)}
            created: list[Finding] = []
            for c in candidates:
                if c.signature in known:
                    continue
                known.add(c.signature)
                finding = Finding(
                    photo=photo,
                    kind=c.kind,
                    label=c.label[:40],
                    count=max(1, int(c.count)),
                    confidence=c.confidence,
                    box=[round(float(v), 5) for v in c.box],
                    lon=c.lon,
                    lat=c.lat,
                    grid_id=locate(c.lon, c.lat),
                    compared_with=c.compared_with,
                )
                finding.crop.save(
                    f"{photo.pk}-{c.kind}.jpg", ContentFile(crop_jpeg(image, c.box)), save=False
                )
                stored.append(str(finding.crop.name))
                finding.save()
                publish(
                    FindingRaised(
                        finding_id=finding.pk, photo_id=photo.pk, kind=c.kind, grid_id=finding.grid_id
                    )
                )
                created.append(finding)
            if created:
                audit(
                    "drones.findings_raised",
                    actor=SYSTEM,
                    target=photo,
                    findings=[f.pk for f in created],
                    kinds=sorted({f.kind for f in created}),
                )
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return created


# --- confirming and dismissing ------------------------------------------------------------------


def _check_handler(actor: Any, finding: Finding) -> None:
    if isinstance(actor, str):
        return
    if not may_handle(actor):
        raise Forbidden(_("只有指挥中心坐席、系统管理员和网格员可以研判航拍发现"))
    if not findings_for(actor).filter(pk=finding.pk).exists():
        raise Forbidden(_("该航拍发现不在您的数据范围内"))


def blurred_crop(finding: Finding) -> bytes | None:
    """The crop with faces and plates blurred (the video app's filter, which fails closed): a
    case's evidence is seen by departments, outside the command center."""
    return crop_for(SYSTEM, finding)


def _evidence(finding: Finding) -> bytes | None:
    """The blurred crop a confirm files, made before the finding is locked: the filter runs a
    detector, far too slow to hold a row lock over. None when nothing would be filed."""
    return blurred_crop(finding) if finding.state == FindingState.NEW else None


def _locked(finding: Finding) -> Finding:
    rows = Finding.objects.select_for_update(of=("self",)).select_related("photo")
    locked = rows.filter(pk=finding.pk).first()
    if locked is None:  # its photo deleted meanwhile
        raise Conflict(_("该航拍发现已不存在"))
    return locked


def _report(
    finding: Finding,
    *,
    actor: Any,
    category: Category | None,
    description: str,
    evidence: bytes | None = None,
) -> Case:
    kind = finding.get_kind_display()
    what = f"{kind} ({finding.count} 人)" if finding.kind == FindingKind.CROWD else kind
    text = description or _("无人机巡查发现: %(what)s") % {"what": what}
    photo = evidence if evidence is not None else blurred_crop(finding)
    taken = finding.photo.taken_at or finding.photo.created_at
    case, _created = report_case(
        actor=actor,
        source=Source.DRONE,
        description=text[:DESCRIPTION_MAX],
        category=category,
        lon=finding.lon,
        lat=finding.lat,
        title=f"航拍 {kind} {timezone.localtime(taken):%m-%d %H:%M}"[:100],
        photos=[photo] if photo else [],
        source_id=f"finding:{finding.pk}",
        photo_kind=Evidence.Kind.SNAPSHOT,
    )
    return case


def _handled(
    finding: Finding, state: FindingState, *, actor: Any, case: Case | None = None, reason: str = ""
) -> None:
    finding.state = state
    finding.case = case
    finding.handled_by = actor if getattr(actor, "is_authenticated", False) else None
    finding.handled_at = timezone.now()
    finding.dismiss_reason = reason
    finding.save(update_fields=["state", "case", "handled_by", "handled_at", "dismiss_reason", "updated_at"])
    audit(
        f"drones.finding_{state.value}",
        actor=actor,
        target=finding,
        photo=finding.photo_id,
        kind=finding.kind,
        case=case.number if case else None,
        reason=reason,
    )
    publish(
        FindingHandled(
            finding_id=finding.pk,
            state=state.value,
            case_id=case.pk if case else None,
            grid_id=finding.grid_id,
        )
    )


def confirm_finding(
    finding: Finding,
    *,
    actor: Any,
    category: Category | None = None,
    description: str = "",
) -> Case:
    """确认: the finding becomes a case (category: the one given, else the finding's kind's).
    Confirming a finding that is already a case returns that case; a dismissed one is a Conflict.
    The blurred crop is made first, then one transaction with the finding locked."""
    _check_handler(actor, finding)
    evidence = _evidence(finding)
    with transaction.atomic():
        finding = _locked(finding)
        if finding.case_id is not None and finding.state == FindingState.CONFIRMED:
            assert finding.case is not None
            return finding.case
        if finding.state == FindingState.DISMISSED:
            raise Conflict(_("该航拍发现已标为误报, 不能再确认为案件"))
        text = clean_text(description, "description", "问题描述", DESCRIPTION_MAX)
        case = _report(
            finding,
            actor=actor,
            category=category or category_for(finding),
            description=text,
            evidence=evidence,
        )
        _handled(finding, FindingState.CONFIRMED, actor=actor, case=case)
        return case


@transaction.atomic
def dismiss_finding(finding: Finding, *, actor: Any, reason: str = "") -> Finding:
    """误报: dismissing again changes nothing; a finding that became a case cannot be dismissed (409)."""
    _check_handler(actor, finding)
    finding = _locked(finding)
    if finding.state == FindingState.DISMISSED:
        return finding
    if finding.state == FindingState.CONFIRMED:
        number = finding.case.number if finding.case else ""
        raise Conflict(_("该航拍发现已转为案件 %(number)s, 不能再标为误报") % {"number": number})
    reason = clean_text(reason, "reason", "误报原因", REASON_MAX)
    _handled(finding, FindingState.DISMISSED, actor=actor, reason=reason)
    return finding
