"""The acts on a case after its report (ARCHITECTURE §3): file, reject, dispatch, accept, return,
extensions, feedback, verify, callback, merge, reopen, supervise, notes.

Every act is one transaction that locks the case row, asks the state machine (`check`: 403 or 409),
validates its input (`Invalid`, 422, naming the field), sets its fields and moves the case with
`transition` (history, audit and event). The caller's `case` object is brought up to date in
place, and returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F, TextChoices
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shequ.accounts.models import Department, Role
from shequ.cases.events import CaseDeadline
from shequ.cases.models import (
    OPEN_STATES,
    Case,
    CaseState,
    Category,
    Evidence,
    Extension,
    LimitUnit,
    Supervision,
    Urgency,
)
from shequ.cases.services import intake
from shequ.cases.services.deadlines import MAX_LEVEL, add_limit
from shequ.cases.services.machine import Action, check, may, record, transition
from shequ.core.errors import Conflict, Invalid
from shequ.core.outbox import publish

NOTE_MAX = 1000
TEXT_MAX = 2000
EXTENSION_MAX = 1000  # in the request's unit; the API's bound too


class RejectReason(TextChoices):
    DUPLICATE = "duplicate", _("重复上报")
    OUT_OF_SCOPE = "out_of_scope", _("不属于受理范围")
    INVALID = "invalid", _("信息无效")


# --- shared steps --------------------------------------------------------------------------------


def _locked(case: Case) -> Case:
    """Re-read the case's row under a lock, into the caller's object: its state is checked after."""
    case.refresh_from_db(from_queryset=Case.objects.select_for_update())
    return case


def _bump(case: Case, counter: str) -> str:
    """Add one to a counter in the database (F(): no lost update); `_refresh` reads it back."""
    setattr(case, counter, F(counter) + 1)
    return counter


def _refresh(case: Case, *counters: str) -> Case:
    case.refresh_from_db(fields=list(counters))
    return case


def _lapse_pending_extension(case: Case, why: str) -> None:
    """A request for more time lapses when the case leaves handling (fed back or returned)."""
    Extension.objects.filter(case=case, decision=Extension.Decision.PENDING).update(
        decision=Extension.Decision.REFUSED, decided_at=timezone.now(), note=why
    )


def _photos(case: Case, photos: Sequence[Any]) -> tuple[list[Evidence], list[intake.Photo]]:
    """Split what came as photos into Evidence of this case already stored (services.intake.
    add_evidence) and uploads, each decoded and checked before anything is written."""
    photos = list(photos or ())
    if len(photos) > intake.MAX_PHOTOS:
        raise Invalid(f"照片最多 {intake.MAX_PHOTOS} 张", field="photos")
    stored = [p for p in photos if isinstance(p, Evidence)]
    for evidence in stored:
        if evidence.case_id != case.pk or evidence.history_id is not None:
            raise Invalid("照片不属于本案件, 或已用于其他操作", field="photos")
    uploads = intake.check_photos([p for p in photos if not isinstance(p, Evidence)], "photos")
    return stored, uploads


@contextlib.contextmanager
def _files_removed_on_error() -> Iterator[list[str]]:
    """Names of the files stored meanwhile; they are deleted when the act fails and rolls back."""
    names: list[str] = []
    try:
        yield names
    except BaseException:
        intake.delete_files(names)
        raise


def _keep_photos(
    case: Case, checked: tuple[list[Evidence], list[intake.Photo]], *, actor: Any, kind: str, names: list[str]
) -> list[Evidence]:
    stored, uploads = checked
    return stored + [intake.store_photo(case, p, actor=actor, kind=kind, stored=names) for p in uploads]


def _subclass(category: Any) -> Category:
    if not isinstance(category, Category) or category.parent_id is None or not category.is_active:
        raise Invalid(f"类别须为启用中的小类, {category} 不是", field="category")
    return category


# --- filing --------------------------------------------------------------------------------------


@transaction.atomic
def file_case(
    case: Case, *, actor: Any, category: Category | None = None, urgency: str | None = None, note: str = ""
) -> Case:
    """立案: accept a reported case, under the subclass given (or the one it was reported with).
    Filing an offered duplicate says it is not one: `duplicate_of` is cleared."""
    _locked(case)
    check(actor, Action.FILE, case)
    note = intake.clean_text(note, "note", "说明", NOTE_MAX)
    chosen = category if category is not None else case.category
    if chosen is None:
        raise Invalid("立案须选择类别", field="category")
    chosen = _subclass(chosen)
    if urgency and urgency not in Urgency.values:
        raise Invalid(f"紧急程度无效: {urgency!r}", field="urgency")
    fields = ["category", "urgency", "duplicate_of"]
    detail: dict[str, Any] = {"category": chosen.pk}
    if case.duplicate_of_id is not None:
        detail["not_duplicate_of"] = case.duplicate_of_id
    case.category, case.duplicate_of = chosen, None
    if urgency:
        case.urgency = urgency
    transition(case, Action.FILE, actor=actor, reason=note, update_fields=fields, **detail)
    return case


@transaction.atomic
def reject_case(case: Case, *, actor: Any, reason: str, note: str = "") -> Case:
    """不予立案: the report is a duplicate, out of scope or invalid."""
    _locked(case)
    check(actor, Action.REJECT, case)
    if reason not in RejectReason.values:
        raise Invalid(f"不予立案的理由应为 {'、'.join(RejectReason.values)}, 不是 {reason!r}", field="reason")
    note = intake.clean_text(note, "note", "说明", NOTE_MAX)
    label = str(RejectReason(reason).label)
    transition(
        case, Action.REJECT, actor=actor, reason=f"{label}: {note}" if note else label, reason_code=reason
    )
    return case


# --- dispatch and handling -----------------------------------------------------------------------


@transaction.atomic
def dispatch_case(
    case: Case, department: Department, *, actor: Any, assignee: Any = None, note: str = ""
) -> Case:
    """派遣 a filed case to an active department, and to one of its active handlers if named."""
    _locked(case)
    check(actor, Action.DISPATCH, case)
    if not isinstance(department, Department) or not department.is_active:
        raise Invalid("处置部门不存在或已停用", field="department")
    if assignee is not None and not (
        assignee.is_active
        and assignee.role == Role.DEPARTMENT_HANDLER
        and assignee.department_id == department.pk
    ):
        raise Invalid(f"处置人须为{department.name}的在岗处置人员", field="assignee")
    note = intake.clean_text(note, "note", "说明", NOTE_MAX)
    case.department, case.assignee = department, assignee
    detail: dict[str, Any] = {"department": department.pk}
    if assignee is not None:
        detail["assignee"] = assignee.pk
    counter = _bump(case, "dispatch_count")
    transition(
        case,
        Action.DISPATCH,
        actor=actor,
        reason=note,
        update_fields=["department", "assignee", counter],
        **detail,
    )
    return _refresh(case, counter)


@transaction.atomic
def accept_case(case: Case, *, actor: Any, note: str = "") -> Case:
    """签收 a case dispatched to the actor's department; who signs is its handler unless one was named."""
    _locked(case)
    check(actor, Action.ACCEPT, case)
    note = intake.clean_text(note, "note", "说明", NOTE_MAX)
    if case.assignee_id is None:
        case.assignee = actor
    transition(case, Action.ACCEPT, actor=actor, reason=note, update_fields=["assignee"])
    return case


