"""Every write of the Open311 app: API keys (made, revoked, counted and rate limited) and posted
service requests, which enter the case loop through `cases.services.intake.report_case` — its
validation, duplicate detection and routing, never a copy of them (docs/open311.md).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from shequ.cases.models import Category, Source
from shequ.cases.services import intake
from shequ.core.audit import audit
from shequ.core.errors import Conflict, DomainError, Invalid
from shequ.open311 import selectors
from shequ.open311.models import ApiKey, Submission
from shequ.registry.selectors import building_address

KEY_BYTES = 32
NAME_MAX = 80
ACCOUNT_MAX = 200
DEVICE_MAX = 200
EMAIL_MAX = 254
MEDIA_URL_MAX = 1000
CJK = re.compile(r"^[\u3400-\u9fff\u00b7]+$")


class RateLimited(DomainError):
    """More requests in a minute than the limit allows."""

    status = 429


# --- keys ----------------------------------------------------------------------------------------


@transaction.atomic
def create_key(name: str, *, actor: Any) -> tuple[ApiKey, str]:
    """Make a key for a client; returns the row and the key itself, which is shown only now."""
    name = str(name or "").strip()
    if not name:
        raise Invalid(_("密钥名称不能为空"), field="name")
    if len(name) > NAME_MAX:
        raise Invalid(_("密钥名称过长(最多 %(n)d 字)") % {"n": NAME_MAX}, field="name")
    if ApiKey.objects.filter(name=name).exists():
        raise Conflict(_("已有名为 %(name)s 的密钥") % {"name": name}, field="name")
    raw = secrets.token_urlsafe(KEY_BYTES)
    key = ApiKey.objects.create(
        name=name,
        prefix=raw[:8],
        key_hash=selectors.hash_key(raw),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit("open311.key_create", actor=actor, target=key, name=name, prefix=key.prefix)
    return key, raw


@transaction.atomic
def revoke_key(key: ApiKey, *, actor: Any) -> ApiKey:
    """Revoke a key: every later request with it is refused (403). Revoking twice changes nothing."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
        audit("open311.key_revoke", actor=actor, target=key, name=key.name)
    return key


