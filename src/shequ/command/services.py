"""The acts on instructions (指令, docs/command.md): send, acknowledge, report, escalate, close, and
the sweep that escalates instructions left unacknowledged past their limit.

Each act is one transaction that locks the instruction's row, checks the actor's role and scope
(Forbidden, 403) and the state (Conflict, 409), writes, audits, publishes `command.instruction`
and, for an instruction about a case, writes a line in the case's history (the case's state does
not change).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections import Counter
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from shequ.accounts.models import COMMAND_CENTER_ROLES, Department, Role, ScopeKind
from shequ.cases import selectors as case_selectors
from shequ.cases.models import Case, Urgency
from shequ.cases.services.intake import clean_text
from shequ.cases.services.machine import Action, record
from shequ.command.events import InstructionEvent
from shequ.command.models import MAX_LEVEL, OPEN_STATES, Escalation, Instruction, InstructionState
from shequ.core.audit import audit
from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.core.outbox import publish
from shequ.grids.models import Assignment, Grid
from shequ.grids.selectors import visible_grid_ids

log = logging.getLogger(__name__)

S = InstructionState
TITLE_MAX = 100
TEXT_MAX = 2000
NOTE_MAX = 500
REASON_MAX = 200
SYSTEM = "system"  # the actor named in history and audit for what the sweep does
BATCH = 500

# Instructions are operational: their acknowledgement limit runs in clock time (自然时间), round
# the clock, by urgency; the sweep raises one level per further such period unacknowledged.
ACK_LIMIT: dict[str, dt.timedelta] = {
    Urgency.NORMAL: dt.timedelta(hours=2),
    Urgency.URGENT: dt.timedelta(minutes=15),
    Urgency.CRITICAL: dt.timedelta(minutes=5),
}

# Who sends, escalates and closes: the command center and the leaders.
SENDERS = COMMAND_CENTER_ROLES
# Who may receive one as a person: staff, not residents.
RECIPIENT_ROLES = frozenset(Role) - {Role.RESIDENT}


def _role(user: Any) -> Role | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return Role(user.role)


# --- who may do what ------------------------------------------------------------------------------


def may_send(actor: Any) -> bool:
    return _role(actor) in SENDERS


def may_command(actor: Any, instruction: Instruction) -> bool:
    """A sender whose scope holds the instruction (its grid, or one they sent themselves)."""
    if _role(actor) not in SENDERS:
        return False
    if instruction.sent_by_id == actor.pk:
        return True
    visible = visible_grid_ids(actor)
    if visible is None:
        return True
    if instruction.grid_id is None:
        return _role(actor) == Role.COMMAND_OPERATOR
    return instruction.grid_id in visible


def may_respond(actor: Any, instruction: Instruction) -> bool:
    """The recipient: the person named, or a handler of the recipient department."""
    if _role(actor) is None:
        return False
    if instruction.recipient_id is not None and instruction.recipient_id == actor.pk:
        return True
    return (
        instruction.department_id is not None
        and _role(actor) == Role.DEPARTMENT_HANDLER
        and actor.department_id == instruction.department_id
    )


def allowed_acts(actor: Any, instruction: Instruction) -> list[str]:
    """The acts this actor may do on the instruction now (pages: which buttons; API: a field)."""
    acts = []
    if may_respond(actor, instruction):
        if instruction.state == S.SENT:
            acts.append("acknowledge")
        if instruction.state in OPEN_STATES:
            acts.append("report")
    if may_command(actor, instruction):
        if instruction.state in OPEN_STATES and instruction.level < MAX_LEVEL:
            acts.append("escalate")
        if instruction.state != S.CLOSED:
            acts.append("close")
    return acts


def _check_respond(actor: Any, instruction: Instruction, label: str) -> None:
    if not may_respond(actor, instruction):
        raise Forbidden(f"只有指令的接收人或接收部门可以{label}")


def _check_command(actor: Any, instruction: Instruction, label: str) -> None:
    if not may_command(actor, instruction):
        raise Forbidden(f"您无权对该指令执行“{label}”")


def _check_state(instruction: Instruction, allowed: frozenset[str], label: str) -> None:
    if instruction.state not in allowed:
        raise Conflict(f"指令当前为“{InstructionState(instruction.state).label}”, 不能{label}", field="state")


# --- shared steps ---------------------------------------------------------------------------------


def _locked(instruction: Instruction) -> Instruction:
    """Re-read the row under a lock into the caller's object: its state is checked after."""
    instruction.refresh_from_db(from_queryset=Instruction.objects.select_for_update())
    return instruction


