"""The registers of people, places, things and organizations (人、地、物、组织).

Personal identifiers are stored encrypted (core.fields) with a keyed hash beside them for lookup;
only registry.services writes these tables, and it fills both.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shequ.core.fields import EncryptedTextField
from shequ.core.models import SourcedModel, TimeStampedModel


class Located(models.Model):
    """A WGS-84 point and the unit grid it falls in (set by grids.services from the grid index)."""

    lon = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    grid = models.ForeignKey(
        "grids.Grid", null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("网格")
    )

    class Meta:
        abstract = True


class Building(TimeStampedModel, SourcedModel, Located):
    class Use(models.TextChoices):
        RESIDENTIAL = "residential", _("住宅")
        COMMERCIAL = "commercial", _("商业")
        MIXED = "mixed", _("商住")
        SCHOOL = "school", _("学校")
        INDUSTRIAL = "industrial", _("工业")
        PUBLIC = "public", _("公共建筑")
        OTHER = "other", _("其他")

    code = models.CharField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    address = models.CharField(_("地址"), max_length=200)
    use = models.CharField(_("用途"), max_length=20, choices=Use.choices, default=Use.RESIDENTIAL)
    floors = models.PositiveSmallIntegerField(_("层数"), null=True, blank=True)
    footprint = models.JSONField(_("轮廓"), null=True, blank=True)  # GeoJSON Polygon, WGS-84

    class Meta:
        ordering = ["code"]
        verbose_name = _("楼栋")
        verbose_name_plural = _("楼栋")

    def __str__(self) -> str:
        return self.name


class Dwelling(TimeStampedModel):
    """One unit (flat, shop) inside a building."""

    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="dwellings")
    unit = models.CharField(_("单元"), max_length=10, blank=True, default="")
    number = models.CharField(_("室号"), max_length=20)
    area_m2 = models.FloatField(_("面积"), null=True, blank=True)
    is_shop = models.BooleanField(_("商铺"), default=False)

    class Meta:
        ordering = ["building", "unit", "number"]
        constraints = [
            models.UniqueConstraint(fields=["building", "unit", "number"], name="dwelling_unique"),
        ]
        verbose_name = _("房屋")
        verbose_name_plural = _("房屋")

    def __str__(self) -> str:
        return f"{self.building.name} {self.unit}{'-' if self.unit else ''}{self.number}"


class Household(TimeStampedModel, SourcedModel):
    number = models.CharField(_("户号"), max_length=40, unique=True)
    dwelling = models.ForeignKey(
        Dwelling, null=True, blank=True, on_delete=models.SET_NULL, related_name="households"
    )
    address = models.CharField(_("地址"), max_length=200, blank=True, default="")
    grid = models.ForeignKey(
        "grids.Grid", null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("网格")
    )

    class Meta:
        ordering = ["number"]
        verbose_name = _("户")
        verbose_name_plural = _("户")

    def __str__(self) -> str:
        return self.number


class Tag(models.Model):
    """A person category (重点人群/特殊人群): elderly living alone, disabled, party member, ...

    Sensitive tags (community correction, ...) are seen only by roles allowed to.
    """

    code = models.CharField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=50)
    is_sensitive = models.BooleanField(_("敏感"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("人员标签")
        verbose_name_plural = _("人员标签")

    def __str__(self) -> str:
        return self.name


class Person(TimeStampedModel, SourcedModel):
    class Gender(models.TextChoices):
        MALE = "male", _("男")
        FEMALE = "female", _("女")

    class Residence(models.TextChoices):
        REGISTERED = "registered", _("户籍人口")
        RESIDENT = "resident", _("常住人口")
        FLOATING = "floating", _("流动人口")

    name = models.CharField(_("姓名"), max_length=50, db_index=True)
    gender = models.CharField(_("性别"), max_length=8, choices=Gender.choices)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    id_number = EncryptedTextField(_("身份证号"), blank=True, default="")
    id_number_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    phone = EncryptedTextField(_("联系电话"), blank=True, default="")
    phone_hash = models.CharField(max_length=64, blank=True, default="", db_index=True, editable=False)
    ethnicity = models.CharField(_("民族"), max_length=20, blank=True, default="")
    residence = models.CharField(
        _("人口类型"), max_length=12, choices=Residence.choices, default=Residence.REGISTERED
    )
    household = models.ForeignKey(
        Household,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
        verbose_name=_("户"),
    )
    relation = models.CharField(_("与户主关系"), max_length=20, blank=True, default="")
    grid = models.ForeignKey(
        "grids.Grid",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("网格"),
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="people", verbose_name=_("标签"))
    note = models.TextField(_("备注"), blank=True, default="")
    is_active = models.BooleanField(_("在册"), default=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("人员")
        verbose_name_plural = _("人员")

    def __str__(self) -> str:
        return self.name


class Organization(TimeStampedModel, SourcedModel, Located):
    class Kind(models.TextChoices):
        ENTERPRISE = "enterprise", _("企业")
        SCHOOL = "school", _("学校")
        SOCIAL = "social", _("社会组织")
        PUBLIC_INSTITUTION = "public_institution", _("事业单位")
        GOVERNMENT = "government", _("机关")
        OTHER = "other", _("其他")

    name = models.CharField(_("名称"), max_length=150, db_index=True)
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices)
    credit_code = models.CharField(_("统一社会信用代码"), max_length=18, null=True, blank=True, unique=True)
    legal_representative = models.CharField(_("法定代表人"), max_length=50, blank=True, default="")
    phone = models.CharField(_("联系电话"), max_length=30, blank=True, default="")
    address = models.CharField(_("地址"), max_length=200, blank=True, default="")
    building = models.ForeignKey(
        Building, null=True, blank=True, on_delete=models.SET_NULL, related_name="organizations"
    )
    staff_count = models.PositiveIntegerField(_("从业人数"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("组织")
        verbose_name_plural = _("组织")

    def __str__(self) -> str:
        return self.name


class AssetCategory(models.Model):
    """部件 categories: the six major classes of the urban-management component standard and
    subclasses under them, as coded data an administrator may extend."""

    code = models.CharField(_("编码"), max_length=10, unique=True)
    name = models.CharField(_("名称"), max_length=50)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("部件类别")
        verbose_name_plural = _("部件类别")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Asset(TimeStampedModel, SourcedModel, Located):
    """部件: a fixed public facility (manhole, street light, hydrant, bin, camera pole)."""

    class Status(models.TextChoices):
        NORMAL = "normal", _("完好")
        DAMAGED = "damaged", _("损坏")
        MISSING = "missing", _("丢失")
        REMOVED = "removed", _("撤除")

    code = models.CharField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    category = models.ForeignKey(
        AssetCategory, on_delete=models.PROTECT, related_name="assets", verbose_name=_("类别")
    )
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.NORMAL)
    owner = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("权属部门")
    )
    address = models.CharField(_("地址"), max_length=200, blank=True, default="")
    note = models.TextField(_("备注"), blank=True, default="")

    class Meta:
        ordering = ["code"]
        verbose_name = _("部件")
        verbose_name_plural = _("部件")

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class Road(TimeStampedModel, SourcedModel):
    """A road or path as a WGS-84 line: part of the places register and of the offline basemap."""

    class Kind(models.TextChoices):
        ARTERIAL = "arterial", _("主干路")
        SECONDARY = "secondary", _("次干路")
        BRANCH = "branch", _("支路")
        PATH = "path", _("小区道路")

    name = models.CharField(_("名称"), max_length=100, blank=True, default="")
    kind = models.CharField(_("等级"), max_length=12, choices=Kind.choices, default=Kind.BRANCH)
    geometry = models.JSONField(_("线形"))  # GeoJSON LineString or MultiLineString

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("道路")
        verbose_name_plural = _("道路")

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} #{self.pk}"
