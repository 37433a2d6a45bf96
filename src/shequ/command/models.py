"""Instructions (指令): orders from the command center to a department or a person, about a case or
free-standing, to be acknowledged (签收) within a clock-time limit and reported on (反馈); one left
unacknowledged is escalated (升级), by a person or the sweep (docs/command.md).

Only `command.services` writes these tables.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shequ.cases.models import Urgency
from shequ.core.models import TimeStampedModel

MAX_LEVEL = 3


class InstructionState(models.TextChoices):
    SENT = "sent", _("待签收")
    ACKNOWLEDGED = "acknowledged", _("已签收")
    REPORTED = "reported", _("已反馈")
    CLOSED = "closed", _("已办结")


# States in which the instruction still waits for its recipient (the inbox, escalation).
OPEN_STATES = frozenset({InstructionState.SENT, InstructionState.ACKNOWLEDGED})


class Instruction(TimeStampedModel):
    """指令: one order, to a department (any of its handlers answers), a person, or a person of a
    department. `grid` scopes who sees it (the case's grid, the person's, or chosen)."""

    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="instructions",
        verbose_name=_("关联案件"),
    )
    title = models.CharField(_("标题"), max_length=100)
    text = models.TextField(_("指令内容"))
    urgency = models.CharField(_("紧急程度"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    department = models.ForeignKey(
        "accounts.Department",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="instructions",
        verbose_name=_("接收部门"),
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="instructions_received",
        verbose_name=_("接收人"),
    )
    grid = models.ForeignKey(
        "grids.Grid",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="instructions",
        verbose_name=_("网格"),
    )
    state = models.CharField(
        _("状态"), max_length=14, choices=InstructionState.choices, default=InstructionState.SENT
    )
    level = models.PositiveSmallIntegerField(_("升级级别"), default=0)

    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_by_name = models.CharField(_("下达人"), max_length=80, blank=True, default="")
    sent_at = models.DateTimeField(_("下达时间"), db_index=True)
    due_at = models.DateTimeField(_("签收时限"), db_index=True)

    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    report = models.TextField(_("反馈内容"), blank=True, default="")
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reported_at = models.DateTimeField(_("反馈时间"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True)
    close_note = models.CharField(_("办结说明"), max_length=500, blank=True, default="")

    # A retried send is harmless: the same key from the same sender finds the first instruction.
    idempotency_key = models.CharField(max_length=80, blank=True, default="")

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(department__isnull=False) | Q(recipient__isnull=False),
                name="instruction_has_recipient",
            ),
            models.CheckConstraint(condition=Q(level__lte=MAX_LEVEL), name="instruction_level_range"),
            models.UniqueConstraint(
                fields=["sent_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="instruction_idempotency",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="instruction_state_due"),
            models.Index(fields=["department", "state"], name="instruction_department_state"),
            models.Index(fields=["recipient", "state"], name="instruction_recipient_state"),
            models.Index(fields=["grid", "state"], name="instruction_grid_state"),
        ]
        verbose_name = _("指令")
        verbose_name_plural = _("指令")

    def __str__(self) -> str:
        return f"{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def is_overdue(self, now: dt.datetime) -> bool:
        """Not acknowledged and past its acknowledgement limit."""
        return self.state == InstructionState.SENT and self.due_at < now

    def waiting_minutes(self, now: dt.datetime) -> int:
        """How long it has waited for its recipient's next step: since it was sent while not
        acknowledged, since its acknowledgement while not reported; 0 once reported."""
        if self.state == InstructionState.SENT:
            start = self.sent_at
        elif self.state == InstructionState.ACKNOWLEDGED and self.acknowledged_at is not None:
            start = self.acknowledged_at
        else:
            return 0
        return max(0, int((now - start).total_seconds() // 60))


class Escalation(models.Model):
    """升级记录: an instruction's level raised, by a person (`by`) or the sweep (`by` empty)."""

    instruction = models.ForeignKey(Instruction, on_delete=models.CASCADE, related_name="escalations")
    level = models.PositiveSmallIntegerField(_("级别"))
    at = models.DateTimeField(_("时间"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(_("原因"), max_length=200)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["instruction", "level"], name="escalation_level_once"),
        ]
        verbose_name = _("指令升级")
        verbose_name_plural = _("指令升级")

    def __str__(self) -> str:
        return f"{self.instruction_id} → {self.level}"