def take_request(key: ApiKey | None, client: str) -> None:
    """Count one request against its key's limit (SHEQU_OPEN311_RATE_LIMIT a minute), or the client
    address's (SHEQU_OPEN311_ANON_RATE_LIMIT) without a key; RateLimited past it. The key's
    counters and last use are kept in its row. The window is the clock's minute, in the cache
    (shared by all servers when the cache is Redis)."""
    window = int(time.time() // 60)
    if key is not None:
        bucket, limit = f"open311:rate:key:{key.pk}:{window}", settings.OPEN311_RATE_LIMIT
    else:
        bucket, limit = f"open311:rate:ip:{client[:64]}:{window}", settings.OPEN311_ANON_RATE_LIMIT
    cache.add(bucket, 0, timeout=120)
    try:
        used = cache.incr(bucket)
    except ValueError:  # evicted between add and incr: start again
        cache.set(bucket, 1, timeout=120)
        used = 1
    over = used > limit
    if key is not None:
        counter = "refused_count" if over else "request_count"
        ApiKey.objects.filter(pk=key.pk).update(**{counter: F(counter) + 1, "last_used_at": timezone.now()})
    if over:
        raise RateLimited(_("请求过于频繁: 每分钟最多 %(n)d 次, 请稍后再试") % {"n": limit}, field="api_key")


# --- service requests ----------------------------------------------------------------------------


@dataclasses.dataclass
class RequestIn:
    """A POST service request as the client sent it (text already stripped of control characters)."""

    service: Category
    lat: str = ""
    long: str = ""
    address_string: str = ""
    address_id: str = ""
    description: str = ""
    media_url: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    device_id: str = ""
    account_id: str = ""
    answers: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    photos: Sequence[Any] = ()
    idempotency_key: str = ""


def _limited(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise Invalid(_("%(field)s 过长(最多 %(n)d 字)") % {"field": field, "n": limit}, field=field)
    return value


def reporter_name(first: str, last: str) -> str:
    """姓名 from Open311's first and last name: Chinese names are family name first, unspaced."""
    first, last = first.strip(), last.strip()
    if first and last and CJK.match(first) and CJK.match(last):
        return last + first
    return " ".join(part for part in (first, last) if part)


def _checked_contact(data: RequestIn) -> None:
    data.email = _limited(data.email, "email", EMAIL_MAX)
    if data.email:
        try:
            EmailValidator()(data.email)
        except ValidationError:
            raise Invalid(_("email 不是有效的电子邮件地址"), field="email") from None
    data.account_id = _limited(data.account_id, "account_id", ACCOUNT_MAX)
    data.device_id = _limited(data.device_id, "device_id", DEVICE_MAX)
    data.media_url = _limited(data.media_url, "media_url", MEDIA_URL_MAX)
    if data.media_url:
        try:
            URLValidator(schemes=["http", "https"])(data.media_url)
        except ValidationError:
            raise Invalid(_("media_url 应为 http(s) 链接"), field="media_url") from None


def _location(data: RequestIn) -> tuple[Any, Any, str]:
    """lat/long, else the building of address_id, else address_string alone (the command center
    places it): the spec requires one of the three."""
    address = _limited(data.address_string, "address_string", 200)
    if data.lat or data.long:
        if not (data.lat and data.long):
            raise Invalid(_("lat 与 long 须同时给出"), field="lat" if not data.lat else "long")
        return data.long, data.lat, address
    if data.address_id:
        found = building_address(data.address_id)
        if found is None:
            raise Invalid(
                _("address_id %(id)s 不存在(应为楼栋编码)") % {"id": data.address_id[:40]}, field="address_id"
            )
        lon, lat, building = found
        return lon, lat, address or building
    if address:
        return None, None, address
    raise Invalid(_("须给出位置: lat 和 long, 或 address_string, 或 address_id"), field="lat")


def submit_request(data: RequestIn, *, key: ApiKey) -> Submission:
    """A service request posted with a key becomes a case (source `api`) through `report_case`,
    with its answers, photos and reporter; the submission row links the token to it. Refused input
    writes nothing. A retry with the same idempotency key from the same key returns the first
    submission (report_case finds the case by its source id)."""
    if not key.is_active:
        raise Invalid(_("api_key 已作废"), field="api_key")
    idempotency = _limited(data.idempotency_key, "Idempotency-Key", 80)
    _checked_contact(data)
    lon, lat, address = _location(data)
    description = data.description.strip() or data.service.name  # optional in Open311, not in a case
    name = reporter_name(data.first_name, data.last_name)
    actor = f"open311:{key.name}"
    with transaction.atomic():
        case, created = intake.report_case(
            actor=actor,
            source=Source.API,
            description=description,
            category=data.service,
            lon=lon,
            lat=lat,
            address=address,
            reporter_name=name,
            reporter_phone=data.phone,
            photos=data.photos,
            answers=data.answers,
            source_id=f"open311:{key.pk}:{idempotency}" if idempotency else "",
        )
        if not created:
            existing = Submission.objects.filter(case=case).first()
            if existing is not None:
                return existing
        submission = Submission.objects.create(
            token=secrets.token_urlsafe(18),
            api_key=key,
            case=case,
            service_code=selectors.service_code(data.service),
            account_id=data.account_id,
            email=data.email,
            device_id=data.device_id,
            media_url=data.media_url,
        )
        ApiKey.objects.filter(pk=key.pk).update(report_count=F("report_count") + 1)
        audit(
            "open311.request",
            actor=actor,
            target=case,
            number=case.number,
            token=submission.token,
            service_code=submission.service_code,
            key=key.pk,
        )
    return submission


def answers_from(form: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """`attribute[code]=value` and `attribute[code][]=value` (a multiple choice) of a form."""
    out: dict[str, list[str]] = {}
    for name, values in form.items():
        match = re.fullmatch(r"attribute\[([^\[\]]{1,60})\](\[\])?", name)
        if match:
            out.setdefault(match.group(1), []).extend(values)
    return out
