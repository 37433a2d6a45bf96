"""Forms of the drone pages: the mission plan form, its schedule, the import of a .plan file, the
findings queue's filter and acts, and the photo upload.

They check shape only (numbers, choices, files present); whether a plan holds together (an
altitude the camera can fly, overlaps that leave a gap, a grid without a polygon) is the
services' to say (`drones.services.missions`), which answer with a DomainError per field.
Overlaps are asked in percent, as QGroundControl and DJI Pilot show them; the services take
fractions.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from shequ.drones.models import Drone, Finding, FindingKind, FindingState, Pattern, Repeat
from shequ.grids.selectors import grids_for

BLANK = [("", "—")]
ALL_STATES = "all"
MAX_PLAN_BYTES = 2 * 1024 * 1024  # a .plan of thousands of waypoints is ~1 MB
MAX_WAYPOINTS = 500
WEEKDAYS = [
    (1, _("周一")),
    (2, _("周二")),
    (3, _("周三")),
    (4, _("周四")),
    (5, _("周五")),
    (6, _("周六")),
    (7, _("周日")),
]


class _Filter(forms.Form):
    def value(self, name: str) -> Any:
        """A cleaned value, or None where empty or invalid (an invalid filter is shown and ignored)."""
        if not self.is_bound:
            return None
        self.is_valid()
        return self.cleaned_data.get(name) or None


def _grid_field() -> forms.ModelMultipleChoiceField[Any]:
    return forms.ModelMultipleChoiceField(label=_("网格"), queryset=None, required=False)


class MissionForm(forms.Form):
    """规划航线: the parameters of `services.missions.plan_mission`."""

    code = forms.CharField(label=_("编号"), max_length=40)
    name = forms.CharField(label=_("名称"), max_length=100)
    pattern = forms.ChoiceField(
        label=_("航线类型"), choices=[c for c in Pattern.choices if c[0] != Pattern.IMPORTED]
    )
    grids = _grid_field()
    drone: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("无人机"), queryset=None, empty_label="—"
    )
    altitude_m = forms.FloatField(label=_("飞行高度(米)"), initial=100, min_value=1, max_value=1000)
    front_overlap = forms.FloatField(label=_("航向重叠率(%)"), initial=70, min_value=0, max_value=95)
    side_overlap = forms.FloatField(label=_("旁向重叠率(%)"), initial=60, min_value=0, max_value=95)
    angle_deg = forms.FloatField(
        label=_("航线方向(度)"),
        required=False,
        min_value=-360,
        max_value=360,
        help_text=_("留空: 沿网格最长边"),
    )
    speed_m_s = forms.FloatField(label=_("速度(米/秒)"), initial=8, min_value=0.5, max_value=30)
    # Waypoints drawn on the map (drones.ts): a JSON list of [lon, lat, alt].
    waypoints = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64 * 1024)

    def __init__(self, data: Any = None, *, user: Any, drones: QuerySet[Drone]) -> None:
        super().__init__(data)
        grid = self.fields["grids"]
        assert isinstance(grid, forms.ModelMultipleChoiceField)
        grid.queryset = (
            grids_for(user)
            .filter(level="grid", is_active=True, geometry__isnull=False)
            .only("pk", "code", "name")
            .order_by("code")
        )
        drone = self.fields["drone"]
        assert isinstance(drone, forms.ModelChoiceField)
        drone.queryset = drones.filter(is_active=True).order_by("code")

    def clean_waypoints(self) -> list[list[float]] | None:
        raw = self.cleaned_data.get("waypoints") or ""
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            raise forms.ValidationError(_("航点不是有效的 JSON")) from None
        if not isinstance(data, list) or len(data) > MAX_WAYPOINTS:
            raise forms.ValidationError(_("航点应为至多 %(n)s 个 [经度, 纬度, 高度]") % {"n": MAX_WAYPOINTS})
        points = []
        for p in data:
            ok = isinstance(p, list) and len(p) in (2, 3)
            ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
            if not ok or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90):
                raise forms.ValidationError(_("航点应为 [经度, 纬度, 高度]"))
            points.append([float(v) for v in p])
        return points

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        pattern = data.get("pattern")
        if pattern == Pattern.WAYPOINTS:
            if not data.get("waypoints") or len(data["waypoints"]) < 2:
                self.add_error("waypoints", _("请在地图上单击绘制至少 2 个航点"))
        elif pattern and not data.get("grids"):
            self.add_error("grids", _("请选择至少一个网格"))
        return data

    def plan_kwargs(self) -> dict[str, Any]:
        """The cleaned form as `plan_mission`'s keywords (overlaps as fractions; a waypoint drawn
        without an altitude flies at the mission's)."""
        d = self.cleaned_data
        return {
            "code": d["code"],
            "name": d["name"],
            "pattern": d["pattern"],
            "grids": list(d.get("grids") or []),
            "altitude_m": d["altitude_m"],
            "front_overlap": d["front_overlap"] / 100,
            "side_overlap": d["side_overlap"] / 100,
            "angle_deg": d.get("angle_deg"),
            "speed_m_s": d["speed_m_s"],
            "drone": d["drone"],
            "dock": d["drone"].dock if d.get("drone") else None,
            "waypoints": d.get("waypoints") if d["pattern"] == Pattern.WAYPOINTS else None,
        }


