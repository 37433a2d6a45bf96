"""Forms of the case pages: the list's filters, the report form, and one form per act on a case.

They only check shape (required, lengths, choices within the user's reach); every rule of the case
loop is the services' (docs/cases.md), which answer a refused act with a DomainError.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shequ.accounts.models import Department, Role
from shequ.cases import selectors
from shequ.cases.models import Case, CaseState, Category, LimitUnit, Source, Urgency
from shequ.cases.services import intake
from shequ.cases.services.machine import ROLES, Action
from shequ.cases.services.workflow import RejectReason
from shequ.grids.selectors import grids_for

BLANK = [("", "—")]
TEXT = {"rows": 3}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Any number of photos (the services decode each and refuse what is not an image)."""

    widget = MultipleFileInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("照片"))
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [f] if (f := single(data, initial)) else []


def category_choices() -> list[tuple[str, Any]]:
    """The two-level tree as option groups (major class → subclasses): a plain <select> that needs
    no script, and cases are filed under subclasses only."""
    subclasses = (
        Category.objects.filter(is_active=True, parent__isnull=False)
        .select_related("parent")
        .order_by("parent__kind", "parent__code", "code")
    )
    groups: dict[int, tuple[str, list[tuple[str, str]]]] = {}
    for c in subclasses:
        assert c.parent is not None
        label = f"{c.parent.get_kind_display()} · {c.parent.name}"
        groups.setdefault(c.parent_id or 0, (label, []))[1].append((str(c.pk), c.name))
    return list(groups.values())