@transaction.atomic
def return_case(case: Case, *, actor: Any, reason: str) -> Case:
    """退回: the department gives the case back as not theirs; it waits to be dispatched again."""
    _locked(case)
    check(actor, Action.RETURN, case)
    reason = intake.clean_text(reason, "reason", "退回理由", NOTE_MAX, required=True)
    department = case.department_id
    case.department = case.assignee = None
    _lapse_pending_extension(case, "案件已退回, 延期申请失效")
    counter = _bump(case, "return_count")
    transition(
        case,
        Action.RETURN,
        actor=actor,
        reason=reason,
        update_fields=["department", "assignee", counter],
        department=department,
    )
    return _refresh(case, counter)


# --- extensions ----------------------------------------------------------------------------------


@transaction.atomic
def request_extension(case: Case, *, actor: Any, amount: int, unit: str, reason: str) -> Extension:
    """申请延期 of the handling stage: one pending request at a time; the command center decides."""
    _locked(case)
    check(actor, Action.REQUEST_EXTENSION, case)
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= EXTENSION_MAX:
        raise Invalid(f"延长时限应为 1 到 {EXTENSION_MAX} 之间的整数", field="amount")
    if unit not in LimitUnit.values:
        raise Invalid(f"时限单位无效: {unit!r}", field="unit")
    reason = intake.clean_text(reason, "reason", "延期理由", NOTE_MAX, required=True)
    if case.extensions.filter(decision=Extension.Decision.PENDING).exists():
        raise Conflict(f"案件 {case.number} 已有待审批的延期申请", field="extension")
    now = timezone.now()
    extension = Extension.objects.create(
        case=case,
        amount=amount,
        unit=unit,
        reason=reason,
        requested_by=actor,
        requested_at=now,
        old_due_at=case.due_at,
    )
    transition(
        case,
        Action.REQUEST_EXTENSION,
        actor=actor,
        reason=reason,
        at=now,
        extension=extension.pk,
        amount=amount,
        unit=unit,
    )
    return extension


