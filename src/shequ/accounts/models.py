"""Users, roles and departments. The custom user model exists from the first migration."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from shequ.core.models import TimeStampedModel


class ScopeKind(models.TextChoices):
    """How far a role sees (ARCHITECTURE §7)."""

    ALL = "all", _("全部")
    AREA = "area", _("所辖网格")
    DEPARTMENT = "department", _("本部门")
    SELF = "self", _("本人")


class Role(models.TextChoices):
    COMMAND_OPERATOR = "command_operator", _("指挥中心坐席")
    GRID_WORKER = "grid_worker", _("网格员")
    DEPARTMENT_HANDLER = "department_handler", _("部门处置人员")
    LEADER = "leader", _("领导")
    RESIDENT = "resident", _("居民")
    EMERGENCY_MANAGER = "emergency_manager", _("应急管理员")
    SERVICE_CLERK = "service_clerk", _("政务服务窗口")
    PARTY_OFFICER = "party_officer", _("党建专干")
    ADMINISTRATOR = "administrator", _("系统管理员")

    @property
    def scope(self) -> ScopeKind:
        return ROLE_SCOPE[self]

    @property
    def may_reveal_personal_data(self) -> bool:
        """May this role ask to see unmasked ID and phone numbers (each view audited)?"""
        return self in REVEAL_ROLES


ROLE_SCOPE: dict[Role, ScopeKind] = {
    Role.COMMAND_OPERATOR: ScopeKind.AREA,
    Role.GRID_WORKER: ScopeKind.AREA,
    Role.DEPARTMENT_HANDLER: ScopeKind.DEPARTMENT,
    Role.LEADER: ScopeKind.AREA,
    Role.RESIDENT: ScopeKind.SELF,
    Role.EMERGENCY_MANAGER: ScopeKind.AREA,
    Role.SERVICE_CLERK: ScopeKind.AREA,
    Role.PARTY_OFFICER: ScopeKind.AREA,
    Role.ADMINISTRATOR: ScopeKind.ALL,
}
# Those who must contact or identify residents in their work; leaders see figures, not numbers.
# 指挥中心: the roles that see the command center's pages (the one map, the big screen, the measures).
COMMAND_CENTER_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMMAND_OPERATOR, Role.LEADER})
REVEAL_ROLES = frozenset({Role.COMMAND_OPERATOR, Role.GRID_WORKER, Role.SERVICE_CLERK, Role.ADMINISTRATOR})


class Department(TimeStampedModel):
    """处置部门: a unit that handles cases (law-enforcement squad, property management, ...)."""

    class Kind(models.TextChoices):
        GOVERNMENT = "government", _("政府职能部门")
        ENFORCEMENT = "enforcement", _("执法队伍")
        PROPERTY = "property", _("物业公司")
        UTILITY = "utility", _("公用事业单位")
        COMMUNITY = "community", _("社区居委会")
        OTHER = "other", _("其他")

    code = models.CharField(_("编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, default=Kind.GOVERNMENT)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    phone = models.CharField(_("联系电话"), max_length=30, blank=True, default="")
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("部门")
        verbose_name_plural = _("部门")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who logs in. One role each; the grids they answer for are `grids.Assignment` rows."""

    display_name = models.CharField(_("姓名"), max_length=50, blank=True, default="")
    role = models.CharField(_("角色"), max_length=32, choices=Role.choices, default=Role.RESIDENT)
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("部门"),
    )
    # The resident register entry of a resident account: what "only their own" means.
    person = models.OneToOneField(
        "registry.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="account"
    )
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def role_enum(self) -> Role:
        return Role(self.role)
