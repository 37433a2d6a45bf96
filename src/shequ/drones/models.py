"""Drones (无人机), docks (机巢), missions (航线/任务), flights (飞行/架次) with their track, aerial
photos (航拍照片) and the findings (航拍发现) the engine makes in them, which an operator confirms
into cases (source drone) or dismisses.

Only `drones.services` writes these tables. Coordinates are WGS-84 (lon, lat); altitudes in metres;
headings in degrees clockwise from north. Routes, footprints and coverage are GeoJSON geometries.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shequ.core.models import SourcedModel, TimeStampedModel


class Dock(TimeStampedModel):
    """机巢: where drones take off and land; `grids` are those its drones can cover."""

    code = models.CharField(_("编号"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    lon = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    # Ground height above sea level: turns a photo's GPS (sea-level) altitude into height above ground.
    elevation_m = models.FloatField(_("海拔(米)"), null=True, blank=True)
    range_m = models.PositiveIntegerField(_("作业半径(米)"), default=3000)
    grids = models.ManyToManyField("grids.Grid", blank=True, related_name="docks", verbose_name=_("覆盖网格"))
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("机巢")
        verbose_name_plural = _("机巢")

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class DroneStatus(models.TextChoices):
    IDLE = "idle", _("待命")
    FLYING = "flying", _("飞行中")
    MAINTENANCE = "maintenance", _("维护")
    OFFLINE = "offline", _("离线")


class Drone(TimeStampedModel):
    """无人机 with its camera (the optics the planner and the footprints need)."""

    code = models.CharField(_("编号"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    model = models.CharField(_("机型"), max_length=60, blank=True, default="")
    serial = models.CharField(_("序列号"), max_length=60, blank=True, default="")
    dock = models.ForeignKey(
        Dock, null=True, blank=True, on_delete=models.SET_NULL, related_name="drones", verbose_name=_("机巢")
    )
    # MAVLink system id of its autopilot: UDP telemetry is matched to the drone by it.
    mavlink_system_id = models.PositiveSmallIntegerField(
        _("MAVLink 系统号"), null=True, blank=True, unique=True
    )
    # The camera (shequ_vision.optics.CameraModel): sensor in millimetres, image in pixels.
    sensor_width_mm = models.FloatField(_("传感器宽(毫米)"))
    sensor_height_mm = models.FloatField(_("传感器高(毫米)"))
    focal_length_mm = models.FloatField(_("焦距(毫米)"))
    image_width = models.PositiveIntegerField(_("照片宽(像素)"))
    image_height = models.PositiveIntegerField(_("照片高(像素)"))
    max_flight_minutes = models.PositiveSmallIntegerField(_("续航(分钟)"), default=30)
    cruise_speed_m_s = models.FloatField(_("巡航速度(米/秒)"), default=8.0)

    status = models.CharField(
        _("状态"), max_length=12, choices=DroneStatus.choices, default=DroneStatus.IDLE, db_index=True
    )
    # Last known position (from telemetry); the live map shows it while flying.
    lon = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    alt_m = models.FloatField(_("相对高度(米)"), null=True, blank=True)
    heading = models.FloatField(_("航向(度)"), null=True, blank=True)
    battery = models.PositiveSmallIntegerField(_("电量(%)"), null=True, blank=True)
    position_at = models.DateTimeField(_("位置时间"), null=True, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("无人机")
        verbose_name_plural = _("无人机")

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class Pattern(models.TextChoices):
    SURVEY = "survey", _("测绘(往返)")
    PERIMETER = "perimeter", _("边界巡线")
    WAYPOINTS = "waypoints", _("自定航点")
    IMPORTED = "imported", _("导入航线")


class Repeat(models.TextChoices):
    NONE = "none", _("不重复")
    DAILY = "daily", _("每天")
    WEEKLY = "weekly", _("每周")


class Mission(TimeStampedModel, SourcedModel):
    """航线/任务: a planned route over grids. `route` is the list of waypoints the drone flies
    ([lon, lat, alt above take-off] each); `coverage` the ground the camera sees along it."""

    code = models.CharField(_("编号"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    pattern = models.CharField(_("航线类型"), max_length=12, choices=Pattern.choices)
    grids = models.ManyToManyField("grids.Grid", blank=True, related_name="missions", verbose_name=_("网格"))
    drone = models.ForeignKey(
        Drone,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="missions",
        verbose_name=_("无人机"),
    )
    dock = models.ForeignKey(
        Dock,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="missions",
        verbose_name=_("机巢"),
    )
    altitude_m = models.FloatField(_("飞行高度(米)"))
    front_overlap = models.FloatField(_("航向重叠率"), default=0.7)  # fractions 0..1
    side_overlap = models.FloatField(_("旁向重叠率"), default=0.6)
    angle_deg = models.FloatField(_("航线方向(度)"), null=True, blank=True)  # null: along the longest side
    speed_m_s = models.FloatField(_("速度(米/秒)"), default=8.0)
    route = models.JSONField(_("航点"), default=list, blank=True)  # [[lon, lat, alt], ...]
    photo_spacing_m = models.FloatField(_("拍照间距(米)"), null=True, blank=True)
    coverage = models.JSONField(_("覆盖范围"), null=True, blank=True)  # GeoJSON geometry
    length_m = models.FloatField(_("航程(米)"), default=0)
    duration_s = models.FloatField(_("预计时长(秒)"), default=0)
    photo_count = models.PositiveIntegerField(_("预计照片数"), default=0)

    repeat = models.CharField(_("例行巡查"), max_length=8, choices=Repeat.choices, default=Repeat.NONE)
    repeat_time = models.TimeField(_("起飞时间"), null=True, blank=True)  # Asia/Shanghai wall clock
    repeat_weekdays = models.JSONField(_("星期"), default=list, blank=True)  # 1..7 = Monday..Sunday
    next_run_at = models.DateTimeField(_("下次执行"), null=True, blank=True, db_index=True)
    is_active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            # An imported file (source "plan", its SHA-256) is one mission however often it is sent.
            models.UniqueConstraint(
                fields=["source", "source_id"], condition=~models.Q(source_id=""), name="mission_source_once"
            )
        ]
        verbose_name = _("航线任务")
        verbose_name_plural = _("航线任务")

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class FlightState(models.TextChoices):
    PLANNED = "planned", _("待执行")
    FLYING = "flying", _("飞行中")
    LANDED = "landed", _("已完成")
    ABORTED = "aborted", _("已中止")


class Flight(TimeStampedModel, SourcedModel):
    """飞行/架次: one flight of a mission (or an ad-hoc one), its track and what it covered."""

    mission = models.ForeignKey(
        Mission,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="flights",
        verbose_name=_("任务"),
    )
    drone = models.ForeignKey(
        Drone, on_delete=models.PROTECT, related_name="flights", verbose_name=_("无人机")
    )
    state = models.CharField(
        _("状态"), max_length=10, choices=FlightState.choices, default=FlightState.PLANNED, db_index=True
    )
    planned_at = models.DateTimeField(_("计划时间"), null=True, blank=True)
    started_at = models.DateTimeField(_("起飞时间"), null=True, blank=True, db_index=True)
    ended_at = models.DateTimeField(_("降落时间"), null=True, blank=True)
    distance_m = models.FloatField(_("飞行距离(米)"), default=0)
    max_alt_m = models.FloatField(_("最大高度(米)"), null=True, blank=True)
    # Ground seen by the camera along the flown track (GeoJSON), computed on landing.
    coverage = models.JSONField(_("覆盖范围"), null=True, blank=True)
    note = models.CharField(_("备注"), max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            # A scheduled patrol or a flight reported by a ground station is one row however often sent.
            models.UniqueConstraint(
                fields=["source", "source_id"], condition=~models.Q(source_id=""), name="flight_source_once"
            )
        ]
        verbose_name = _("飞行架次")
        verbose_name_plural = _("飞行架次")

    def __str__(self) -> str:
        return f"{self.drone_id} {self.started_at or self.planned_at}"


class TrackPoint(models.Model):
    """One telemetry sample of a flight. (flight, at) is unique: a replayed stream adds nothing."""

    flight = models.ForeignKey(Flight, on_delete=models.CASCADE, related_name="track")
    at = models.DateTimeField()
    lon = models.FloatField()
    lat = models.FloatField()
    alt_m = models.FloatField(null=True, blank=True)  # above take-off
    alt_msl_m = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    speed_m_s = models.FloatField(null=True, blank=True)
    battery = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["flight", "at"]
        constraints = [models.UniqueConstraint(fields=["flight", "at"], name="trackpoint_once")]

    def __str__(self) -> str:
        return f"{self.flight_id} {self.at:%H:%M:%S} {self.lon:.6f},{self.lat:.6f}"


class FlightCoverage(models.Model):
    """The share of one grid a flight's camera saw (巡查覆盖率), for the measures."""

    flight = models.ForeignKey(Flight, on_delete=models.CASCADE, related_name="grid_coverage")
    grid = models.ForeignKey("grids.Grid", on_delete=models.CASCADE, related_name="drone_coverage")
    covered_m2 = models.FloatField()
    share = models.FloatField()  # covered / grid area, 0..1

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flight", "grid"], name="flightcoverage_once")]

    def __str__(self) -> str:
        return f"{self.flight_id} {self.grid_id} {self.share:.0%}"