class ImportPlanForm(forms.Form):
    """导入航线: a QGroundControl .plan (JSON) or a MAVLink waypoints file (QGC WPL 110)."""

    file = forms.FileField(label=_("航线文件 (.plan / .waypoints)"))
    name = forms.CharField(label=_("名称"), max_length=100, required=False)
    file_name = ""

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        self.file_name = str(upload.name or "")[:100]
        if upload.size > MAX_PLAN_BYTES:
            raise forms.ValidationError(_("文件过大 (至多 2 MB)"))
        return bytes(upload.read())


class ScheduleForm(forms.Form):
    """例行巡查: none, every day, or on some weekdays, at a wall-clock time (Asia/Shanghai)."""

    repeat = forms.ChoiceField(label=_("例行巡查"), choices=Repeat.choices)
    time = forms.TimeField(label=_("起飞时间"), required=False)
    weekdays = forms.TypedMultipleChoiceField(
        label=_("星期"), choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        repeat = data.get("repeat")
        if repeat in (Repeat.DAILY, Repeat.WEEKLY) and not data.get("time"):
            self.add_error("time", _("请填写起飞时间"))
        if repeat == Repeat.WEEKLY and not data.get("weekdays"):
            self.add_error("weekdays", _("每周巡查请选择星期"))
        return data


class FindingFilter(_Filter):
    state = forms.ChoiceField(
        label=_("状态"), choices=[*FindingState.choices, (ALL_STATES, _("全部"))], required=False
    )
    kind = forms.ChoiceField(label=_("类型"), choices=BLANK + list(FindingKind.choices), required=False)
    grid: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("网格"), queryset=None, required=False, empty_label="—"
    )
    flight = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data)
        grid = self.fields["grid"]
        assert isinstance(grid, forms.ModelChoiceField)
        grid.queryset = grids_for(user).filter(level="grid").only("pk", "code", "name").order_by("code")

    @property
    def shown_state(self) -> str:
        """The state shown: 待研判 unless another (or all) is asked for."""
        return self.value("state") or FindingState.NEW.value

    def apply(self, qs: QuerySet[Finding]) -> QuerySet[Finding]:
        if self.shown_state != ALL_STATES:
            qs = qs.filter(state=self.shown_state)
        if kind := self.value("kind"):
            qs = qs.filter(kind=kind)
        if grid := self.value("grid"):
            qs = qs.filter(grid=grid)
        if flight := self.value("flight"):
            qs = qs.filter(Q(photo__flight_id=flight))
        return qs


class ConfirmForm(forms.Form):
    description = forms.CharField(label=_("补充说明"), required=False, max_length=300)


class DismissForm(forms.Form):
    reason = forms.CharField(label=_("误报原因"), required=False, max_length=200)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Many files in one field (Django's recipe): each cleaned as a FileField cleans one."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        one = super().clean
        if isinstance(data, list | tuple):
            return [one(d, initial) for d in data] if data else [one(None, initial)]
        return [one(data, initial)]


class UploadForm(forms.Form):
    """航拍照片上传: many files at once; each is judged on its own (services.photos.ingest_photos)."""

    photos = MultipleFileField(
        label=_("照片"), widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/*"})
    )
    flight: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("架次 (可选)"), queryset=None, required=False, empty_label="—"
    )

    def __init__(self, data: Any = None, files: Any = None, *, flights: QuerySet[Any]) -> None:
        super().__init__(data, files)
        flight = self.fields["flight"]
        assert isinstance(flight, forms.ModelChoiceField)
        flight.queryset = flights.select_related("drone").order_by("-started_at", "-pk")
