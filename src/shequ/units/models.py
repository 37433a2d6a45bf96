"""Units (力量): a field user's duty status and the positions their phone posts while on duty.

Positions are personal data: kept `UNITS_POSITION_RETENTION_DAYS` (services.purge_positions), shared
only with consent and only on duty (services.record_position), read only through the selectors' scope.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    ON_DUTY = "on_duty", _("在岗")
    BUSY = "busy", _("忙碌")
    OFF_DUTY = "off_duty", _("下岗")


# Statuses in which a unit shares its position (and shows on the map).
SHARING = frozenset({Status.ON_DUTY, Status.BUSY})


class DutyStatus(models.Model):
    """One field user's status (上岗/忙碌/下岗), their position-sharing consent and, denormalised for
    the map, their last accepted position. The `event_*` fields remember what the last
    "units.position" event said, so that a post publishes only when something changed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="duty", verbose_name=_("用户")
    )
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.OFF_DUTY)
    since = models.DateTimeField(_("状态开始"))
    # Explicit, revocable consent to share the position while on duty (PIPL): null = not given.
    consent_at = models.DateTimeField(_("同意共享位置"), null=True, blank=True)
    last_lon = models.FloatField(null=True, blank=True)
    last_lat = models.FloatField(null=True, blank=True)
    last_accuracy_m = models.FloatField(null=True, blank=True)
    last_at = models.DateTimeField(_("最后定位时间"), null=True, blank=True, db_index=True)
    last_received_at = models.DateTimeField(null=True, blank=True)
    last_grid = models.ForeignKey(
        "grids.Grid", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_at = models.DateTimeField(null=True, blank=True)
    event_lon = models.FloatField(null=True, blank=True)
    event_lat = models.FloatField(null=True, blank=True)
    event_status = models.CharField(max_length=12, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "last_at"], name="duty_status_fresh")]
        verbose_name = _("在岗状态")
        verbose_name_plural = _("在岗状态")

    def __str__(self) -> str:
        return f"{self.user} {self.get_status_display()}"

    @property
    def has_consent(self) -> bool:
        return self.consent_at is not None

    @property
    def is_sharing(self) -> bool:
        return self.has_consent and self.status in SHARING


class Position(models.Model):
    """One accepted position of a unit (WGS-84). `at` is the device's fix time, `received_at` the
    server's; the purge goes by `received_at` (a device clock may be wrong)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="positions", verbose_name=_("用户")
    )
    lon = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    accuracy_m = models.FloatField(_("精度(米)"))
    at = models.DateTimeField(_("定位时间"))
    received_at = models.DateTimeField(_("接收时间"), db_index=True)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices)

    class Meta:
        indexes = [models.Index(fields=["user", "at"], name="position_user_at")]
        verbose_name = _("位置")
        verbose_name_plural = _("位置")

    def __str__(self) -> str:
        return f"{self.user} {self.lat:.6f},{self.lon:.6f} @ {self.at:%Y-%m-%d %H:%M:%S}"
