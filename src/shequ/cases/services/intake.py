"""Intake (上报): a problem enters the platform. One path for every source (ARCHITECTURE §5):
checked before anything is written, idempotent, located in its grid, routed by the most specific
rule, and compared with the open cases nearby so that a second report of one problem attaches to
the first. Photos are decoded before they are stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from shequ.accounts.models import Role
from shequ.cases.events import CaseTransitioned
from shequ.cases.models import (
    OPEN_STATES,
    Case,
    CaseState,
    Category,
    Evidence,
    HistoryEntry,
    RoutingRule,
    Source,
    Stage,
    Urgency,
)
from shequ.cases.services.deadlines import deadline_for
from shequ.cases.services.machine import COMMAND, Action, check, may, record, transition
from shequ.cases.services.questions import check_answers
from shequ.core import crypto
from shequ.core.audit import audit
from shequ.core.errors import Forbidden, Invalid
from shequ.core.geo import distance_m
from shequ.core.outbox import publish
from shequ.grids import index as grid_index
from shequ.grids.models import Grid
from shequ.grids.selectors import visible_grid_ids
from shequ.registry import identifiers
from shequ.registry.services import PHONE_KIND, Checked, check_point

SHANGHAI = ZoneInfo("Asia/Shanghai")
DESCRIPTION_MAX = 2000
MAX_PHOTOS = 9
# Above any phone or drone camera (a 64 MP sensor), far below what would exhaust memory when decoded,
# and below Pillow's own bomb warning (89 MP), which we turn into a refusal too.
MAX_PIXELS = 80_000_000
PHOTO_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
ROUTING = "routing"  # the actor named in the history of what routing rules do
INTAKE = "intake"  # the actor named in the history of a merged duplicate
# The account that reports is the reporter when it reports what it found itself; a caller relayed
# by an operator (hotline, walk-in), a device or another system is named by reporter_name/phone.
SELF_REPORTED_SOURCES = frozenset({Source.GRID_WORKER, Source.INSPECTION})
# The sources each role reports with on the report page, the first the default (the API's too).
# The command center records calls and referrals for others; grid workers and residents report
# what they found themselves. Other accounts (machine accounts with a token) give the source, by
# default `api`.
REPORT_SOURCES: dict[Role, tuple[Source, ...]] = {
    Role.GRID_WORKER: (Source.GRID_WORKER,),
    Role.RESIDENT: (Source.RESIDENT,),
    Role.COMMAND_OPERATOR: (Source.HOTLINE, Source.REFERRAL, Source.INSPECTION, Source.RESIDENT),
    Role.ADMINISTRATOR: (Source.HOTLINE, Source.REFERRAL, Source.INSPECTION, Source.RESIDENT),
}
_NUMBER_TRIES = 8


def report_sources(role: Any) -> tuple[Source, ...]:
    """The sources a role reports with on the report page (none: the page is not theirs)."""
    return REPORT_SOURCES.get(role, ())


def default_source(role: Any) -> Source:
    """The source of a report that names none: the role's first, else `api`."""
    return next(iter(report_sources(role)), Source.API)


def enters_reporter(role: Any) -> bool:
    """Whether a role enters the reporter of a report (name, phone, confidential): the command
    center, which records calls for others; the others report as themselves."""
    return role in COMMAND