def _name(actor: Any) -> str:
    if getattr(actor, "is_authenticated", False):
        return str(actor.display_name or actor.get_username())
    return str(actor or SYSTEM)


def _publish(instruction: Instruction, what: str, at: dt.datetime) -> None:
    publish(
        InstructionEvent(
            instruction_id=instruction.pk,
            what=what,
            case_id=instruction.case_id,
            grid_id=instruction.grid_id,
            department_id=instruction.department_id,
            user_id=instruction.recipient_id,
            title=instruction.title,
            level=instruction.level,
            urgency=instruction.urgency,
            at=timezone.localtime(at).isoformat(),  # Asia/Shanghai, as the feed shows it
        )
    )


def _history(instruction: Instruction, action: Action, *, actor: Any, reason: str, at: dt.datetime) -> None:
    """A line in the case's history, when the instruction is about a case (its state unchanged)."""
    if instruction.case_id is None:
        return
    case = Case.objects.only("id", "number").get(pk=instruction.case_id)
    record(
        case,
        action,
        actor=actor,
        reason=reason,
        at=at,
        instruction=instruction.pk,
        title=instruction.title,
        level=instruction.level,
        department=instruction.department_id,
        recipient=instruction.recipient_id,
    )


def ack_due(urgency: str, sent_at: dt.datetime) -> dt.datetime:
    return sent_at + ACK_LIMIT.get(urgency, ACK_LIMIT[Urgency.NORMAL])


# --- send -----------------------------------------------------------------------------------------


def _check_recipient_person(actor: Any, person: Any, department: Department | None) -> None:
    if person is None:
        return
    if not person.is_active or _role(person) not in RECIPIENT_ROLES:
        raise Invalid("接收人不存在、已停用或不能接收指令", field="recipient")
    if department is not None and person.department_id != department.pk:
        raise Invalid("接收人不是接收部门的人员", field="recipient")
    # A person who answers for an area receives orders only from those who see part of it.
    if Role(person.role).scope == ScopeKind.AREA:
        visible = visible_grid_ids(actor)
        if visible is not None and not (set(visible_grid_ids(person) or ()) & visible):
            raise Invalid("接收人不在您的数据范围内", field="recipient")


def _grid_for(actor: Any, case: Case | None, person: Any, grid: Grid | None) -> Grid | None:
    """The instruction's grid: the chosen one (visible to the actor), the case's, or the person's
    (their first assignment the actor sees)."""
    visible = visible_grid_ids(actor)
    if grid is not None:
        if visible is not None and grid.pk not in visible:
            raise Invalid("网格不存在或不在您的数据范围内", field="grid")
        return grid
    if case is not None and case.grid_id is not None:
        return case.grid
    if person is not None:
        rows = Assignment.objects.filter(user=person).select_related("grid").order_by("grid__path")
        for row in rows:
            if visible is None or row.grid_id in visible:
                return row.grid
    return None