def _decide(extension: Extension, actor: Any) -> tuple[Case, Extension]:
    """Lock the case, then the request (always in that order), and check both."""
    case = _locked(extension.case)
    check(actor, Action.DECIDE_EXTENSION, case)
    extension.refresh_from_db(from_queryset=Extension.objects.select_for_update())
    if extension.decision != Extension.Decision.PENDING:
        raise Conflict(f"该延期申请已{extension.get_decision_display()}", field="extension")
    return case, extension


@transaction.atomic
def grant_extension(extension: Extension, *, actor: Any, note: str = "") -> Extension:
    """同意延期: the handling limit (`due_at`, `handle_due_at`) moves by the amount asked, from the
    current due, in working time; the new due warns and turns overdue afresh."""
    case, extension = _decide(extension, actor)
    note = intake.clean_text(note, "note", "审批意见", NOTE_MAX)
    now = timezone.now()
    old_due = case.due_at or now
    new_due = add_limit(old_due, extension.amount, extension.unit)
    extension.decision = Extension.Decision.GRANTED
    extension.decided_by, extension.decided_at, extension.note = actor, now, note
    extension.old_due_at, extension.new_due_at = old_due, new_due
    extension.save(update_fields=["decision", "decided_by", "decided_at", "note", "old_due_at", "new_due_at"])
    case.due_at = case.handle_due_at = new_due
    case.warned_at = case.overdue_at = None
    transition(
        case,
        Action.DECIDE_EXTENSION,
        actor=actor,
        reason=note,
        at=now,
        update_fields=["handle_due_at"],
        extension=extension.pk,
        decision=extension.decision,
        due_at=new_due.isoformat(),
    )
    return extension


@transaction.atomic
def refuse_extension(extension: Extension, *, actor: Any, note: str) -> Extension:
    """不同意延期, saying why; the limit stays."""
    case, extension = _decide(extension, actor)
    note = intake.clean_text(note, "note", "不同意的理由", NOTE_MAX, required=True)
    now = timezone.now()
    extension.decision = Extension.Decision.REFUSED
    extension.decided_by, extension.decided_at, extension.note = actor, now, note
    extension.save(update_fields=["decision", "decided_by", "decided_at", "note"])
    transition(
        case,
        Action.DECIDE_EXTENSION,
        actor=actor,
        reason=note,
        at=now,
        extension=extension.pk,
        decision=extension.decision,
    )
    return extension


# --- result, verification, callback --------------------------------------------------------------


@transaction.atomic
def feedback_case(case: Case, *, actor: Any, result: str, photos: Sequence[Any] = ()) -> Case:
    """处置反馈: the handler reports the result, with photos (uploads, or Evidence of this case)."""
    _locked(case)
    check(actor, Action.FEEDBACK, case)
    result = intake.clean_text(result, "result", "处置结果", TEXT_MAX, required=True)
    checked = _photos(case, photos)
    with _files_removed_on_error() as names:
        evidence = _keep_photos(case, checked, actor=actor, kind=Evidence.Kind.RESULT, names=names)
        _lapse_pending_extension(case, "案件已反馈, 延期申请失效")
        transition(case, Action.FEEDBACK, actor=actor, reason=result, attachments=evidence)
    return case


@transaction.atomic
def verify_case(case: Case, *, actor: Any, ok: bool, note: str = "", photos: Sequence[Any] = ()) -> Case:
    """核查: ok closes the case (on time if by the handling limit); not ok, with a note saying what
    is wrong, sends it back to the handler (返工)."""
    _locked(case)
    action = Action.VERIFY_OK if ok else Action.VERIFY_FAIL
    check(actor, action, case)
    note = intake.clean_text(note, "note", "核查意见", NOTE_MAX, required=not ok)
    checked = _photos(case, photos)
    now = timezone.now()
    fields: list[str] = []
    if ok:
        case.closed_on_time = case.on_time_if_closed_at(now)
        fields.append("closed_on_time")
    else:
        fields.append(_bump(case, "rework_count"))
    with _files_removed_on_error() as names:
        evidence = _keep_photos(case, checked, actor=actor, kind=Evidence.Kind.VERIFY, names=names)
        transition(case, action, actor=actor, reason=note, attachments=evidence, at=now, update_fields=fields)
    return case if ok else _refresh(case, "rework_count")