# --- photos --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Photo:
    """An upload that decoded as a real image, with what its EXIF says."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str
    taken_at: dt.datetime | None
    lon: float | None
    lat: float | None


def photo_max_bytes() -> int:
    return settings.CASE_PHOTO_MAX_MB * 1024 * 1024


def _read_upload(upload: Any, limit: int, field: str) -> bytes:
    if isinstance(upload, bytes | bytearray):
        data = bytes(upload)
    else:
        size = getattr(upload, "size", None)
        if isinstance(size, int) and size > limit:
            raise Invalid(f"照片过大(最大 {limit // (1024 * 1024)} MB)", field=field)
        if hasattr(upload, "seek"):
            upload.seek(0)
        data = upload.read(limit + 1)
    if len(data) > limit:
        raise Invalid(f"照片过大(最大 {limit // (1024 * 1024)} MB)", field=field)
    if not data:
        raise Invalid("照片是空文件", field=field)
    return data


def inspect_photo(upload: Any, *, field: str = "photo") -> Photo:
    """Decode an upload fully (JPEG, PNG or WebP) and read its EXIF time and GPS; refuse anything
    else with Invalid. Writes nothing."""
    data = _read_upload(upload, photo_max_bytes(), field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(PHOTO_FORMATS)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise Invalid(f"照片像素过多({image.width}×{image.height})", field=field)
                image.load()  # decodes every pixel: a truncated or corrupt file fails here
                exif = image.getexif()
                fmt, width, height = str(image.format), image.width, image.height
    except Invalid:
        raise
    except UnidentifiedImageError:
        raise Invalid("不是 JPEG、PNG 或 WebP 格式的图片", field=field) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid("照片像素过多", field=field) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise Invalid("照片文件已损坏或不完整", field=field) from None
    content_type, extension = PHOTO_FORMATS[fmt]
    lon, lat = exif_gps(exif)
    return Photo(
        data=data,
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        taken_at=exif_taken_at(exif),
        lon=lon,
        lat=lat,
    )


EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 36867, 36881


def exif_taken_at(exif: Image.Exif) -> dt.datetime | None:
    """EXIF DateTimeOriginal, in its OffsetTimeOriginal where given, else in Asia/Shanghai."""
    try:
        ifd = exif.get_ifd(EXIF_IFD)
        raw = str(ifd.get(DATETIME_ORIGINAL, "")).strip("\x00 ")
        taken = dt.datetime.strptime(raw, "%Y:%m:%d %H:%M:%S")
    except (ValueError, TypeError, KeyError):
        return None
    offset = str(ifd.get(OFFSET_TIME_ORIGINAL, "")).strip("\x00 ")
    try:
        tz: dt.tzinfo = dt.datetime.strptime(offset, "%z").tzinfo or SHANGHAI
    except ValueError:
        tz = SHANGHAI
    return taken.replace(tzinfo=tz)


def _degrees(value: Any) -> float | None:
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = d + m / 60 + s / 3600
    return result if math.isfinite(result) else None


def exif_gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    """EXIF GPS as WGS-84 decimal degrees (lon, lat); south and west are negative."""
    try:
        gps = exif.get_ifd(GPS_IFD)
    except (KeyError, ValueError, TypeError):
        return None, None
    lat, lon = _degrees(gps.get(2)), _degrees(gps.get(4))
    if lat is None or lon is None:
        return None, None
    if str(gps.get(1, "N")).strip("\x00 ").upper() == "S":
        lat = -lat
    if str(gps.get(3, "E")).strip("\x00 ").upper() == "W":
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lon, lat


def store_photo(case: Case, photo: Photo, *, actor: Any, kind: str, stored: list[str]) -> Evidence:
    """Keep a checked photo as Evidence of the case (in the caller's transaction); its file's name
    is appended to `stored`, so that the caller can remove it if the transaction fails."""
    evidence = Evidence(
        case=case,
        kind=kind,
        content_type=photo.content_type,
        size=len(photo.data),
        width=photo.width,
        height=photo.height,
        sha256=photo.sha256,
        taken_at=photo.taken_at,
        lon=photo.lon,
        lat=photo.lat,
        uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    # The name is ours, never the client's: the content hash and the decoded format.
    evidence.file.save(f"{photo.sha256[:16]}.{photo.extension}", ContentFile(photo.data), save=False)
    stored.append(str(evidence.file.name))
    evidence.save()
    audit("case.evidence", actor=actor, target=case, number=case.number, kind=kind, sha256=photo.sha256)
    return evidence


def delete_files(names: Iterable[str]) -> None:
    """Remove stored files whose rows rolled back."""
    for name in names:
        default_storage.delete(name)


def _may_add_evidence(actor: Any, case: Case) -> bool:
    if isinstance(actor, str):
        return True  # an internal caller (video, drones) acting as the system
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return False
    if actor.role == Role.RESIDENT:
        return case.reporter_id == actor.pk
    return case.created_by_id == actor.pk or may(actor, Action.NOTE, case)


def add_evidence(
    case: Case,
    upload: Any,
    *,
    actor: Any,
    kind: str = Evidence.Kind.REPORT,
    history: HistoryEntry | None = None,
) -> Evidence:
    """Keep a photo of a case after it decoded as a real image (JPEG, PNG or WebP, at most
    CASE_PHOTO_MAX_MB). A refused upload leaves no file and no row."""
    if kind not in Evidence.Kind.values:
        raise Invalid(f"照片类型无效: {kind!r}", field="kind")
    if not _may_add_evidence(actor, case):
        raise Forbidden(f"您无权为案件 {case.number} 添加照片")
    photo = inspect_photo(upload)
    stored: list[str] = []
    try:
        with transaction.atomic():
            evidence = store_photo(case, photo, actor=actor, kind=kind, stored=stored)
            if history is not None:
                evidence.history = history
                evidence.save(update_fields=["history"])
    except BaseException:
        delete_files(stored)
        raise
    return evidence


# --- routing and duplicates ----------------------------------------------------------------------


def _in_window(rule: RoutingRule, local: dt.time) -> bool:
    if rule.starts_at is None or rule.ends_at is None:
        return True
    if rule.starts_at == rule.ends_at:
        return True  # a window of no length would never apply: read it as all day
    if rule.starts_at < rule.ends_at:
        return rule.starts_at <= local < rule.ends_at
    return local >= rule.starts_at or local < rule.ends_at  # crosses midnight (22:00–06:00)


def route(category: Category | None, grid: Grid | None, at: dt.datetime | None = None) -> RoutingRule | None:
    """The most specific active rule for a case: one naming the category beats one for any; a rule
    on a deeper grid beats one on its parent (a rule on a community covers its unit grids); a rule
    with a time window (Asia/Shanghai, may cross midnight) beats one without; then `priority`,
    then the older rule."""
    local = timezone.localtime(at or timezone.now(), SHANGHAI).time().replace(tzinfo=None)
    paths: list[str] = []
    if grid is not None:
        parts = [p for p in grid.path.split("/") if p]
        paths = ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
    for_category = Q(category__isnull=True)
    if category is not None:
        for_category |= Q(category=category)
    rules = (
        RoutingRule.objects.filter(for_category, is_active=True, department__is_active=True)
        .filter(Q(grid__isnull=True) | Q(grid__path__in=paths, grid__is_active=True))
        .select_related("grid", "department")
    )
    matching = [r for r in rules if _in_window(r, local)]
    if not matching:
        return None
    return max(
        matching,
        key=lambda r: (
            r.category_id is not None,
            len(r.grid.path) if r.grid else 0,
            r.starts_at is not None,
            r.priority,
            -r.pk,
        ),
    )


def find_duplicates(
    category: Category | None,
    lon: float | None,
    lat: float | None,
    at: dt.datetime | None = None,
    *,
    exclude: Case | None = None,
) -> list[Case]:
    """Open cases of the same category reported within the category's duplicate radius (metres,
    inclusive) and window (hours before `at`, inclusive), nearest first; a case that is itself a
    suspected duplicate of another is not offered."""
    if category is None or lon is None or lat is None:
        return []
    at = at or timezone.now()
    radius = category.duplicate_radius_m
    # A box a little wider than the circle, then the exact distance.
    dlat = radius / 111_000 * 1.01 + 1e-7
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    candidates = Case.objects.filter(
        category=category,
        state__in=OPEN_STATES,
        duplicate_of__isnull=True,
        created_at__gte=at - dt.timedelta(hours=category.duplicate_window_hours),
        created_at__lte=at,
        lon__range=(lon - dlon, lon + dlon),
        lat__range=(lat - dlat, lat + dlat),
    )
    if exclude is not None:
        candidates = candidates.exclude(pk=exclude.pk)
    near = []
    for case in candidates:
        distance = distance_m(lon, lat, case.lon, case.lat)  # type: ignore[arg-type]
        if distance <= radius:
            near.append((distance, case.created_at, case.pk, case))
    return [c for *_key, c in sorted(near, key=lambda item: item[:3])]


# --- reporting -----------------------------------------------------------------------------------


def _check_actor(actor: Any) -> None:
    if isinstance(actor, str):
        return  # an internal caller (the video or drone app) reporting as the system
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise Forbidden("请先登录")


def _existing(actor: Any, source: str, idempotency_key: str, source_id: str) -> Case | None:
    """The case a retry of this report already made, if any."""
    if source_id:
        found = Case.objects.filter(source=source, source_id=source_id).first()
        if found is not None:
            return found
    if idempotency_key and not isinstance(actor, str):
        return Case.objects.filter(created_by=actor, idempotency_key=idempotency_key).first()
    return None


def clean_text(value: Any, field: str, label: str, limit: int, *, required: bool = False) -> str:
    """A text input stripped; Invalid (naming the field) when required and blank, or too long."""
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise Invalid(f"{label}不能为空", field=field)
    if len(text) > limit:
        raise Invalid(f"{label}过长(最多 {limit} 字)", field=field)
    return text


@dataclasses.dataclass
class _Report:
    """A report after its checks: what the case row is made of."""

    source: str
    description: str
    category: Category | None
    urgency: str
    lon: float | None
    lat: float | None
    grid_id: int | None
    address: str
    title: str
    reporter: Any
    reporter_name: str
    reporter_phone: str
    reporter_confidential: bool
    idempotency_key: str
    source_id: str
    created_by: Any
    answers: dict[str, Any] = dataclasses.field(default_factory=dict)


def _check_report(
    *,
    actor: Any,
    source: str,
    description: str,
    category: Category | None,
    lon: Any,
    lat: Any,
    address: str,
    title: str,
    urgency: str | None,
    reporter_name: str,
    reporter_phone: str,
    reporter_confidential: bool,
    idempotency_key: str,
    source_id: str,
) -> _Report:
    """Every check of a report, before anything is written: Invalid (with the field) or Forbidden."""
    if source not in Source.values:
        raise Invalid(f"来源无效: {source!r}", field="source")
    is_user = not isinstance(actor, str)
    role = Role(actor.role) if is_user else None
    if role == Role.RESIDENT and source != Source.RESIDENT:
        raise Forbidden("居民只能以“居民上报”来源上报", field="source")
    text = clean_text(description, "description", "问题描述", DESCRIPTION_MAX, required=True)
    if category is not None:
        if not isinstance(category, Category):
            raise Invalid("类别无效", field="category")
        if category.parent_id is None or not category.is_active:
            raise Invalid(f"类别须为启用中的小类, {category} 不是", field="category")
    if not urgency:
        urgency = category.urgency if category is not None else Urgency.NORMAL
    elif urgency not in Urgency.values:
        raise Invalid(f"紧急程度无效: {urgency!r}", field="urgency")
    point = Checked()
    check_point({"lon": lon, "lat": lat}, point)
    point.raise_first()
    x, y = point.values["lon"], point.values["lat"]
    grid_id = grid_index.locate(x, y)
    if role == Role.GRID_WORKER:
        if x is None:
            raise Invalid("网格员上报须带位置(经纬度, WGS-84)", field="lon")
        visible = visible_grid_ids(actor)
        if visible is not None and grid_id not in visible:
            raise Forbidden("上报位置不在您负责的网格内", field="lon")
    phone = ""
    if reporter_phone and str(reporter_phone).strip():
        try:
            phone = identifiers.parse_phone(str(reporter_phone)).number
        except identifiers.IdentifierError as exc:
            raise Invalid(f"电话号码无效: {exc}", field="reporter_phone") from None
    self_reported = is_user and (role == Role.RESIDENT or source in SELF_REPORTED_SOURCES)
    return _Report(
        source=source,
        description=text,
        category=category,
        urgency=urgency,
        lon=x,
        lat=y,
        grid_id=grid_id,
        address=clean_text(address, "address", "地址", 200),
        title=clean_text(title, "title", "标题", 100),
        reporter=actor if self_reported else None,
        reporter_name=clean_text(reporter_name, "reporter_name", "上报人姓名", 50),
        reporter_phone=phone,
        reporter_confidential=bool(reporter_confidential),
        idempotency_key=clean_text(idempotency_key, "idempotency_key", "幂等键", 80),
        source_id=clean_text(source_id, "source_id", "来源编号", 120),
        created_by=actor if is_user else None,
    )


def _next_number(now: dt.datetime) -> str:
    """Date in Asia/Shanghai and the day's sequence: 2026112900017."""
    prefix = timezone.localtime(now, SHANGHAI).strftime("%Y%m%d")
    last = (
        Case.objects.filter(number__regex=rf"^{prefix}[0-9]+$")
        .order_by(Length("number").desc(), "-number")
        .values_list("number", flat=True)
        .first()
    )
    sequence = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{sequence:05d}"


