"""Forms of the video pages: the wall's and the alert queue's filters, and the dismissal of an alert.

They check shape only; what may be done to an alert, and whether analytics settings hold together,
is the services' to say (`video.services`), which answer with a DomainError.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from shequ.grids.selectors import grids_for
from shequ.video.models import Alert, AlertKind, AlertState, Camera, CameraStatus

BLANK = [("", "—")]
ALL_STATES = "all"  # the queue's state filter: by default 待研判, "all" shows every state


class _Filter(forms.Form):
    def value(self, name: str) -> Any:
        """A cleaned value, or None where empty or invalid (an invalid filter is shown and ignored)."""
        if not self.is_bound:
            return None
        self.is_valid()
        return self.cleaned_data.get(name) or None


class WallFilter(_Filter):
    q = forms.CharField(label=_("搜索"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("状态"), choices=BLANK + list(CameraStatus.choices), required=False)
    grid: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("网格"), queryset=None, required=False, empty_label="—"
    )

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data)
        grid = self.fields["grid"]
        assert isinstance(grid, forms.ModelChoiceField)
        grid.queryset = grids_for(user).filter(level="grid").only("pk", "code", "name").order_by("code")
        self.fields["q"].widget.attrs["placeholder"] = _("名称、编号或地址")

    def apply(self, qs: QuerySet[Camera], *, skip_status: bool = False) -> QuerySet[Camera]:
        """The filters on a scoped queryset; `skip_status` leaves the status out (for the counts)."""
        if q := self.value("q"):
            qs = qs.filter(Q(name__icontains=q) | Q(code__icontains=q) | Q(address__icontains=q))
        if not skip_status and (status := self.value("status")):
            qs = qs.filter(status=status)
        if grid := self.value("grid"):
            qs = qs.filter(grid=grid)
        return qs


class AlertFilter(_Filter):
    state = forms.ChoiceField(
        label=_("状态"),
        choices=[*AlertState.choices, (ALL_STATES, _("全部"))],
        required=False,
    )
    kind = forms.ChoiceField(label=_("类型"), choices=BLANK + list(AlertKind.choices), required=False)
    camera = forms.CharField(label=_("摄像头"), required=False, max_length=100)

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.fields["camera"].widget.attrs["placeholder"] = _("名称或编号")

    @property
    def shown_state(self) -> str:
        """The state shown: 待研判 unless another (or all) is asked for."""
        return self.value("state") or AlertState.NEW.value

    def apply(self, qs: QuerySet[Alert]) -> QuerySet[Alert]:
        if self.shown_state != ALL_STATES:
            qs = qs.filter(state=self.shown_state)
        if kind := self.value("kind"):
            qs = qs.filter(kind=kind)
        if camera := self.value("camera"):
            qs = qs.filter(Q(camera__code=camera) | Q(camera__name__icontains=camera))
        return qs


class DismissForm(forms.Form):
    reason = forms.CharField(label=_("误报原因"), required=False, max_length=200)
    ignore_similar = forms.BooleanField(label=_("忽略此处类似告警"), required=False)


class ConfirmForm(forms.Form):
    description = forms.CharField(label=_("补充说明"), required=False, max_length=300)


# --- the zone and rule editor (frontend/src/video-editor.ts reads this spec) ---------------------

# The parameters of each rule kind the editor shows, in order, with their labels; the types,
# defaults and bounds come from the engine's own models (shequ_vision.config), so they never drift.
RULE_FIELDS: dict[str, tuple[str, ...]] = {
    "parking": ("min_minutes", "classes"),
    "vending": ("min_minutes", "classes"),
    "crowd": ("min_people", "min_seconds"),
    "debris": ("min_minutes", "min_area"),
    "intrusion": ("min_seconds", "classes"),
}
COMMON_FIELDS = ("min_score", "cooldown_seconds", "category", "auto_case", "enabled")
FIELD_LABELS = {
    "min_minutes": _("持续(分钟)"),
    "min_seconds": _("持续(秒)"),
    "min_people": _("最少人数"),
    "min_area": _("最小面积(画面比例)"),
    "classes": _("目标类别"),
    "min_score": _("最低置信度"),
    "cooldown_seconds": _("冷却(秒)"),
    "category": _("案件类别编码"),
    "auto_case": _("自动立案"),
    "enabled": _("启用"),
    "schedule": _("生效时段"),
}
# What the editor's script writes itself (statuses, buttons, headings): translated here, as the one
# map's strings are (onemap.views.map_config), since the script has no catalog of its own.
EDITOR_STRINGS = {
    "zone": _("区域"),
    "zones": _("区域 (%(n)s)"),
    "rules": _("规则 (%(n)s)"),
    "new_zone": _("区域%(n)s"),
    "zone_added": _("区域已添加, 请命名并添加规则"),
    "too_few_points": _("区域至少需要 3 个点"),
    "drawing": _("单击添加顶点, 双击或回车闭合, Esc 取消"),
    "draw_hint": _("在画面上单击开始绘制区域"),
    "no_zones": _("未设置区域"),
    "sample_fps": _("分析帧率 (帧/秒)"),
    "add_rule": _("添加规则"),
    "new_rule": _("+ 规则"),
    "delete": _("删除"),
    "delete_rule": _("删除规则"),
    "all_day": _("全天"),
    "days": _("一,二,三,四,五,六,日"),
    "day_names": _("周一,周二,周三,周四,周五,周六,周日"),
    "add_window": _("+ 时段"),
    "delete_window": _("删除时段"),
    "ignored": _("已忽略 %(n)s 处误报"),
    "clear": _("清除"),
    "save": _("保存设置"),
    "saving": _("保存中…"),
    "saved": _("已保存"),
    "save_failed": _("保存失败 (%(status)s)"),
    "network_error": _("网络错误, 未保存"),
}


def _field_spec(schema: dict[str, Any], name: str) -> dict[str, Any]:
    prop = schema["properties"][name]
    kind = prop.get("type")
    if kind is None and "anyOf" in prop:
        kind = next((p.get("type") for p in prop["anyOf"] if p.get("type") != "null"), "string")
    if kind == "array":
        kind = "classes"
    spec: dict[str, Any] = {"name": name, "label": str(FIELD_LABELS.get(name, name)), "type": kind}
    for key in ("default", "minimum", "maximum"):
        if key in prop:
            spec[key] = prop[key]
    if name in {"classes"} and "default" not in spec:
        spec["default"] = []
    return spec


def editor_spec() -> dict[str, Any]:
    """What the editor's script needs: per rule kind its label and fields, and the common fields."""
    from pydantic import BaseModel

    from shequ_vision import config

    models: dict[str, type[BaseModel]] = {
        "parking": config.ParkingRule,
        "vending": config.VendingRule,
        "crowd": config.CrowdRule,
        "debris": config.DebrisRule,
        "intrusion": config.IntrusionRule,
    }
    kinds = {}
    for kind, model in models.items():
        schema = model.model_json_schema()
        defaults = model(id="x", zone="x").model_dump(mode="json")
        fields = [_field_spec(schema, n) | {"default": defaults[n]} for n in RULE_FIELDS[kind]]
        kinds[kind] = {"label": str(AlertKind(kind).label), "fields": fields}
    base = config.ParkingRule.model_json_schema()
    base_defaults = config.ParkingRule(id="x", zone="x").model_dump(mode="json")
    common = [_field_spec(base, n) | {"default": base_defaults[n]} for n in COMMON_FIELDS]
    return {
        "kinds": kinds,
        "common": common,
        "labels": {k: str(v) for k, v in FIELD_LABELS.items()},
        "strings": {k: str(v) for k, v in EDITOR_STRINGS.items()},
    }
