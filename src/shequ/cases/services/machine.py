"""The state machine of ARCHITECTURE §3: which act moves a case from which states to which, who may
do it, and `transition()`, the only code that sets `Case.state`.

Every transition writes a history line and an audit entry in the caller's transaction and publishes
`CaseTransitioned` (delivered after commit). Deadlines of the new stage come from the category's
time limits on the working-day calendar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shequ.accounts.models import Role
from shequ.cases.events import CaseTransitioned
from shequ.cases.models import Case, CaseState, Evidence, HistoryEntry, Stage
from shequ.cases.services.deadlines import deadline_for
from shequ.core.audit import audit
from shequ.core.errors import Conflict, Forbidden
from shequ.core.outbox import publish
from shequ.grids.selectors import visible_grid_ids

S = CaseState


class Action(models.TextChoices):
    REPORT = "report", _("上报")
    FILE = "file", _("立案")
    REJECT = "reject", _("不予立案")
    DISPATCH = "dispatch", _("派遣")
    ACCEPT = "accept", _("签收")
    RETURN = "return", _("退回")
    REQUEST_EXTENSION = "request_extension", _("申请延期")
    DECIDE_EXTENSION = "decide_extension", _("审批延期")
    FEEDBACK = "feedback", _("处置反馈")
    VERIFY_OK = "verify_ok", _("核查通过")
    VERIFY_FAIL = "verify_fail", _("核查不通过")
    CALLBACK = "callback", _("回访")
    HANDLE_ON_THE_SPOT = "handle_on_the_spot", _("自行处置")
    MERGE = "merge", _("合并")
    REOPEN = "reopen", _("重办")
    SUPERVISE = "supervise", _("督办")
    NOTE = "note", _("备注")
    # Lines about instructions (command.services): history only, not in TRANSITIONS, the state
    # does not change and `check` is never asked about them.
    INSTRUCT = "instruct", _("下达指令")
    INSTRUCTION_ACK = "instruction_ack", _("签收指令")
    INSTRUCTION_REPORT = "instruction_report", _("指令反馈")
    INSTRUCTION_ESCALATE = "instruction_escalate", _("指令升级")
    INSTRUCTION_CLOSE = "instruction_close", _("指令办结")


# act → (states it may start from, state it leads to; None = the state does not change)
TRANSITIONS: dict[Action, tuple[frozenset[CaseState], CaseState | None]] = {
    Action.FILE: (frozenset({S.REPORTED}), S.FILED),
    Action.REJECT: (frozenset({S.REPORTED}), S.REJECTED),
    Action.DISPATCH: (frozenset({S.FILED}), S.DISPATCHED),
    Action.ACCEPT: (frozenset({S.DISPATCHED}), S.IN_PROGRESS),
    Action.RETURN: (frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.FILED),
    Action.REQUEST_EXTENSION: (frozenset({S.IN_PROGRESS}), None),
    Action.DECIDE_EXTENSION: (frozenset({S.IN_PROGRESS}), None),
    Action.FEEDBACK: (frozenset({S.IN_PROGRESS}), S.HANDLED),
    Action.VERIFY_OK: (frozenset({S.HANDLED}), S.CLOSED),
    Action.VERIFY_FAIL: (frozenset({S.HANDLED}), S.IN_PROGRESS),
    Action.CALLBACK: (frozenset({S.CLOSED}), None),
    Action.HANDLE_ON_THE_SPOT: (frozenset({S.REPORTED}), S.CLOSED),
    Action.MERGE: (frozenset({S.REPORTED, S.FILED}), S.MERGED),
    Action.REOPEN: (frozenset({S.CLOSED, S.REJECTED}), S.FILED),
    Action.SUPERVISE: (frozenset({S.FILED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED}), None),
    Action.NOTE: (frozenset(S), None),
}

# The stage a state runs, whose time limit sets `Case.due_at`; closed states run none, except
# that a closed case still waits for its callback.
STAGE_OF: dict[CaseState, Stage | None] = {
    S.REPORTED: Stage.FILE,
    S.FILED: Stage.DISPATCH,
    S.DISPATCHED: Stage.ACCEPT,
    S.IN_PROGRESS: Stage.HANDLE,
    S.HANDLED: Stage.VERIFY,
    S.CLOSED: Stage.CALLBACK,
    S.REJECTED: None,
    S.MERGED: None,
}

COMMAND = frozenset({Role.COMMAND_OPERATOR, Role.ADMINISTRATOR})
HANDLERS = frozenset({Role.DEPARTMENT_HANDLER})
# Who may do each act; `may()` adds the scope: a handler only on their department's cases, a grid
# worker only in their grids, a resident only on their own reports.
ROLES: dict[Action, frozenset[Role]] = {
    Action.FILE: COMMAND,
    Action.REJECT: COMMAND,
    Action.DISPATCH: COMMAND,
    Action.ACCEPT: HANDLERS,
    Action.RETURN: HANDLERS,
    Action.REQUEST_EXTENSION: HANDLERS,
    Action.DECIDE_EXTENSION: COMMAND,
    Action.FEEDBACK: HANDLERS,
    Action.VERIFY_OK: COMMAND | {Role.GRID_WORKER},
    Action.VERIFY_FAIL: COMMAND | {Role.GRID_WORKER},
    Action.CALLBACK: COMMAND | {Role.RESIDENT},
    Action.HANDLE_ON_THE_SPOT: frozenset({Role.GRID_WORKER}),
    Action.MERGE: COMMAND,
    Action.REOPEN: COMMAND,
    Action.SUPERVISE: COMMAND | {Role.LEADER},
    Action.NOTE: COMMAND | HANDLERS | {Role.GRID_WORKER, Role.LEADER},
}


def may(actor: Any, action: Action, case: Case) -> bool:
    """Whether the actor's role and scope allow the act on this case (its state is checked apart)."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return False
    role = Role(actor.role)
    if role not in ROLES.get(action, frozenset()):
        return False
    if role == Role.DEPARTMENT_HANDLER:
        return actor.department_id is not None and case.department_id == actor.department_id
    if role == Role.RESIDENT:
        return case.reporter_id == actor.pk
    visible = visible_grid_ids(actor)
    if visible is None:
        return True
    if case.grid_id is None:  # not located yet (a call without an address): the command center's to place
        return role == Role.COMMAND_OPERATOR
    return case.grid_id in visible