def _insert(report: _Report, *, actor: Any, now: dt.datetime) -> tuple[Case, bool]:
    """Insert the case under a fresh number. Two reports at once may pick the same number: the
    unique constraint refuses the second, which takes the next one. A concurrent retry of the same
    report hits the idempotency constraints instead, and gets the case the first one made."""
    error: IntegrityError | None = None
    for _attempt in range(_NUMBER_TRIES):
        case = Case(
            number=_next_number(now),
            source=report.source,
            source_id=report.source_id,
            category=report.category,
            title=report.title,
            description=report.description,
            urgency=report.urgency,
            lon=report.lon,
            lat=report.lat,
            address=report.address,
            grid_id=report.grid_id,
            reporter=report.reporter,
            reporter_name=report.reporter_name,
            reporter_phone=report.reporter_phone,
            reporter_phone_hash=crypto.keyed_hash(PHONE_KIND, report.reporter_phone)
            if report.reporter_phone
            else "",
            reporter_confidential=report.reporter_confidential,
            state=CaseState.REPORTED,
            stage=Stage.FILE,
            stage_started_at=now,
            due_at=deadline_for(report.category, Stage.FILE, now),
            idempotency_key=report.idempotency_key,
            created_by=report.created_by,
            answers=report.answers,
        )
        try:
            with transaction.atomic():
                case.save(force_insert=True)
        except IntegrityError as exc:
            error = exc
            existing = _existing(actor, report.source, report.idempotency_key, report.source_id)
            if existing is not None:
                return existing, False
            continue
        return case, True
    assert error is not None
    raise error