@transaction.atomic
def send_instruction(
    *,
    actor: Any,
    title: str,
    text: str,
    department: Department | None = None,
    recipient: Any = None,
    case: Case | None = None,
    grid: Grid | None = None,
    urgency: str = Urgency.NORMAL,
    idempotency_key: str = "",
) -> tuple[Instruction, bool]:
    """下达指令 to a department, a person, or a person of a department, about a case the actor sees
    or free-standing. Returns (instruction, created); a retry with the same key returns the first."""
    if not may_send(actor):
        raise Forbidden("只有指挥中心坐席、领导和管理员可以下达指令")
    if idempotency_key:
        first = Instruction.objects.filter(sent_by=actor, idempotency_key=idempotency_key).first()
        if first is not None:
            return first, False
    title = clean_text(title, "title", "标题", TITLE_MAX, required=True)
    text = clean_text(text, "text", "指令内容", TEXT_MAX, required=True)
    if urgency not in Urgency.values:
        raise Invalid(f"紧急程度无效: {str(urgency)[:20]!r}", field="urgency")
    if department is None and recipient is None:
        raise Invalid("请指定接收部门或接收人", field="department")
    if department is not None and not department.is_active:
        raise Invalid("接收部门已停用", field="department")
    _check_recipient_person(actor, recipient, department)
    if case is not None and not case_selectors.cases_for(actor).filter(pk=case.pk).exists():
        raise Invalid("案件不存在或不在您的数据范围内", field="case")
    now = timezone.now()
    try:
        with transaction.atomic():  # a concurrent retry with the same key loses the race here
            instruction = Instruction.objects.create(
                case=case,
                title=title,
                text=text,
                urgency=urgency,
                department=department,
                recipient=recipient,
                grid=_grid_for(actor, case, recipient, grid),
                sent_by=actor,
                sent_by_name=_name(actor)[: Instruction._meta.get_field("sent_by_name").max_length],
                sent_at=now,
                due_at=ack_due(urgency, now),
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        first = Instruction.objects.filter(sent_by=actor, idempotency_key=idempotency_key).first()
        if idempotency_key and first is not None:
            return first, False
        raise
    audit(
        "command.instruction.sent",
        actor=actor,
        target=instruction,
        case=instruction.case_id,
        department=instruction.department_id,
        recipient=instruction.recipient_id,
        urgency=urgency,
    )
    _history(instruction, Action.INSTRUCT, actor=actor, reason=f"{title}: {text}", at=now)
    _publish(instruction, "sent", now)
    return instruction, True


# --- the recipient's acts -------------------------------------------------------------------------


@transaction.atomic
def acknowledge(instruction: Instruction, *, actor: Any, note: str = "") -> Instruction:
    """签收: the recipient confirms they have it (only while it waits for that)."""
    _locked(instruction)
    _check_respond(actor, instruction, "签收")
    _check_state(instruction, frozenset({S.SENT}), "签收")
    note = clean_text(note, "note", "说明", NOTE_MAX)
    now = timezone.now()
    instruction.state = S.ACKNOWLEDGED
    instruction.acknowledged_by, instruction.acknowledged_at = actor, now
    instruction.save(update_fields=["state", "acknowledged_by", "acknowledged_at", "updated_at"])
    late = now > instruction.due_at
    audit("command.instruction.acknowledged", actor=actor, target=instruction, late=late)
    _history(instruction, Action.INSTRUCTION_ACK, actor=actor, reason=note, at=now)
    _publish(instruction, "acknowledged", now)
    return instruction


@transaction.atomic
def report(instruction: Instruction, *, actor: Any, text: str) -> Instruction:
    """反馈: the recipient reports what was done (acknowledging it too, if not yet). Text only."""
    _locked(instruction)
    _check_respond(actor, instruction, "反馈")
    _check_state(instruction, OPEN_STATES, "反馈")
    text = clean_text(text, "text", "反馈内容", TEXT_MAX, required=True)
    now = timezone.now()
    fields = ["state", "report", "reported_by", "reported_at", "updated_at"]
    if instruction.acknowledged_at is None:  # reporting is also acknowledging
        instruction.acknowledged_by, instruction.acknowledged_at = actor, now
        fields += ["acknowledged_by", "acknowledged_at"]
    instruction.state = S.REPORTED
    instruction.report, instruction.reported_by, instruction.reported_at = text, actor, now
    instruction.save(update_fields=fields)
    audit("command.instruction.reported", actor=actor, target=instruction)
    _history(instruction, Action.INSTRUCTION_REPORT, actor=actor, reason=text, at=now)
    _publish(instruction, "reported", now)
    return instruction


# --- the command center's acts --------------------------------------------------------------------


def _raise_level(
    instruction: Instruction, level: int, *, actor: Any, reason: str, at: dt.datetime, by: Any
) -> None:
    Escalation.objects.create(instruction=instruction, level=level, at=at, by=by, reason=reason[:REASON_MAX])
    instruction.level = level
    audit("command.instruction.escalated", actor=actor, target=instruction, level=level, automatic=by is None)
    _history(instruction, Action.INSTRUCTION_ESCALATE, actor=actor, reason=reason, at=at)
    _publish(instruction, "escalated", at)


@transaction.atomic
def escalate(instruction: Instruction, *, actor: Any, reason: str, level: int | None = None) -> Instruction:
    """升级: raise an open instruction's level (one up, or to `level`), at most 3, saying why."""
    _locked(instruction)
    _check_command(actor, instruction, "升级")
    _check_state(instruction, OPEN_STATES, "升级")
    target = instruction.level + 1 if level is None else level
    if isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= MAX_LEVEL:
        raise Invalid(f"升级级别应为 1 到 {MAX_LEVEL}", field="level")
    if target <= instruction.level:
        raise Conflict(f"级别只能提高: 该指令已是{instruction.level}级", field="level")
    reason = clean_text(reason, "reason", "升级原因", REASON_MAX, required=True)
    now = timezone.now()
    Instruction.objects.filter(pk=instruction.pk).update(level=target, updated_at=now)
    _raise_level(instruction, target, actor=actor, reason=reason, at=now, by=actor)
    return instruction


@transaction.atomic
def close(instruction: Instruction, *, actor: Any, note: str = "") -> Instruction:
    """办结 (after the report) or withdraw (before it): the instruction needs nothing more."""
    _locked(instruction)
    _check_command(actor, instruction, "办结")
    _check_state(instruction, frozenset({S.SENT, S.ACKNOWLEDGED, S.REPORTED}), "办结")
    note = clean_text(note, "note", "办结说明", NOTE_MAX, required=instruction.state != S.REPORTED)
    now = timezone.now()
    instruction.state = S.CLOSED
    instruction.closed_by, instruction.closed_at, instruction.close_note = actor, now, note
    instruction.save(update_fields=["state", "closed_by", "closed_at", "close_note", "updated_at"])
    audit("command.instruction.closed", actor=actor, target=instruction)
    _history(instruction, Action.INSTRUCTION_CLOSE, actor=actor, reason=note, at=now)
    _publish(instruction, "closed", now)
    return instruction


# --- the sweep ------------------------------------------------------------------------------------


def level_due(instruction: Instruction, now: dt.datetime) -> int:
    """Level 1 once past the acknowledgement due, one more per further full limit, at most 3."""
    if now <= instruction.due_at:
        return 0
    period = ACK_LIMIT.get(instruction.urgency, ACK_LIMIT[Urgency.NORMAL])
    return min(MAX_LEVEL, 1 + int((now - instruction.due_at) / period))


def sweep_instructions(now: dt.datetime | None = None) -> dict[str, int]:
    """Escalate the instructions still unacknowledged past their due: level 1 at the due, one more
    per further acknowledgement limit, up to 3. Idempotent: each raise claims the row (its state
    still sent, its level still below), so a second sweep, or two at once, never raise one twice.

    Returns counts: checked, escalated, failed."""
    now = now or timezone.now()
    counts: Counter[str] = Counter(checked=0, escalated=0, failed=0)
    candidates = (
        Instruction.objects.filter(state=S.SENT, due_at__lt=now, level__lt=MAX_LEVEL)
        .order_by("due_at", "id")
        .only("id", "case", "title", "urgency", "state", "level", "due_at", "grid", "department", "recipient")
    )
    for batch in itertools.batched(candidates.iterator(chunk_size=BATCH), BATCH):
        counts["checked"] += len(batch)
        planned = [(ins, lvl) for ins in batch if (lvl := level_due(ins, now)) > ins.level]
        if not planned:
            continue
        with transaction.atomic():
            for instruction, target in planned:
                try:
                    with transaction.atomic():
                        claimed = Instruction.objects.filter(
                            pk=instruction.pk, state=S.SENT, level__lt=target
                        ).update(level=target, updated_at=timezone.now())
                        if not claimed:
                            continue
                        late = timezone.localtime(instruction.due_at).strftime("%Y-%m-%d %H:%M")
                        reason = f"超过签收时限({late})未签收, 自动升级为{target}级"
                        _raise_level(instruction, target, actor=SYSTEM, reason=reason, at=now, by=None)
                except DatabaseError:
                    log.exception("instruction sweep failed on instruction %s", instruction.pk)
                    counts["failed"] += 1
                    continue
                counts["escalated"] += 1
    return dict(counts)