def allowed_actions(actor: Any, case: Case) -> list[Action]:
    """The acts this actor may do on this case now (for pages: which buttons to show)."""
    return [
        action
        for action, (sources, _to) in TRANSITIONS.items()
        if CaseState(case.state) in sources and may(actor, action, case)
    ]


def check(actor: Any, action: Action, case: Case) -> None:
    """Refuse an act the actor may not do (403) or the case's state does not allow (409)."""
    if not may(actor, action, case):
        raise Forbidden(f"您无权对案件 {case.number} 执行“{action.label}”")
    sources, _to = TRANSITIONS[action]
    if CaseState(case.state) not in sources:
        allowed = "、".join(str(CaseState(s).label) for s in sorted(sources))
        raise Conflict(
            f"案件 {case.number} 当前为“{CaseState(case.state).label}”, 不能{action.label}"
            f"(只有{allowed}的案件可以)",
            field="state",
        )


def record(
    case: Case,
    action: Action,
    *,
    actor: Any,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    attachments: Iterable[Evidence] = (),
    at: dt.datetime | None = None,
    **detail: Any,
) -> HistoryEntry:
    """A history line and the matching audit entry, in the caller's transaction."""
    is_user = getattr(actor, "is_authenticated", False)
    entry = HistoryEntry.objects.create(
        case=case,
        at=at or timezone.now(),
        actor=actor if is_user else None,
        # A username may be 150 characters; the column keeps 80 (PostgreSQL refuses longer).
        actor_name=((actor.display_name or actor.get_username()) if is_user else str(actor or "system"))[:80],
        action=action.value,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        detail=detail,
    )
    evidence = [e.pk for e in attachments]
    if evidence:
        Evidence.objects.filter(pk__in=evidence).update(history=entry)
    audit(f"case.{action.value}", actor=actor, target=case, number=case.number, **detail)
    return entry


_MILESTONE = {
    S.FILED: "filed_at",
    S.DISPATCHED: "dispatched_at",
    S.IN_PROGRESS: "accepted_at",
    S.HANDLED: "handled_at",
    S.CLOSED: "closed_at",
    S.REJECTED: "closed_at",
    S.MERGED: "closed_at",
}


def transition(
    case: Case,
    action: Action,
    *,
    actor: Any,
    reason: str = "",
    attachments: Iterable[Evidence] = (),
    at: dt.datetime | None = None,
    update_fields: Iterable[str] = (),
    **detail: Any,
) -> HistoryEntry:
    """Move the case by an act of TRANSITIONS (the caller has run `check` and holds the row
    locked), start the new stage's clock, save, record and publish. `update_fields` names other
    fields the caller changed on `case` before calling."""
    now = at or timezone.now()
    before = case.state
    _sources, to_state = TRANSITIONS[action]
    fields = {"state", "stage", "stage_started_at", "due_at", "warned_at", "overdue_at", "updated_at"}
    fields |= set(update_fields)
    if to_state is not None:
        case.state = to_state
        milestone = _MILESTONE.get(to_state)
        if milestone and not (milestone == "filed_at" and case.filed_at):
            setattr(case, milestone, now)
            fields.add(milestone)
        stage = STAGE_OF[to_state]
        case.stage = stage.value if stage else ""
        case.stage_started_at = now if stage else None
        case.due_at = deadline_for(case.category, stage, now) if stage else None
        case.warned_at = case.overdue_at = None
        if stage == Stage.HANDLE:
            case.handle_due_at = case.due_at
            fields.add("handle_due_at")
    case.save(update_fields=sorted(fields))
    entry = record(
        case,
        action,
        actor=actor,
        from_state=before,
        to_state=case.state if to_state is not None else "",
        reason=reason,
        attachments=attachments,
        at=now,
        **detail,
    )
    publish(
        CaseTransitioned(
            case_id=case.pk,
            number=case.number,
            action=action.value,
            from_state=before,
            to_state=case.state,
            grid_id=case.grid_id,
            department_id=case.department_id,
            urgency=case.urgency,
            at=now.isoformat(),
        )
    )
    return entry
