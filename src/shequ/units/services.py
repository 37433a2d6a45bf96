"""Writes of units: duty status, consent, positions, and their purge (docs/units.md).

The rules live here once: only field roles have a duty status; positions are accepted only with
consent and only on duty or busy; a post faster than MIN_INTERVAL after the last accepted one is
ignored; an event goes out only when the status changed, the unit moved, or a minute passed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from shequ.accounts.models import Role
from shequ.core.audit import audit
from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.core.geo import distance_m
from shequ.core.outbox import publish
from shequ.grids import index
from shequ.grids.models import Assignment, Level
from shequ.units.events import UnitPosition
from shequ.units.models import SHARING, DutyStatus, Position, Status

# Roles that go out into the field and so have a duty status: 网格员 and 部门处置人员.
FIELD_ROLES = frozenset({Role.GRID_WORKER, Role.DEPARTMENT_HANDLER})
MIN_INTERVAL = dt.timedelta(seconds=5)  # posts closer together than this are ignored
EVENT_DISTANCE_M = 20.0  # moved farther than this since the last event: a new event
EVENT_INTERVAL = dt.timedelta(minutes=1)  # or this long since the last event
MAX_ACCURACY_M = 10_000.0  # a fix vaguer than this says nothing about where the unit is
FUTURE_SKEW = dt.timedelta(minutes=2)  # a phone's clock may run a little fast
MAX_AGE = dt.timedelta(hours=1)  # a fix older than this is history, not a position
DEFAULT_RETENTION_DAYS = 30
PURGE_CHUNK = 5000


def retention_days() -> int:
    """Days positions are kept (SHEQU_UNITS_POSITION_RETENTION_DAYS, 1–3650, default 30)."""
    return int(settings.UNITS_POSITION_RETENTION_DAYS)


def is_field_user(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.role in FIELD_ROLES)


def _check_field_user(user: Any) -> None:
    if not is_field_user(user):
        raise Forbidden(_("只有网格员和部门处置人员有在岗状态"))


def duty_of(user: Any, *, lock: bool = False) -> DutyStatus:
    """The user's DutyStatus row, created off duty on first use (a field user only)."""
    _check_field_user(user)
    qs = DutyStatus.objects.select_for_update() if lock else DutyStatus.objects
    duty = qs.filter(user=user).first()
    if duty is None:
        DutyStatus.objects.get_or_create(user=user, defaults={"since": timezone.now()})
        duty = qs.get(user=user)
    return duty


def home_grid_id(user: Any) -> int | None:
    """The first unit grid a grid worker answers for: the grid an event is scoped by when the unit
    has no position."""
    return (
        Assignment.objects.filter(user=user, grid__level=Level.GRID)
        .order_by("-is_primary", "grid__code")
        .values_list("grid_id", flat=True)
        .first()
    )


def _publish(duty: DutyStatus, now: dt.datetime) -> None:
    """Publish "units.position" for the unit as it is now, and remember what it said."""
    sharing = duty.is_sharing and duty.last_lon is not None
    grid_id = duty.last_grid_id if duty.last_grid_id is not None else home_grid_id(duty.user)
    at = duty.last_at if sharing and duty.last_at else now
    publish(
        UnitPosition(
            user_id=duty.user_id,
            grid_id=grid_id,
            department_id=duty.user.department_id,
            lon=duty.last_lon if sharing else None,
            lat=duty.last_lat if sharing else None,
            status=duty.status,
            at=timezone.localtime(at).isoformat(),
        )
    )
    duty.event_at = now
    duty.event_lon = duty.last_lon if sharing else None
    duty.event_lat = duty.last_lat if sharing else None
    duty.event_status = duty.status


def _forget_position(duty: DutyStatus) -> None:
    """Stop showing where the unit is (off duty, consent revoked): the history stays until the purge."""
    duty.last_lon = duty.last_lat = duty.last_accuracy_m = None
    duty.last_at = duty.last_received_at = None
    duty.last_grid = None


@transaction.atomic
def set_status(user: Any, status: str, *, consent: bool | None = None, actor: Any = None) -> DutyStatus:
    """上岗/忙碌/下岗 and give or revoke the consent to share the position; a field user only,
    for themselves (`actor` defaults to the user). Going off duty or revoking consent stops sharing."""
    actor = actor or user
    if actor.pk != user.pk:
        raise Forbidden(_("只能设置本人的在岗状态"))
    try:
        new = Status(status)
    except ValueError:
        raise Invalid(_("状态应为 在岗/忙碌/下岗 之一"), field="status") from None
    duty = duty_of(user, lock=True)
    now = timezone.now()
    old_status, had_consent = duty.status, duty.has_consent
    if consent is True and duty.consent_at is None:
        duty.consent_at = now
    elif consent is False:
        duty.consent_at = None
    if new != old_status:
        duty.status = new
        duty.since = now
    if not duty.is_sharing:
        _forget_position(duty)
    changed = new != old_status or duty.has_consent != had_consent
    if changed:
        audit(
            "units.status",
            actor=actor,
            target=duty,
            status=new.value,
            previous=old_status,
            consent=duty.has_consent,
        )
        # The map learns of a change of status; a change of consent alone is not news to it,
        # except that a unit that stopped sharing must disappear from it.
        if new != old_status or (had_consent and not duty.has_consent and new in SHARING):
            _publish(duty, now)
    duty.save()
    return duty