@transaction.atomic
def callback_case(case: Case, *, actor: Any, satisfaction: str, note: str = "") -> Case:
    """回访, once per close: the reporter's satisfaction; the callback stage ends (no due)."""
    _locked(case)
    check(actor, Action.CALLBACK, case)
    if case.callback_at is not None:
        raise Conflict(f"案件 {case.number} 已回访", field="satisfaction")
    if satisfaction not in Case.Satisfaction.values:
        raise Invalid(f"满意度无效: {satisfaction!r}", field="satisfaction")
    note = intake.clean_text(note, "note", "回访意见", 500)
    now = timezone.now()
    case.satisfaction, case.satisfaction_note, case.callback_at = satisfaction, note, now
    case.stage, case.stage_started_at, case.due_at = "", None, None
    case.warned_at = case.overdue_at = None
    transition(
        case,
        Action.CALLBACK,
        actor=actor,
        reason=note,
        at=now,
        update_fields=["satisfaction", "satisfaction_note", "callback_at"],
        satisfaction=satisfaction,
    )
    return case


# --- merge, reopen -------------------------------------------------------------------------------


@transaction.atomic
def merge_case(case: Case, into: Case, *, actor: Any, note: str = "") -> Case:
    """合并 a reported or filed case into an open one it repeats (same category, or either has none).
    Cases already merged into this one move with it, so no chain of merges forms."""
    if into.pk == case.pk:
        raise Invalid("不能合并到案件自身", field="into")
    for row in sorted((case, into), key=lambda c: c.pk):  # a fixed order: no deadlock with a reverse merge
        _locked(row)
    check(actor, Action.MERGE, case)
    if not may(actor, Action.MERGE, into):
        raise Invalid("要合并到的案件不存在或不在您的数据范围内", field="into")
    if into.state not in OPEN_STATES:
        raise Conflict(
            f"案件 {into.number} 当前为“{CaseState(into.state).label}”, 不能合并到它", field="into"
        )
    if case.category_id and into.category_id and case.category_id != into.category_id:
        raise Invalid(f"类别不同, 不能合并到案件 {into.number}", field="into")
    note = intake.clean_text(note, "note", "说明", NOTE_MAX)
    case.duplicate_of = into
    moved = Case.objects.filter(duplicate_of=case, state=CaseState.MERGED).update(duplicate_of=into)
    transition(
        case,
        Action.MERGE,
        actor=actor,
        reason=note or f"与 {into.number} 重复, 合并",
        update_fields=["duplicate_of"],
        into=into.number,
        moved=moved,
    )
    record(into, Action.NOTE, actor=actor, reason=f"{case.number} 已合并到本案", merged=case.number)
    return case


@transaction.atomic
def reopen_case(case: Case, *, actor: Any, reason: str) -> Case:
    """重办 a closed or rejected case: it is filed again and waits for dispatch; its close, callback
    and department are cleared (the history keeps them)."""
    _locked(case)
    check(actor, Action.REOPEN, case)
    reason = intake.clean_text(reason, "reason", "重办理由", NOTE_MAX, required=True)
    case.closed_at = case.closed_on_time = case.callback_at = None
    case.satisfaction = case.satisfaction_note = ""
    case.department = case.assignee = None
    counter = _bump(case, "reopen_count")
    fields = ["closed_at", "closed_on_time", "callback_at", "satisfaction", "satisfaction_note"]
    transition(
        case,
        Action.REOPEN,
        actor=actor,
        reason=reason,
        update_fields=[*fields, "department", "assignee", counter],
    )
    return _refresh(case, counter)


# --- supervision, notes --------------------------------------------------------------------------


@transaction.atomic
def supervise_case(case: Case, *, actor: Any, level: int, reason: str) -> Case:
    """督办: raise the case's supervision level (only up, at most 3), saying why."""
    _locked(case)
    check(actor, Action.SUPERVISE, case)
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= MAX_LEVEL:
        raise Invalid(f"督办级别应为 1 到 {MAX_LEVEL}", field="level")
    if level <= case.supervision_level:
        raise Conflict(
            f"督办级别只能提高: 案件 {case.number} 已是{case.supervision_level}级督办", field="level"
        )
    reason = intake.clean_text(reason, "reason", "督办事由", 200, required=True)
    now = timezone.now()
    Supervision.objects.create(case=case, level=level, at=now, by=actor, reason=reason)
    case.supervision_level = level
    transition(
        case,
        Action.SUPERVISE,
        actor=actor,
        reason=reason,
        at=now,
        update_fields=["supervision_level"],
        level=level,
    )
    publish(
        CaseDeadline(
            case_id=case.pk,
            number=case.number,
            what="supervised",
            stage=case.stage,
            due_at=case.due_at.isoformat() if case.due_at else "",
            level=level,
            grid_id=case.grid_id,
            department_id=case.department_id,
        )
    )
    return case


@transaction.atomic
def add_note(case: Case, *, actor: Any, text: str) -> Case:
    """备注: a line in the history, in any state."""
    _locked(case)
    check(actor, Action.NOTE, case)
    text = intake.clean_text(text, "text", "备注", TEXT_MAX, required=True)
    transition(case, Action.NOTE, actor=actor, reason=text)
    return case
