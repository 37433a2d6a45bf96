"""Cameras (摄像头/点位), their analytics settings, and the alerts (告警) that rules and external
systems raise; an alert becomes a case when an operator confirms it or its rule files it itself.

Only `video.services` writes these tables. The analytics settings are the engine's own schema
(`shequ_vision.config.CameraAnalytics`), stored as JSON and checked by the service that saves them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from shequ.core.fields import EncryptedTextField
from shequ.core.models import SourcedModel, TimeStampedModel


class Vendor(models.TextChoices):
    HIKVISION = "hikvision", _("海康威视")
    DAHUA = "dahua", _("大华")
    UNIVIEW = "uniview", _("宇视")
    HUAWEI = "huawei", _("华为")
    OTHER = "other", _("其他")


class Protocol(models.TextChoices):
    RTSP = "rtsp", "RTSP"
    HTTP = "http", _("HTTP 抓图")
    FILE = "file", _("视频文件")
    ONVIF = "onvif", "ONVIF"
    GB28181 = "gb28181", "GB/T 28181"


class CameraStatus(models.TextChoices):
    UNKNOWN = "unknown", _("未知")
    ONLINE = "online", _("在线")
    DEGRADED = "degraded", _("异常")
    OFFLINE = "offline", _("离线")


class Camera(TimeStampedModel, SourcedModel):
    """摄像头: a networked camera at a fixed position. `watched` cameras are opened by the vision
    workers (health monitor, and the analytics rules when `analytics` has any)."""

    code = models.CharField(_("编号"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    lon = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    grid = models.ForeignKey(
        "grids.Grid",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cameras",
        verbose_name=_("网格"),
    )
    address = models.CharField(_("地址"), max_length=200, blank=True, default="")
    heading = models.PositiveSmallIntegerField(_("朝向(度)"), null=True, blank=True)  # 0 = north, clockwise
    asset = models.OneToOneField(
        "registry.Asset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="camera",
        verbose_name=_("部件"),
    )
    vendor = models.CharField(_("厂商"), max_length=12, choices=Vendor.choices, default=Vendor.OTHER)
    protocol = models.CharField(_("协议"), max_length=10, choices=Protocol.choices, default=Protocol.RTSP)
    main_stream = models.CharField(_("主码流地址"), max_length=500, blank=True, default="")
    sub_stream = models.CharField(_("子码流地址"), max_length=500, blank=True, default="")
    snapshot_url = models.CharField(_("抓图地址"), max_length=500, blank=True, default="")
    username = models.CharField(_("用户名"), max_length=100, blank=True, default="")
    password = EncryptedTextField(_("密码"), blank=True, default="")
    watched = models.BooleanField(_("接入分析"), default=False)
    analytics = models.JSONField(_("分析规则"), default=dict, blank=True)

    status = models.CharField(
        _("状态"), max_length=10, choices=CameraStatus.choices, default=CameraStatus.UNKNOWN, db_index=True
    )
    status_since = models.DateTimeField(_("状态开始"), null=True, blank=True)
    last_frame_at = models.DateTimeField(_("最后取帧"), null=True, blank=True)
    last_error = models.CharField(_("最后错误"), max_length=300, blank=True, default="")
    latest_snapshot = models.FileField(_("最新画面"), upload_to="video/latest/", blank=True, default="")
    # Counters posted by the worker that watches the camera (engine metrics, since the worker started).
    metrics = models.JSONField(_("运行指标"), default=dict, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("摄像头")
        verbose_name_plural = _("摄像头")

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class AlertKind(models.TextChoices):
    PARKING = "parking", _("违章停车")
    VENDING = "vending", _("占道经营")
    CROWD = "crowd", _("人员聚集")
    DEBRIS = "debris", _("垃圾堆放")
    INTRUSION = "intrusion", _("区域入侵")
    EXTERNAL = "external", _("外部告警")
    OFFLINE = "offline", _("设备离线")


class AlertOrigin(models.TextChoices):
    ENGINE = "engine", _("平台分析")
    WEBHOOK = "webhook", _("接口推送")
    MQTT = "mqtt", "MQTT"
    FRIGATE = "frigate", "Frigate"
    HEALTH = "health", _("设备巡检")


class AlertState(models.TextChoices):
    NEW = "new", _("待研判")
    CONFIRMED = "confirmed", _("已确认")
    DISMISSED = "dismissed", _("误报")
    FILED = "filed", pgettext_lazy("alert state", "自动立案")  # "filed automatically", not the rule flag


class Alert(TimeStampedModel):
    """告警: one firing of a rule (or one event of an external system) with its evidence. The
    (origin, source_id) pair makes a repeated delivery one alert."""

    camera = models.ForeignKey(
        Camera, on_delete=models.PROTECT, related_name="alerts", verbose_name=_("摄像头")
    )
    kind = models.CharField(_("类型"), max_length=10, choices=AlertKind.choices)
    origin = models.CharField(_("来源"), max_length=10, choices=AlertOrigin.choices)
    source_id = models.CharField(_("来源编号"), max_length=120)
    rule_id = models.CharField(_("规则"), max_length=40, blank=True, default="")
    zone_id = models.CharField(_("区域"), max_length=40, blank=True, default="")
    zone_name = models.CharField(_("区域名称"), max_length=60, blank=True, default="")
    label = models.CharField(_("目标"), max_length=40, blank=True, default="")
    confidence = models.FloatField(_("置信度"), null=True, blank=True)
    box = models.JSONField(_("目标框"), default=list, blank=True)  # [x1, y1, x2, y2], image fractions
    detected_at = models.DateTimeField(_("发生时间"), db_index=True)
    description = models.CharField(_("说明"), max_length=300, blank=True, default="")
    category_code = models.CharField(_("案件类别"), max_length=20, blank=True, default="")
    # What an external system sent beyond the documented fields (its channel, its rule name...).
    vendor_data = models.JSONField(_("厂商数据"), default=dict, blank=True)
    snapshot = models.FileField(_("抓拍"), upload_to="video/alerts/%Y/%m/", blank=True, default="")
    clip = models.FileField(_("短视频"), upload_to="video/clips/%Y/%m/", blank=True, default="")
    # The snapshot with faces and plates blurred, made once on first need (a view outside the command
    # center, a case's evidence) and kept beside the original until the retention purge.
    snapshot_blurred = models.FileField(
        _("抓拍(已打码)"), upload_to="video/alerts/%Y/%m/", blank=True, default=""
    )
    state = models.CharField(
        _("状态"), max_length=10, choices=AlertState.choices, default=AlertState.NEW, db_index=True
    )
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
        verbose_name=_("案件"),
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(_("研判时间"), null=True, blank=True)
    dismiss_reason = models.CharField(_("误报原因"), max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-detected_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["origin", "source_id"], name="alert_source_once")]
        indexes = [models.Index(fields=["state", "-detected_at"], name="alert_queue")]
        verbose_name = _("告警")
        verbose_name_plural = _("告警")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.camera_id} {self.detected_at:%Y-%m-%d %H:%M}"
