"""Open311's own tables: the API keys that clients post with, and one row per service request
posted, which links the Open311 token to the case it became (docs/open311.md).

Only `open311.services` writes these tables. The case itself belongs to the cases app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shequ.core.fields import EncryptedTextField
from shequ.core.models import TimeStampedModel


class ApiKey(TimeStampedModel):
    """A client's key (`api_key`): made and revoked by administrators. Only its SHA-256 is kept;
    the key itself is shown once, when it is made."""

    name = models.CharField(_("名称"), max_length=80, unique=True)
    prefix = models.CharField(_("密钥前缀"), max_length=12, help_text=_("密钥的前 8 位, 便于辨认"))
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(_("作废时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    request_count = models.PositiveBigIntegerField(_("请求次数"), default=0)
    report_count = models.PositiveIntegerField(_("上报次数"), default=0)
    refused_count = models.PositiveIntegerField(_("超限拒绝次数"), default=0)

    class Meta:
        ordering = ["name"]
        verbose_name = _("Open311 密钥")
        verbose_name_plural = _("Open311 密钥")

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Submission(models.Model):
    """One service request posted through Open311: the key that sent it, the token the client
    follows it by, and the case it became. The reporter's contact details are personal data:
    encrypted at rest, never returned by a GET."""

    token = models.CharField(_("令牌"), max_length=40, unique=True)
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.PROTECT, related_name="submissions", verbose_name=_("密钥")
    )
    case = models.OneToOneField(
        "cases.Case", on_delete=models.CASCADE, related_name="open311_submission", verbose_name=_("案件")
    )
    service_code = models.CharField(_("服务编码"), max_length=40)
    account_id = EncryptedTextField(_("账号"), blank=True, default="")
    email = EncryptedTextField(_("电子邮件"), blank=True, default="")
    device_id = EncryptedTextField(_("设备标识"), blank=True, default="")
    media_url = models.URLField(_("媒体链接"), max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(_("提交时间"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("Open311 提交")
        verbose_name_plural = _("Open311 提交")

    def __str__(self) -> str:
        return self.token
