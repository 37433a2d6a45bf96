"""Forms of the pages: login with lockout, register filters, import upload, reveal purpose."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shequ.accounts.models import User
from shequ.accounts.services import is_locked
from shequ.grids.selectors import grids_for
from shequ.registry import identifiers
from shequ.registry.imports import KINDS as IMPORT_KINDS_AVAILABLE
from shequ.registry.imports import MODES as IMPORT_MODES_AVAILABLE
from shequ.registry.models import Asset, AssetCategory, Building, Organization, Person
from shequ.registry.selectors import people_with_id_number, people_with_tag, tags_for


class LoginForm(AuthenticationForm):
    """Django's login form; a locked account is told so, with the time the lock ends.

    The backend refuses a locked account without checking the password, so the right password
    is refused too until the lock ends or an administrator unlocks the account.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("用户名或密码错误。"),
        "locked": _("账户已锁定，请于 %(time)s 后重试或联系管理员"),
    }

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError:
            username = self.cleaned_data.get("username")
            user = User.objects.filter(username=username).first() if username else None
            if user is not None and is_locked(user):
                until = timezone.localtime(user.locked_until)
                raise forms.ValidationError(
                    self.error_messages["locked"], code="locked", params={"time": f"{until:%H:%M}"}
                ) from None
            raise


BLANK = [("", "—")]


class RegisterFilter(forms.Form):
    """Base of the list filters: a text search and the grid, both scoped to the user."""

    q = forms.CharField(label=_("搜索"), required=False, max_length=100)
    grid: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("网格"), queryset=None, required=False, empty_label="—"
    )
    search_fields: tuple[str, ...] = ("name",)

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data)
        self.user = user
        grid_field = self.fields["grid"]
        assert isinstance(grid_field, forms.ModelChoiceField)
        grid_field.queryset = grids_for(user).filter(level="grid").only("pk", "code", "name")

    def value(self, name: str) -> Any:
        """A cleaned value, or None where the field was empty or invalid (an invalid filter is
        shown as an error and ignored, it never turns into a server error)."""
        if not self.is_bound:
            return None
        self.is_valid()
        return self.cleaned_data.get(name) or None

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        if text := self.value("q"):
            q = Q()
            for name in self.search_fields:
                q |= Q(**{f"{name}__icontains": text})
            qs = qs.filter(q)
        if grid := self.value("grid"):
            qs = qs.filter(grid=grid)
        return qs


class PeopleFilter(RegisterFilter):
    id_number = forms.CharField(label=_("身份证号"), required=False, max_length=30)
    tag: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("标签"), queryset=None, required=False, empty_label="—"
    )
    residence = forms.ChoiceField(
        label=_("人口类型"), choices=BLANK + list(Person.Residence.choices), required=False
    )
    gender = forms.ChoiceField(label=_("性别"), choices=BLANK + list(Person.Gender.choices), required=False)
    # Bounded: a number past 64 bits is a server error in the database driver, not an empty list.
    household = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1, max_value=2**62)

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data, user=user)
        tag_field = self.fields["tag"]
        assert isinstance(tag_field, forms.ModelChoiceField)
        tag_field.queryset = tags_for(user)
        self.fields["q"].label = _("姓名")

    def clean_id_number(self) -> str:
        value = self.cleaned_data["id_number"].strip()
        if value:
            try:
                return identifiers.parse_resident_id(value).number
            except identifiers.IdentifierError as exc:
                raise forms.ValidationError(_("身份证号无效: %(reason)s"), params={"reason": exc}) from None
        return value

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = super().apply(qs)
        if number := self.value("id_number"):
            qs = people_with_id_number(qs, number)
        if household := self.value("household"):
            qs = qs.filter(household_id=household)
        if tag := self.value("tag"):
            qs = people_with_tag(qs, self.user, tag.code)
        for name in ("residence", "gender"):
            if choice := self.value(name):
                qs = qs.filter(**{name: choice})
        return qs


class BuildingFilter(RegisterFilter):
    use = forms.ChoiceField(label=_("用途"), choices=BLANK + list(Building.Use.choices), required=False)
    search_fields = ("name", "code", "address")

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = super().apply(qs)
        return qs.filter(use=use) if (use := self.value("use")) else qs


class OrganizationFilter(RegisterFilter):
    kind = forms.ChoiceField(label=_("类型"), choices=BLANK + list(Organization.Kind.choices), required=False)
    search_fields = ("name", "credit_code", "address")

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = super().apply(qs)
        return qs.filter(kind=kind) if (kind := self.value("kind")) else qs


class AssetFilter(RegisterFilter):
    category = forms.ModelChoiceField(
        label=_("类别"), queryset=AssetCategory.objects.all(), required=False, empty_label="—"
    )
    status = forms.ChoiceField(label=_("状态"), choices=BLANK + list(Asset.Status.choices), required=False)
    search_fields = ("name", "code", "address")

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = super().apply(qs)
        if category := self.value("category"):
            # A major class selects its subclasses too.
            qs = qs.filter(Q(category=category) | Q(category__parent=category))
        return qs.filter(status=status) if (status := self.value("status")) else qs


class HouseholdFilter(RegisterFilter):
    search_fields = ("number", "address")


class RevealForm(forms.Form):
    purpose = forms.CharField(
        label=_("查看用途"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("如: 入户走访核实身份")}),
    )


# The importer's kinds and modes (registry.imports), with the names the page shows.
IMPORT_KIND_LABELS = {
    "people": _("人员"),
    "households": _("户"),
    "buildings": _("楼栋"),
    "organizations": _("组织"),
    "assets": _("部件"),
}
IMPORT_MODE_LABELS = {"upsert": _("新增或更新"), "create_only": _("仅新增")}
IMPORT_KINDS = [(kind, IMPORT_KIND_LABELS.get(kind, kind)) for kind in IMPORT_KINDS_AVAILABLE]
IMPORT_MODES = [(mode, IMPORT_MODE_LABELS.get(mode, mode)) for mode in IMPORT_MODES_AVAILABLE]
IMPORT_SUFFIXES = (".xlsx", ".csv")


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("数据类型"), choices=IMPORT_KINDS)
    mode = forms.ChoiceField(label=_("导入方式"), choices=IMPORT_MODES, initial="upsert")
    file = forms.FileField(label=_("文件 (.xlsx 或 .csv)"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if PurePath(upload.name).suffix.lower() not in IMPORT_SUFFIXES:
            raise forms.ValidationError(_("只接受 .xlsx 或 .csv 文件"))
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                _("文件过大: 最多 %(mb)s MB"), params={"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)}
            )
        if upload.size == 0:
            raise forms.ValidationError(_("文件是空的"))
        return upload
