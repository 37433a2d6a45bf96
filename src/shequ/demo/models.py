"""The record of a generated demo community: `demo-community --if-absent` and `demo-figures` read it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DemoCommunity(models.Model):
    """One row when the database holds the demo community, written in the generation's transaction."""

    seed = models.PositiveIntegerField(_("随机种子"))
    scale = models.FloatField(_("规模"))
    created_at = models.DateTimeField(_("生成时间"), auto_now_add=True)
    seconds = models.FloatField(_("生成用时(秒)"), default=0)
    counts = models.JSONField(_("生成数量"), default=dict, blank=True)

    class Meta:
        verbose_name = _("演示社区")
        verbose_name_plural = _("演示社区")

    def __str__(self) -> str:
        return f"demo scale {self.scale:g} seed {self.seed}"
