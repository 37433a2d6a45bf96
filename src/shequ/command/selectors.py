"""Reads of instructions, always through the caller's scope (docs/command.md, "Who sees what").
An instruction outside the scope is simply not found: the caller answers 404.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.db.models import Case as When_
from django.db.models import IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from shequ.accounts.models import Role
from shequ.command.models import OPEN_STATES, Instruction, InstructionState
from shequ.grids.selectors import visible_grid_ids

RELATED = ("case", "department", "recipient", "grid", "acknowledged_by", "reported_by")


def _role(user: Any) -> Role | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return Role(user.role)


def responder_q(user: Any) -> Q:
    """The instructions a user answers for: addressed to them, or to their department (handlers)."""
    q = Q(recipient_id=user.pk)
    if _role(user) == Role.DEPARTMENT_HANDLER and user.department_id:
        q |= Q(department_id=user.department_id)
    return q


def instructions_for(user: Any) -> QuerySet[Instruction]:
    """The instructions a user may see: administrators all; command operators and leaders those of
    their grids (operators also those with no grid) and those they sent; everyone else the ones
    they answer for (`responder_q`). Residents none."""
    qs = Instruction.objects.all()
    role = _role(user)
    if role is None or role == Role.RESIDENT:
        return qs.none()
    if role in (Role.COMMAND_OPERATOR, Role.LEADER):
        grids = visible_grid_ids(user)
        if grids is None:
            return qs
        scope = Q(grid_id__in=grids) | Q(sent_by_id=user.pk) | responder_q(user)
        if role == Role.COMMAND_OPERATOR:
            scope |= Q(grid__isnull=True)
        return qs.filter(scope)
    if role == Role.ADMINISTRATOR:
        return qs
    return qs.filter(responder_q(user))


def access_instruction(user: Any, pk: int, *, lock: bool = False) -> Instruction | None:
    """The instruction if the user may see it, else None (404). With `lock`, its row is locked for
    the caller's transaction (an act follows)."""
    qs = instructions_for(user)
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.filter(pk=pk).first()


def overdue_q(now: dt.datetime | None = None) -> Q:
    """超时未签收: still waiting for acknowledgement past its due (`Instruction.is_overdue`)."""
    return Q(state=InstructionState.SENT, due_at__lt=now or timezone.now())


def filter_instructions(
    qs: QuerySet[Instruction],
    *,
    state: str | None = None,
    overdue: bool | None = None,
    case_id: int | None = None,
    open_only: bool | None = None,
    escalated: bool | None = None,
) -> QuerySet[Instruction]:
    """The list filters of the pages and the API on a scoped queryset; None leaves one out."""
    if state:
        qs = qs.filter(state=state)
    if overdue is not None:
        qs = qs.filter(overdue_q()) if overdue else qs.exclude(overdue_q())
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    if open_only:
        qs = qs.filter(state__in=OPEN_STATES)
    if escalated is not None:
        qs = qs.filter(level__gt=0) if escalated else qs.filter(level=0)
    return qs


def _waiting_first(qs: QuerySet[Instruction]) -> QuerySet[Instruction]:
    """Unacknowledged first, then acknowledged, then the rest; oldest first within each."""
    rank = When_(
        When(state=InstructionState.SENT, then=Value(0)),
        When(state=InstructionState.ACKNOWLEDGED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return qs.annotate(wait_rank=rank).order_by("wait_rank", "-level", "sent_at", "pk")


def command_list(user: Any) -> QuerySet[Instruction]:
    """The command center's list: what waits first (unacknowledged, most escalated, oldest)."""
    return _waiting_first(instructions_for(user).select_related(*RELATED))


def inbox_for(user: Any, *, include_done: bool = False) -> QuerySet[Instruction]:
    """A recipient's inbox: what they answer for, unacknowledged first, the oldest on top (it has
    aged most); with `include_done` also those reported or closed."""
    qs = instructions_for(user).filter(responder_q(user)).select_related(*RELATED)
    if not include_done:
        qs = qs.filter(state__in=OPEN_STATES)
    return _waiting_first(qs)


def for_case(user: Any, case: Any) -> list[Instruction]:
    """The instructions about a case (already in the user's sight) that the user may see."""
    return list(
        instructions_for(user).filter(case_id=case.pk).select_related(*RELATED).order_by("sent_at", "pk")
    )


def age_text(minutes: int) -> str:
    """A waiting time as people say it: 25 分钟, 2 小时 5 分钟, 3 天 4 小时."""
    if minutes < 60:
        return _("%(m)d 分钟") % {"m": minutes}
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d 小时 %(m)d 分钟") % {"h": hours, "m": mins}
    days, hours = divmod(hours, 24)
    return _("%(d)d 天 %(h)d 小时") % {"d": days, "h": hours}


@dataclasses.dataclass(frozen=True)
class Row:
    """One instruction as the lists show it: how long it has waited, whether it is overdue."""

    instruction: Instruction
    waiting_minutes: int
    waiting: str  # "已等待 25 分钟", or "" once reported
    overdue: bool


def rows(instructions: Any, now: dt.datetime | None = None) -> list[Row]:
    now = now or timezone.now()
    out = []
    for ins in instructions:
        minutes = ins.waiting_minutes(now)
        text = _("已等待 %(age)s") % {"age": age_text(minutes)} if ins.is_open else ""
        out.append(Row(ins, minutes, text, ins.is_overdue(now)))
    return out