class CategoryChoiceField(forms.TypedChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(coerce=int, empty_value=None, **kwargs)

    def clean(self, value: Any) -> Category | None:
        pk = super().clean(value)
        return None if pk is None else Category.objects.get(pk=pk)


# --- the command center's list ------------------------------------------------------------------


class CaseFilter(forms.Form):
    q = forms.CharField(label=_("搜索"), required=False, max_length=100)
    state = forms.ChoiceField(label=_("状态"), choices=BLANK + list(CaseState.choices), required=False)
    source = forms.ChoiceField(label=_("来源"), choices=BLANK + list(Source.choices), required=False)
    category = CategoryChoiceField(label=_("类别"), required=False)
    grid: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("网格"), queryset=None, required=False, empty_label="—"
    )
    department: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("处置部门"), queryset=None, required=False, empty_label="—"
    )
    start = forms.DateField(
        label=_("上报日期起"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("上报日期止"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    overdue = forms.BooleanField(label=_("超期"), required=False)
    supervised = forms.BooleanField(label=_("督办"), required=False)

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data)
        self.user = user
        self.fields["category"].choices = BLANK + category_choices()  # type: ignore[attr-defined]
        grid = self.fields["grid"]
        assert isinstance(grid, forms.ModelChoiceField)
        grid.queryset = grids_for(user).filter(level="grid").only("pk", "code", "name")
        department = self.fields["department"]
        assert isinstance(department, forms.ModelChoiceField)
        department.queryset = Department.objects.filter(is_active=True).only("pk", "code", "name")

    def value(self, name: str) -> Any:
        """A cleaned value, or None where empty or invalid (shown as an error and ignored)."""
        if not self.is_bound:
            return None
        self.is_valid()
        return self.cleaned_data.get(name) or None

    def apply(self, qs: QuerySet[Case], *, skip_state: bool = False) -> QuerySet[Case]:
        """The filters on a scoped queryset (selectors.filter_cases, as the API's); `skip_state`
        leaves the state out (for the tabs' counts, which show every state of the otherwise
        filtered list)."""
        category, grid, department = self.value("category"), self.value("grid"), self.value("department")
        start, end = self.value("start"), self.value("end")
        return selectors.filter_cases(
            qs,
            state=None if skip_state else self.value("state"),
            source=self.value("source"),
            category_id=category.pk if category else None,
            grid=grid,
            department_code=department.code if department else None,
            overdue=self.value("overdue"),  # unticked: not filtered
            supervised=self.value("supervised"),
            created_from=_day_start(start) if start else None,
            created_before=_day_start(end + dt.timedelta(days=1)) if end else None,
            text=self.value("q"),
        )


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


# --- report (上报) ------------------------------------------------------------------------------


class ReportForm(forms.Form):
    source = forms.ChoiceField(label=_("来源"), choices=())
    category = CategoryChoiceField(label=_("问题类别"), required=False)
    description = forms.CharField(label=_("问题描述"), max_length=2000, widget=forms.Textarea(attrs=TEXT))
    photos = PhotosField(
        label=_("现场照片"),
        widget=MultipleFileInput(attrs={"accept": "image/*", "capture": "environment"}),
    )
    address = forms.CharField(label=_("地址或位置描述"), required=False, max_length=200)
    lon = forms.FloatField(required=False, min_value=-180, max_value=180, widget=forms.HiddenInput)
    lat = forms.FloatField(required=False, min_value=-90, max_value=90, widget=forms.HiddenInput)
    urgency = forms.ChoiceField(label=_("紧急程度"), choices=Urgency.choices, initial=Urgency.NORMAL)
    reporter_name = forms.CharField(label=_("来电人姓名"), required=False, max_length=50)
    reporter_phone = forms.CharField(label=_("来电人电话"), required=False, max_length=30)
    reporter_confidential = forms.BooleanField(label=_("来电人要求保密"), required=False)
    result = forms.CharField(
        label=_("处置结果 (自行处置时填写)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs=TEXT),
    )
    # Made when the page is drawn: a double tap, or a resend after a lost answer, carries the same
    # key, and report_case returns the first case instead of opening a second.
    idempotency_key = forms.CharField(max_length=80, widget=forms.HiddenInput)

    def __init__(self, *args: Any, role: Role, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.role = role
        sources = intake.report_sources(role)
        self.fields["source"].choices = [(s.value, s.label) for s in sources]  # type: ignore[attr-defined]
        self.fields["source"].initial = sources[0].value if sources else None
        self.fields["category"].choices = BLANK + category_choices()  # type: ignore[attr-defined]
        if len(sources) <= 1:
            self.fields["source"].widget = forms.HiddenInput()
        if not self.for_command_center:
            for name in ("reporter_name", "reporter_phone", "reporter_confidential"):
                del self.fields[name]
        if not self.may_self_handle:
            del self.fields["result"]

    @property
    def for_command_center(self) -> bool:
        return intake.enters_reporter(self.role)

    @property
    def may_self_handle(self) -> bool:
        return self.role in ROLES[Action.HANDLE_ON_THE_SPOT]  # 自行处置: grid workers


# --- acts on a case (one form each; the detail page shows those machine.allowed_actions lists) ---


class ActForm(forms.Form):
    """An act with nothing to say but an optional note."""

    note = forms.CharField(
        label=_("说明"), required=False, max_length=1000, widget=forms.Textarea(attrs=TEXT)
    )

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.case = case


class FileForm(ActForm):
    """立案, under the subclass reported with or another (the operator may correct it)."""

    category = CategoryChoiceField(label=_("类别"), required=False)
    urgency = forms.ChoiceField(label=_("紧急程度"), choices=Urgency.choices)

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).update({"category": case.category_id, "urgency": case.urgency})
        super().__init__(*args, case=case, **kwargs)
        self.fields["category"].choices = BLANK + category_choices()  # type: ignore[attr-defined]


class RejectForm(ActForm):
    reason = forms.ChoiceField(label=_("不予立案原因"), choices=RejectReason.choices)


class DispatchForm(ActForm):
    department: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("处置部门"), queryset=Department.objects.none(), empty_label="—"
    )

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        # The routing rule's department is offered first (the case may carry it from intake).
        if case.department_id:
            kwargs.setdefault("initial", {}).setdefault("department", case.department_id)
        super().__init__(*args, case=case, **kwargs)
        field = self.fields["department"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Department.objects.filter(is_active=True).order_by("code")


class ReasonForm(ActForm):
    """Return (退回), reopen (重办): the reason is required."""

    note = forms.CharField(label=_("理由"), max_length=1000, widget=forms.Textarea(attrs=TEXT))


class ExtensionRequestForm(ActForm):
    amount = forms.IntegerField(label=_("延长时限"), min_value=1, max_value=365, initial=2)
    unit = forms.ChoiceField(label=_("单位"), choices=LimitUnit.choices, initial=LimitUnit.DAYS)
    note = forms.CharField(label=_("延期理由"), max_length=1000, widget=forms.Textarea(attrs=TEXT))


class ExtensionDecisionForm(ActForm):
    DECISIONS = [("grant", _("同意延期")), ("refuse", _("不同意"))]
    decision = forms.ChoiceField(
        label=_("审批"), choices=DECISIONS, widget=forms.RadioSelect, initial="grant"
    )
    note = forms.CharField(
        label=_("审批意见 (不同意时必填)"), required=False, max_length=1000, widget=forms.Textarea(attrs=TEXT)
    )


class FeedbackForm(ActForm):
    note = forms.CharField(label=_("处置结果"), max_length=2000, widget=forms.Textarea(attrs=TEXT))
    photos = PhotosField(label=_("处置后照片"))


class VerifyForm(ActForm):
    photos = PhotosField(label=_("核查照片"))


class VerifyFailForm(VerifyForm):
    note = forms.CharField(label=_("未通过原因"), max_length=1000, widget=forms.Textarea(attrs=TEXT))


class CallbackForm(ActForm):
    satisfaction = forms.ChoiceField(
        label=_("满意度"), choices=Case.Satisfaction.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(label=_("意见"), required=False, max_length=500, widget=forms.Textarea(attrs=TEXT))


class MergeForm(ActForm):
    into = forms.CharField(label=_("合并到案件编号"), max_length=20)


class SuperviseForm(ActForm):
    LEVELS = [(1, _("一级督办")), (2, _("二级督办")), (3, _("三级督办"))]
    level = forms.TypedChoiceField(label=_("督办级别"), choices=LEVELS, coerce=int)
    note = forms.CharField(label=_("督办事由"), max_length=200)

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("level", min(case.supervision_level + 1, 3))
        super().__init__(*args, case=case, **kwargs)


class NoteForm(ActForm):
    note = forms.CharField(label=_("备注"), max_length=1000, widget=forms.Textarea(attrs=TEXT))


ACT_FORMS: dict[Action, type[ActForm]] = {
    Action.FILE: FileForm,
    Action.REJECT: RejectForm,
    Action.DISPATCH: DispatchForm,
    Action.ACCEPT: ActForm,
    Action.RETURN: ReasonForm,
    Action.REQUEST_EXTENSION: ExtensionRequestForm,
    Action.DECIDE_EXTENSION: ExtensionDecisionForm,
    Action.FEEDBACK: FeedbackForm,
    Action.VERIFY_OK: VerifyForm,
    Action.VERIFY_FAIL: VerifyFailForm,
    Action.CALLBACK: CallbackForm,
    Action.MERGE: MergeForm,
    Action.REOPEN: ReasonForm,
    Action.SUPERVISE: SuperviseForm,
    Action.NOTE: NoteForm,
}


# --- dashboard ----------------------------------------------------------------------------------

GROUPINGS = [
    ("grid", _("按网格")),
    ("community", _("按社区")),
    ("department", _("按处置部门")),
    ("major_category", _("按大类")),
    ("category", _("按小类")),
    ("source", _("按来源")),
]
PERIODS = [("day", _("按日")), ("week", _("按周")), ("month", _("按月"))]
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366


class DashboardForm(forms.Form):
    start = forms.DateField(
        label=_("开始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=_("结束日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    period = forms.ChoiceField(label=_("统计周期"), choices=PERIODS, required=False)
    group_by = forms.ChoiceField(label=_("分组"), choices=GROUPINGS, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError(_("结束日期不能早于开始日期"))
        if start and end and (end - start).days > MAX_DAYS:
            raise forms.ValidationError(_("统计区间最长三年"))
        return data

    @staticmethod
    def defaults() -> dict[str, Any]:
        end = timezone.localdate()
        return {
            "start": end - dt.timedelta(days=DEFAULT_DAYS - 1),
            "end": end,
            "period": "day",
            "group_by": "grid",
        }

    def choices(self) -> tuple[dt.date, dt.date, str, str]:
        """(start, end, period, group_by): the valid choices, the defaults for the rest (the last
        30 days, by day and grid)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        return start, end, data.get("period") or "day", data.get("group_by") or "grid"
