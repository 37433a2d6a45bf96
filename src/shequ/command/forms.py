"""Forms of the instruction pages. They only check shape and offer choices within the user's reach;
every rule is command.services', which answer a refused act with a DomainError."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shequ.accounts.models import Department, Role
from shequ.cases.models import Urgency
from shequ.command import services
from shequ.command.models import MAX_LEVEL, InstructionState
from shequ.grids.models import Grid
from shequ.grids.selectors import grids_for, visible_grid_ids

TEXT = {"rows": 3}


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        role = Role(obj.role).label
        where = f" · {obj.department.name}" if obj.department_id else ""
        return f"{obj} ({role}{where})"


class GridChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} {obj.code}"


def recipients_for(user: Any) -> Any:
    """The people the user may address: department staff, and area staff who share a grid with the
    user (services check the same)."""
    qs = get_user_model().objects.filter(is_active=True, role__in=[r.value for r in services.RECIPIENT_ROLES])
    visible = visible_grid_ids(user)
    if visible is not None:
        qs = qs.filter(Q(role=Role.DEPARTMENT_HANDLER) | Q(assignments__grid_id__in=visible))
    return qs.exclude(pk=user.pk).select_related("department").distinct().order_by("role", "username")


class SendForm(forms.Form):
    title = forms.CharField(label=_("标题"), max_length=services.TITLE_MAX)
    text = forms.CharField(
        label=_("指令内容"), max_length=services.TEXT_MAX, widget=forms.Textarea(attrs=TEXT)
    )
    urgency = forms.ChoiceField(label=_("紧急程度"), choices=Urgency.choices, initial=Urgency.NORMAL)
    department = forms.ModelChoiceField(
        label=_("接收部门"), queryset=Department.objects.none(), required=False, to_field_name="code"
    )
    recipient = PersonChoiceField(label=_("接收人"), queryset=get_user_model().objects.none(), required=False)
    grid = GridChoiceField(
        label=_("网格"), queryset=Grid.objects.none(), required=False, to_field_name="code"
    )
    case = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1, max_value=2**62)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=80)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(is_active=True).order_by("code")  # type: ignore[attr-defined]
        self.fields["recipient"].queryset = recipients_for(user)  # type: ignore[attr-defined]
        self.fields["grid"].queryset = grids_for(user).order_by("path")  # type: ignore[attr-defined]
        # A double submit (a slow network, a double click) sends one instruction.
        self.fields["idempotency_key"].initial = uuid.uuid4().hex

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("department") and not data.get("recipient"):
            raise forms.ValidationError(_("请指定接收部门或接收人"))
        return data


class NoteForm(forms.Form):
    note = forms.CharField(label=_("说明"), max_length=services.NOTE_MAX, required=False)


class ReportForm(forms.Form):
    text = forms.CharField(
        label=_("反馈内容"), max_length=services.TEXT_MAX, widget=forms.Textarea(attrs=TEXT)
    )


class EscalateForm(forms.Form):
    reason = forms.CharField(label=_("升级原因"), max_length=services.REASON_MAX)
    level = forms.TypedChoiceField(
        label=_("升级到"),
        choices=[("", _("上调一级"))] + [(str(n), f"{n}") for n in range(1, MAX_LEVEL + 1)],
        coerce=int,
        empty_value=None,
        required=False,
    )


ACT_FORMS: dict[str, type[forms.Form]] = {
    "acknowledge": NoteForm,
    "report": ReportForm,
    "escalate": EscalateForm,
    "close": NoteForm,
}
ACT_LABELS = {
    "acknowledge": _("签收"),
    "report": _("反馈"),
    "escalate": _("升级"),
    "close": _("办结"),
}

STATE_TABS = [("", _("全部")), *InstructionState.choices]