def _publish_report(case: Case, now: dt.datetime) -> None:
    publish(
        CaseTransitioned(
            case_id=case.pk,
            number=case.number,
            action=Action.REPORT.value,
            from_state="",
            to_state=CaseState.REPORTED.value,
            grid_id=case.grid_id,
            department_id=case.department_id,
            urgency=case.urgency,
            at=now.isoformat(),
        )
    )


def _apply_routing(case: Case, rule: RoutingRule) -> None:
    """File (and dispatch) as the rule says, through the state machine, as the system."""
    if not (rule.auto_file or rule.auto_dispatch):
        return
    transition(case, Action.FILE, actor=ROUTING, reason=f"派遣规则“{rule.name}”自动立案", rule=rule.pk)
    if rule.auto_dispatch:
        case.department = rule.department
        case.dispatch_count += 1
        transition(
            case,
            Action.DISPATCH,
            actor=ROUTING,
            reason=f"派遣规则“{rule.name}”自动派遣至{rule.department.name}",
            update_fields=["department", "dispatch_count"],
            rule=rule.pk,
            department=rule.department.pk,
        )


def _merge(case: Case, into: Case, distance: float) -> None:
    """Attach a new report to the open case it repeats; a note in that case's history says so."""
    into = Case.objects.select_for_update().get(pk=into.pk)
    case.duplicate_of = into
    transition(
        case,
        Action.MERGE,
        actor=INTAKE,
        reason=f"与 {into.number} 重复, 自动合并",
        update_fields=["duplicate_of"],
        into=into.number,
        distance_m=round(distance, 1),
    )
    record(
        into,
        Action.NOTE,
        actor=INTAKE,
        reason=f"重复上报 {case.number} 已合并到本案",
        merged=case.number,
    )