@dataclasses.dataclass(frozen=True)
class Recorded:
    """What became of one posted position: `ignored` (too soon after the last one) or kept, and
    whether it was news enough to publish an event."""

    duty: DutyStatus
    position: Position | None
    ignored: bool
    published: bool


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)  # True is an int


def check_fix(lon: Any, lat: Any, accuracy_m: Any, at: dt.datetime, now: dt.datetime) -> None:
    """A fix's values, each bounded (the API checks them too; other callers get the same rule)."""
    for name, value, bound in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        if not _is_number(value) or not math.isfinite(value) or abs(value) > bound:
            raise Invalid(
                _("坐标无效: {name} 应为 ±{bound} 之内的数").format(name=name, bound=bound), field=name
            )
    if not _is_number(accuracy_m) or not math.isfinite(accuracy_m) or not 0 <= accuracy_m <= MAX_ACCURACY_M:
        raise Invalid(_("定位精度应在 0 到 {n} 米之间").format(n=int(MAX_ACCURACY_M)), field="accuracy_m")
    if timezone.is_naive(at):
        raise Invalid(_("定位时间须带时区"), field="at")
    if at > now + FUTURE_SKEW:
        raise Invalid(_("定位时间晚于当前时间, 请校准手机时钟"), field="at")
    if at < now - MAX_AGE:
        raise Invalid(_("定位时间过早 (超过 1 小时), 不再作为当前位置"), field="at")


@transaction.atomic
def record_position(
    user: Any, lon: float, lat: float, accuracy_m: float, at: dt.datetime | None = None
) -> Recorded:
    """A position posted by a field user's phone: kept only with consent, on duty or busy (else a
    409); ignored (harmless) within MIN_INTERVAL of the last one; publishes "units.position" when
    the status changed, the unit moved > 20 m or a minute passed since the last event."""
    now = timezone.now()
    at = at or now
    check_fix(lon, lat, accuracy_m, at, now)
    duty = duty_of(user, lock=True)  # one post at a time per unit: the throttle and event rule hold
    if not duty.has_consent:
        raise Conflict(_("尚未同意共享位置: 请先在上岗页面勾选同意"), field="consent")
    if duty.status not in SHARING:
        raise Conflict(_("下岗状态不共享位置: 请先上岗"), field="status")
    if duty.last_received_at is not None and now - duty.last_received_at < MIN_INTERVAL:
        return Recorded(duty, None, ignored=True, published=False)
    lon, lat, accuracy_m = float(lon), float(lat), float(accuracy_m)
    position = Position.objects.create(
        user=user, lon=lon, lat=lat, accuracy_m=accuracy_m, at=at, received_at=now, status=duty.status
    )
    duty.last_received_at = now
    published = False
    # A fix older than the one shown (sent late by a phone back online) is history only.
    if duty.last_at is None or at >= duty.last_at:
        duty.last_lon, duty.last_lat, duty.last_accuracy_m, duty.last_at = lon, lat, accuracy_m, at
        duty.last_grid_id = index.locate(lon, lat)
        if _is_news(duty, now):
            _publish(duty, now)
            published = True
    duty.save()
    return Recorded(duty, position, ignored=False, published=published)


def _is_news(duty: DutyStatus, now: dt.datetime) -> bool:
    if duty.event_at is None or duty.event_status != duty.status or duty.event_lon is None:
        return True
    if now - duty.event_at >= EVENT_INTERVAL:
        return True
    assert duty.last_lon is not None and duty.last_lat is not None and duty.event_lat is not None
    return distance_m(duty.event_lon, duty.event_lat, duty.last_lon, duty.last_lat) > EVENT_DISTANCE_M


def purge_positions(now: dt.datetime | None = None) -> dict[str, int]:
    """Delete positions received more than the retention period ago, and forget last positions as
    old; idempotent, in chunks (a large table is not locked at once)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=retention_days())
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Position.objects.filter(received_at__lt=cutoff).values_list("pk", flat=True)[:PURGE_CHUNK]
            )
            if not ids:
                break
            deleted += Position.objects.filter(pk__in=ids).delete()[0]
    with transaction.atomic():
        forgotten = DutyStatus.objects.filter(last_received_at__lt=cutoff).update(
            last_lon=None,
            last_lat=None,
            last_accuracy_m=None,
            last_at=None,
            last_received_at=None,
            last_grid=None,
            event_lon=None,
            event_lat=None,
        )
        if deleted or forgotten:
            audit(
                "units.positions_purged",
                actor=None,
                deleted=deleted,
                forgotten=forgotten,
                days=retention_days(),
            )
    return {"deleted": deleted, "forgotten": forgotten}
