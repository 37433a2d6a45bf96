"""Grids (网格) and their hierarchy, grid workers' assignments and duties."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shequ.core.models import TimeStampedModel


class Level(models.TextChoices):
    """Levels of the hierarchy; codes get longer by level (6, 9, 12, 14 digits)."""

    DISTRICT = "district", _("区县")
    STREET = "street", _("街道/乡镇")
    COMMUNITY = "community", _("社区")
    GRID = "grid", _("网格")


CODE_LENGTH_LEVEL = {6: Level.DISTRICT, 9: Level.STREET, 12: Level.COMMUNITY, 14: Level.GRID}


class Grid(TimeStampedModel):
    """A node of the area hierarchy; `level=grid` rows are the unit grids that tile a community.

    The polygon is GeoJSON in WGS-84. `path` ("/620171/620171103/.../") makes "this node and
    everything under it" one indexed prefix query, which is how data scopes are applied.
    """

    code = models.CharField(_("编码"), max_length=20, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("层级"), max_length=12, choices=Level.choices, default=Level.GRID)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("上级"),
    )
    path = models.CharField(max_length=255, db_index=True, editable=False)
    geometry = models.JSONField(_("边界"), null=True, blank=True)
    min_lon = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField(null=True, blank=True)
    max_lon = models.FloatField(null=True, blank=True)
    max_lat = models.FloatField(null=True, blank=True)
    center_lon = models.FloatField(null=True, blank=True)
    center_lat = models.FloatField(null=True, blank=True)
    area_m2 = models.FloatField(_("面积(平方米)"), null=True, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("网格")
        verbose_name_plural = _("网格")

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class Duty(models.Model):
    """网格职责: a category of grid work (information collection, patrol, mediation, ...)."""

    code = models.CharField(_("编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=50)
    description = models.TextField(_("说明"), blank=True, default="")

    class Meta:
        ordering = ["code"]
        verbose_name = _("网格职责")
        verbose_name_plural = _("网格职责")

    def __str__(self) -> str:
        return self.name


class Assignment(TimeStampedModel):
    """A user answers for a grid node: a grid worker for unit grids, an operator for a community.

    A user's data scope is the union of the subtrees of their assignments (grids.selectors).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    grid = models.ForeignKey(Grid, on_delete=models.CASCADE, related_name="assignments")
    duties = models.ManyToManyField(Duty, blank=True, verbose_name=_("职责"))
    is_primary = models.BooleanField(_("专职"), default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "grid"], name="assignment_unique")]
        verbose_name = _("网格分配")
        verbose_name_plural = _("网格分配")

    def __str__(self) -> str:
        return f"{self.user} → {self.grid}"
