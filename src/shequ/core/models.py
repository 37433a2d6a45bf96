"""Shared tables: the domain-event outbox, the append-only audit log, calendar overrides."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        abstract = True


class SourcedModel(models.Model):
    """A row that may come from outside: (source, source_id) makes a retried import harmless."""

    source = models.CharField(_("来源"), max_length=40, blank=True, default="")
    source_id = models.CharField(_("来源编号"), max_length=120, blank=True, default="")

    class Meta:
        abstract = True


class Event(models.Model):
    """One domain event in the outbox, written in the writer's transaction (ARCHITECTURE §4).

    `seq` is the global order; handlers run after commit and stamp `handled_at`. Rows left
    unhandled (the process died between commit and handling) are replayed by `shequ events replay`.
    """

    seq = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=80, db_index=True)
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["handled_at", "seq"], name="event_pending")]
        verbose_name = _("领域事件")
        verbose_name_plural = _("领域事件")

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"


class AuditEntry(models.Model):
    """One line of the audit log. Append-only: database triggers refuse UPDATE and DELETE
    (migration 0002), except deletion of rows past the retention period by `shequ audit-prune`."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=36, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target_type}:{self.target_id}"


class CalendarDay(models.Model):
    """An administrator's entry in the working-day calendar: beats the built-in State Council data.

    This is how next year's holiday arrangement goes in before a package update brings it.
    """

    date = models.DateField(_("日期"), unique=True)
    is_working_day = models.BooleanField(_("是否工作日"))
    note = models.CharField(_("说明"), max_length=100, blank=True, default="")

    class Meta:
        ordering = ["date"]
        verbose_name = _("工作日历调整")
        verbose_name_plural = _("工作日历调整")

    def __str__(self) -> str:
        return f"{self.date} {'工作日' if self.is_working_day else '休息日'}"


class Job(TimeStampedModel):
    """Long work a person waits for (an import, a report): its progress and its outcome.

    The work itself runs as a django.tasks task; it updates `done`/`total` as it goes so a page
    can show a progress bar, and leaves its result (or per-row report) in `report`.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("进行中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")

    kind = models.CharField(_("类型"), max_length=40, db_index=True)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    params = models.JSONField(default=dict, blank=True)
    input_file = models.FileField(upload_to="jobs/%Y/%m/", blank=True, default="")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True, default="")
    report = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("后台任务")
        verbose_name_plural = _("后台任务")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if self.status == "succeeded" else 0)