def report_case(
    *,
    actor: Any,
    source: str,
    description: str,
    category: Category | None = None,
    lon: Any = None,
    lat: Any = None,
    address: str = "",
    title: str = "",
    urgency: str | None = None,
    reporter_name: str = "",
    reporter_phone: str = "",
    reporter_confidential: bool = False,
    photos: Sequence[Any] = (),
    idempotency_key: str = "",
    source_id: str = "",
    photo_kind: str = Evidence.Kind.REPORT,
    answers: Mapping[str, Any] | None = None,
) -> tuple[Case, bool]:
    """Report a problem; returns (case, created). A retry (same key from the same account, or the
    same source and source id) returns the first case and False. Refused input writes nothing.
    `photo_kind` is what the photos are kept as: a camera's alert gives its snapshot (`snapshot`).
    `answers` answer the category's extra questions (`questions.check_answers`); None: the caller
    did not ask them, and none is required."""
    _check_actor(actor)
    existing = _existing(actor, source, str(idempotency_key or "").strip(), str(source_id or "").strip())
    if existing is not None:
        return existing, False
    checked_photos = check_photos(photos, "photos")
    lon, lat = _located(lon, lat, checked_photos)
    report = _check_report(
        actor=actor,
        source=source,
        description=description,
        category=category,
        lon=lon,
        lat=lat,
        address=address,
        title=title,
        urgency=urgency,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        reporter_confidential=reporter_confidential,
        idempotency_key=idempotency_key,
        source_id=source_id,
    )
    if answers is not None:
        report.answers = check_answers(report.category, answers)
    stored: list[str] = []
    try:
        with transaction.atomic():
            now = timezone.now()
            case, created = _insert(report, actor=actor, now=now)
            if not created:
                return case, False
            evidence = [
                store_photo(case, p, actor=actor, kind=photo_kind, stored=stored) for p in checked_photos
            ]
            grid = Grid.objects.filter(pk=case.grid_id).first() if case.grid_id else None
            duplicates = find_duplicates(case.category, case.lon, case.lat, now, exclude=case)
            master = duplicates[0] if duplicates else None
            rule = route(case.category, grid, now)
            detail: dict[str, Any] = {"source": case.source}
            if grid is not None:
                detail["grid"] = grid.code
            if rule is not None:
                case.routing_rule = rule
                case.save(update_fields=["routing_rule"])
                detail["routing_rule"] = rule.pk
                detail["routing_rule_name"] = rule.name
            if master is not None:
                detail["duplicate_of"] = master.number
            record(
                case,
                Action.REPORT,
                actor=actor,
                from_state="",
                to_state=CaseState.REPORTED,
                attachments=evidence,
                at=now,
                **detail,
            )
            _publish_report(case, now)
            if master is not None:
                assert case.lon is not None and case.lat is not None
                distance = distance_m(case.lon, case.lat, master.lon, master.lat)  # type: ignore[arg-type]
                if case.category is not None and case.category.merge_duplicates:
                    _merge(case, master, distance)
                else:
                    # Offered: the operator decides (merge or file); routing waits for that.
                    case.duplicate_of = master
                    case.save(update_fields=["duplicate_of", "updated_at"])
            elif rule is not None:
                _apply_routing(case, rule)
    except BaseException:
        delete_files(stored)
        raise
    return case, True