class PhotoState(models.TextChoices):
    NEW = "new", _("待分析")
    ANALYSED = "analysed", _("已分析")
    FAILED = "failed", _("分析失败")


class Photo(TimeStampedModel):
    """航拍照片 with what its metadata says of where the camera was and what it saw. The file's
    SHA-256 makes a second upload of the same photo the same row."""

    flight = models.ForeignKey(
        Flight,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="photos",
        verbose_name=_("架次"),
    )
    drone = models.ForeignKey(
        Drone,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="photos",
        verbose_name=_("无人机"),
    )
    image = models.FileField(_("照片"), upload_to="drones/photos/%Y/%m/")
    name = models.CharField(_("文件名"), max_length=200, blank=True, default="")
    sha256 = models.CharField(max_length=64, unique=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    taken_at = models.DateTimeField(_("拍摄时间"), null=True, blank=True, db_index=True)
    lon = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    alt_m = models.FloatField(_("离地高度(米)"))  # height above ground used for the footprint
    alt_source = models.CharField(
        max_length=20, blank=True, default=""
    )  # xmp_relative, gps_minus_ground, ...
    heading = models.FloatField(_("航向(度)"), null=True, blank=True)  # of the image's top edge
    heading_source = models.CharField(max_length=20, blank=True, default="")
    gimbal_pitch = models.FloatField(_("云台俯仰(度)"), null=True, blank=True)  # -90 = straight down
    gimbal_roll = models.FloatField(_("云台横滚(度)"), null=True, blank=True)
    footprint = models.JSONField(_("地面覆盖"), null=True, blank=True)  # GeoJSON Polygon
    gsd_cm = models.FloatField(_("地面分辨率(厘米)"), null=True, blank=True)
    grid = models.ForeignKey(
        "grids.Grid", null=True, blank=True, on_delete=models.SET_NULL, related_name="drone_photos"
    )
    state = models.CharField(max_length=10, choices=PhotoState.choices, default=PhotoState.NEW, db_index=True)
    error = models.CharField(max_length=300, blank=True, default="")
    analysed_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-taken_at", "-pk"]
        verbose_name = _("航拍照片")
        verbose_name_plural = _("航拍照片")

    def __str__(self) -> str:
        return self.name or f"photo {self.pk}"


class FindingKind(models.TextChoices):
    CROWD = "crowd", _("人员聚集")
    VENDING = "vending", _("占道经营")
    DEBRIS = "debris", _("垃圾堆放")
    PARKING = "parking", _("违章停车")
    CHANGE = "change", _("新增物体")  # something that was not there on an earlier patrol
    OBJECT = "object", _("其他目标")


class FindingState(models.TextChoices):
    NEW = "new", _("待研判")
    CONFIRMED = "confirmed", _("已确认")
    DISMISSED = "dismissed", _("误报")


class Finding(TimeStampedModel):
    """航拍发现: something the engine saw in a photo, placed on the ground, with a crop as evidence."""

    photo = models.ForeignKey(
        Photo, on_delete=models.CASCADE, related_name="findings", verbose_name=_("照片")
    )
    kind = models.CharField(_("类型"), max_length=10, choices=FindingKind.choices)
    label = models.CharField(_("目标"), max_length=40, blank=True, default="")
    count = models.PositiveIntegerField(_("数量"), default=1)
    confidence = models.FloatField(_("置信度"), null=True, blank=True)
    box = models.JSONField(_("目标框"), default=list, blank=True)  # [x1, y1, x2, y2] image fractions
    lon = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    grid = models.ForeignKey(
        "grids.Grid", null=True, blank=True, on_delete=models.SET_NULL, related_name="drone_findings"
    )
    crop = models.FileField(_("证据截图"), upload_to="drones/findings/%Y/%m/", blank=True, default="")
    # For a change: the earlier photo of the same place that did not show it.
    compared_with = models.ForeignKey(
        Photo, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("对比照片")
    )
    category_code = models.CharField(_("案件类别"), max_length=20, blank=True, default="")
    state = models.CharField(
        _("状态"), max_length=10, choices=FindingState.choices, default=FindingState.NEW, db_index=True
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="drone_findings"
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(_("研判时间"), null=True, blank=True)
    dismiss_reason = models.CharField(_("误报原因"), max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "-created_at"], name="finding_queue")]
        verbose_name = _("航拍发现")
        verbose_name_plural = _("航拍发现")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.lon:.5f},{self.lat:.5f}"