def _located(lon: Any, lat: Any, photos: Sequence[Photo]) -> tuple[Any, Any]:
    """A report given without a location (no GPS fix, no JavaScript) is placed where its first
    geotagged photo was taken (EXIF GPS is WGS-84)."""
    if (lon is None or lon == "") and (lat is None or lat == ""):
        for photo in photos:
            if photo.lon is not None and photo.lat is not None:
                return photo.lon, photo.lat
    return lon, lat


def check_photos(photos: Sequence[Any], field: str) -> list[Photo]:
    """At most MAX_PHOTOS uploads, each decoded (`inspect_photo`); Invalid names the first refused."""
    photos = list(photos or ())
    if len(photos) > MAX_PHOTOS:
        raise Invalid(f"照片最多 {MAX_PHOTOS} 张", field=field)
    checked = []
    for i, upload in enumerate(photos, start=1):
        try:
            checked.append(inspect_photo(upload, field=field))
        except Invalid as exc:
            raise Invalid(f"第 {i} 张照片: {exc.message}", field=field) from None
    return checked


def handle_on_the_spot(
    *,
    actor: Any,
    description: str,
    category: Category | None,
    result: str,
    lon: Any = None,
    lat: Any = None,
    photos: Sequence[Any] = (),
    result_photos: Sequence[Any] = (),
    title: str = "",
    address: str = "",
    idempotency_key: str = "",
) -> tuple[Case, bool]:
    """自行处置: a grid worker found a problem in their grid and solved it there. The case is
    reported and closed at once (`self_handled`), its history showing both steps. Returns (case,
    created); a retry with the same idempotency key returns the first case and False."""
    _check_actor(actor)
    if isinstance(actor, str) or actor.role != Role.GRID_WORKER:
        raise Forbidden("只有网格员可以自行处置")
    existing = _existing(actor, Source.GRID_WORKER, str(idempotency_key or "").strip(), "")
    if existing is not None:
        return existing, False
    if category is None:
        raise Invalid("自行处置须选择类别", field="category")
    outcome = clean_text(result, "result", "处置结果", DESCRIPTION_MAX, required=True)
    before = check_photos(photos, "photos")
    lon, lat = _located(lon, lat, before)
    report = _check_report(
        actor=actor,
        source=Source.GRID_WORKER,
        description=description,
        category=category,
        lon=lon,
        lat=lat,
        address=address,
        title=title,
        urgency=None,
        reporter_name="",
        reporter_phone="",
        reporter_confidential=False,
        idempotency_key=idempotency_key,
        source_id="",
    )
    after = check_photos(result_photos, "result_photos")
    stored: list[str] = []
    try:
        with transaction.atomic():
            now = timezone.now()
            case, created = _insert(report, actor=actor, now=now)
            if not created:
                return case, False
            report_evidence = [
                store_photo(case, p, actor=actor, kind=Evidence.Kind.REPORT, stored=stored) for p in before
            ]
            result_evidence = [
                store_photo(case, p, actor=actor, kind=Evidence.Kind.RESULT, stored=stored) for p in after
            ]
            record(
                case,
                Action.REPORT,
                actor=actor,
                from_state="",
                to_state=CaseState.REPORTED,
                attachments=report_evidence,
                at=now,
                source=case.source,
            )
            _publish_report(case, now)
            check(actor, Action.HANDLE_ON_THE_SPOT, case)
            # Filed, handled and closed in one act: the milestones say so for the measures.
            case.self_handled = True
            case.filed_at = case.handled_at = now
            case.closed_on_time = True
            transition(
                case,
                Action.HANDLE_ON_THE_SPOT,
                actor=actor,
                reason=outcome,
                attachments=result_evidence,
                at=now,
                update_fields=["self_handled", "filed_at", "handled_at", "closed_on_time"],
            )
            # Nobody to call back: the reporter is the grid worker who solved it.
            case.stage, case.stage_started_at, case.due_at = "", None, None
            case.save(update_fields=["stage", "stage_started_at", "due_at"])
    except BaseException:
        delete_files(stored)
        raise
    return case, True
