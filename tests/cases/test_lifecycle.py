"""The state machine through its services: every legal transition of machine.TRANSITIONS works,
and every illegal (act, state) pair is refused with Conflict and changes nothing. The pairs are
generated from TRANSITIONS, so a new act or state is tested the day it is added."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shequ.cases.models import Case, CaseState, Extension
from shequ.cases.services import intake, workflow
from shequ.cases.services.machine import TRANSITIONS, Action
from shequ.core.errors import Conflict, Invalid
from shequ.core.models import AuditEntry, Event
from tests.cases.conftest import IN_GRID11, make_jpeg
from tests.cases.factories import Flow, snapshot

pytestmark = pytest.mark.django_db
HANDLER_ACTS = {Action.ACCEPT, Action.RETURN, Action.REQUEST_EXTENSION, Action.FEEDBACK}


def _prepare(action: Action, flow: Flow, case: Case, *, legal: bool) -> dict[str, Any]:
    """What an act needs besides the case, made before the act (and before any snapshot)."""
    if action == Action.MERGE:
        return {"into": flow.report()}
    if action == Action.DECIDE_EXTENSION:
        if legal:
            return {"extension": flow.pending_extension(case)}
        # A request left from when the case was in progress (rows as the service writes them).
        return {
            "extension": Extension.objects.create(
                case=case, amount=1, unit="days", reason="等待材料", requested_at=case.updated_at
            )
        }
    return {}


# One service call per act; each takes the flow, the case and what _prepare made.
ACTS: dict[Action, Callable[..., Any]] = {
    Action.FILE: lambda f, c: workflow.file_case(c, actor=f.operator, note="符合立案条件"),
    Action.REJECT: lambda f, c: workflow.reject_case(c, actor=f.operator, reason="out_of_scope"),
    Action.DISPATCH: lambda f, c: workflow.dispatch_case(c, f.department, actor=f.operator),
    Action.ACCEPT: lambda f, c: workflow.accept_case(c, actor=f.handler),
    Action.RETURN: lambda f, c: workflow.return_case(c, actor=f.handler, reason="不属于本部门职责"),
    Action.REQUEST_EXTENSION: lambda f, c: workflow.request_extension(
        c, actor=f.handler, amount=3, unit="days", reason="需协调产权单位"
    ),
    Action.DECIDE_EXTENSION: lambda f, c, extension: workflow.grant_extension(
        extension, actor=f.operator, note="同意"
    ),
    Action.FEEDBACK: lambda f, c: workflow.feedback_case(c, actor=f.handler, result="杂物已清运"),
    Action.VERIFY_OK: lambda f, c: workflow.verify_case(c, actor=f.operator, ok=True),
    Action.VERIFY_FAIL: lambda f, c: workflow.verify_case(c, actor=f.operator, ok=False, note="仍有杂物"),
    Action.CALLBACK: lambda f, c: workflow.callback_case(c, actor=f.operator, satisfaction="satisfied"),
    Action.MERGE: lambda f, c, into: workflow.merge_case(c, into, actor=f.operator),
    Action.REOPEN: lambda f, c: workflow.reopen_case(c, actor=f.operator, reason="问题复发"),
    Action.SUPERVISE: lambda f, c: workflow.supervise_case(
        c, actor=f.operator, level=2, reason="群众反映强烈"
    ),
    Action.NOTE: lambda f, c: workflow.add_note(c, actor=f.operator, text="已电话联系上报人"),
}
# Acts that make their case rather than act on one (tested apart below).
CREATING = {Action.HANDLE_ON_THE_SPOT}


def test_every_act_of_the_machine_has_a_service_here():
    assert set(ACTS) | CREATING == set(TRANSITIONS)


LEGAL = [(a, s) for a, (sources, _to) in TRANSITIONS.items() if a not in CREATING for s in sorted(sources)]
ILLEGAL = [
    (a, s)
    for a, (sources, _to) in TRANSITIONS.items()
    if a not in CREATING
    for s in CaseState
    if s not in sources
]


@pytest.mark.parametrize(("action", "state"), LEGAL, ids=[f"{a.value}-{s}" for a, s in LEGAL])
def test_legal_transition(flow, action, state):
    case = flow.to_state(state)
    extra = _prepare(action, flow, case, legal=True)
    events_before = Event.objects.count()

    ACTS[action](flow, case, **extra)

    to_state = TRANSITIONS[action][1] or state
    case.refresh_from_db()
    assert case.state == to_state
    entry = case.history.order_by("-at", "-id").first()
    assert entry.action == action.value and entry.from_state == state
    assert entry.to_state == (TRANSITIONS[action][1] or "")
    transitioned = Event.objects.filter(seq__gt=events_before, type="cases.transitioned")
    assert any(e.payload["case_id"] == case.pk and e.payload["action"] == action.value for e in transitioned)
    assert AuditEntry.objects.filter(action=f"case.{action.value}", target_id=str(case.pk)).exists()


@pytest.mark.parametrize(("action", "state"), ILLEGAL, ids=[f"{a.value}-{s}" for a, s in ILLEGAL])
def test_illegal_transition_is_refused_and_changes_nothing(flow, action, state):
    case = flow.to_state(state)
    if action in HANDLER_ACTS and case.department_id is None:
        # Put the case in the handler's department, so that it is the state that refuses (a case
        # outside their department is a 403, tested in test_permissions).
        Case.objects.filter(pk=case.pk).update(department=flow.department)
        case.refresh_from_db()
    extra = _prepare(action, flow, case, legal=False)
    before = snapshot(case)

    with pytest.raises(Conflict) as refused:
        ACTS[action](flow, case, **extra)

    assert refused.value.status == 409 and str(CaseState(state).label) in refused.value.message
    assert snapshot(case) == before


def test_handle_on_the_spot_reports_and_closes_at_once(flow):
    worker = flow.users["worker11"]
    case, created = intake.handle_on_the_spot(
        actor=worker,
        description="绿地内塑料袋",
        category=flow.category,
        lon=IN_GRID11[0],
        lat=IN_GRID11[1],
        result="已当场捡拾",
    )
    assert created
    assert (case.state, case.self_handled, case.closed_on_time) == (CaseState.CLOSED, True, True)
    entry = case.history.get(action=Action.HANDLE_ON_THE_SPOT)
    assert (entry.from_state, entry.to_state) == (CaseState.REPORTED, CaseState.CLOSED)


# --- what each act sets, beyond the state ---------------------------------------------------------


def test_the_whole_loop_keeps_milestones_and_counters(flow):
    case = flow.to_state(CaseState.CLOSED)
    assert all((case.filed_at, case.dispatched_at, case.accepted_at, case.handled_at, case.closed_at))
    assert case.filed_at <= case.dispatched_at <= case.accepted_at <= case.handled_at <= case.closed_at
    assert (case.dispatch_count, case.department, case.assignee) == (1, flow.department, flow.handler)
    assert case.closed_on_time is True and case.stage == "callback" and case.due_at is not None
    workflow.callback_case(case, actor=flow.users["resident"], satisfaction="basically", note="还行")
    case.refresh_from_db()
    assert (case.satisfaction, case.satisfaction_note, case.stage, case.due_at) == (
        "basically",
        "还行",
        "",
        None,
    )
    assert case.callback_at is not None


def test_callback_only_once(flow):
    case = flow.to_state(CaseState.CLOSED)
    workflow.callback_case(case, actor=flow.operator, satisfaction="satisfied")
    before = snapshot(case)
    with pytest.raises(Conflict):
        workflow.callback_case(case, actor=flow.operator, satisfaction="dissatisfied")
    assert snapshot(case) == before


def test_return_clears_the_department_and_counts(flow):
    case = flow.to_state(CaseState.IN_PROGRESS)
    flow.pending_extension(case)
    workflow.return_case(case, actor=flow.handler, reason="属物业管理范围")
    assert (case.state, case.department, case.assignee, case.return_count) == (CaseState.FILED, None, None, 1)
    assert case.extensions.get().decision == Extension.Decision.REFUSED  # the pending request lapsed
    workflow.dispatch_case(case, flow.departments["property"], actor=flow.operator)
    assert case.dispatch_count == 2 and Case.objects.get(pk=case.pk).dispatch_count == 2


def test_rework_goes_back_to_the_handler_and_counts(flow):
    case = flow.to_state(CaseState.HANDLED)
    workflow.verify_case(case, actor=flow.users["worker11"], ok=False, note="墙角仍有杂物")
    assert (case.state, case.rework_count, case.stage) == (CaseState.IN_PROGRESS, 1, "handle")
    assert case.handle_due_at == case.due_at


def test_reopen_clears_the_close(flow):
    case = flow.to_state(CaseState.CLOSED)
    workflow.callback_case(case, actor=flow.operator, satisfaction="dissatisfied")
    workflow.reopen_case(case, actor=flow.operator, reason="居民不满意, 重办")
    case.refresh_from_db()
    assert (case.state, case.reopen_count, case.department, case.closed_at) == (
        CaseState.FILED,
        1,
        None,
        None,
    )
    assert (case.satisfaction, case.callback_at, case.closed_on_time) == ("", None, None)


def test_merge_points_at_the_open_case_and_moves_earlier_merges(flow):
    first, second, third = flow.report(), flow.report(), flow.report()
    workflow.merge_case(first, second, actor=flow.operator)
    workflow.merge_case(second, third, actor=flow.operator, note="同一堆杂物")
    first.refresh_from_db()
    assert (second.state, second.duplicate_of, first.duplicate_of) == (CaseState.MERGED, third, third)
    assert third.history.filter(action=Action.NOTE, detail__merged=second.number).exists()


@pytest.mark.parametrize("target", ["self", "merged", "closed", "other_category"])
def test_merge_refuses_a_wrong_target(flow, target):
    case = flow.report()
    if target == "self":
        into = case
    elif target == "other_category":
        from tests.cases.factories import make_category

        into = flow.report(category=make_category("9002", "测试其他"))
    else:
        into = flow.to_state(target)
    before = snapshot(case)
    with pytest.raises((Invalid, Conflict)) as refused:
        workflow.merge_case(case, into, actor=flow.operator)
    assert refused.value.field == "into"
    assert snapshot(case) == before


def test_file_under_another_subclass_and_urgency(flow):
    from tests.cases.factories import make_category

    case = flow.report()
    other = make_category("9003", "测试改类")
    workflow.file_case(case, actor=flow.operator, category=other, urgency="urgent")
    case.refresh_from_db()
    assert (case.category, case.urgency) == (other, "urgent")
    major = other.parent
    second = flow.report()
    with pytest.raises(Invalid) as refused:
        workflow.file_case(second, actor=flow.operator, category=major)
    assert refused.value.field == "category"


@pytest.mark.parametrize(
    ("act", "field"),
    [
        (lambda f, c: workflow.reject_case(c, actor=f.operator, reason="because"), "reason"),
        (lambda f, c: workflow.file_case(c, actor=f.operator, urgency="whenever"), "urgency"),
        (lambda f, c: workflow.add_note(c, actor=f.operator, text="   "), "text"),
        (lambda f, c: workflow.add_note(c, actor=f.operator, text="长" * 2001), "text"),
    ],
)
def test_invalid_input_names_its_field_and_writes_nothing(flow, act, field):
    case = flow.report()
    before = snapshot(case)
    with pytest.raises(Invalid) as refused:
        act(flow, case)
    assert refused.value.field == field and refused.value.status == 422
    assert snapshot(case) == before


@pytest.mark.parametrize(
    ("act", "field"),
    [
        (lambda f, c: workflow.return_case(c, actor=f.handler, reason=""), "reason"),
        (lambda f, c: workflow.feedback_case(c, actor=f.handler, result=" "), "result"),
        (
            lambda f, c: workflow.request_extension(c, actor=f.handler, amount=0, unit="days", reason="x"),
            "amount",
        ),
        (
            lambda f, c: workflow.request_extension(c, actor=f.handler, amount=2, unit="weeks", reason="x"),
            "unit",
        ),
        (lambda f, c: workflow.supervise_case(c, actor=f.operator, level=4, reason="x"), "level"),
        (lambda f, c: workflow.supervise_case(c, actor=f.operator, level=1, reason=""), "reason"),
    ],
)
def test_invalid_input_in_progress(flow, act, field):
    case = flow.to_state(CaseState.IN_PROGRESS)
    before = snapshot(case)
    with pytest.raises(Invalid) as refused:
        act(flow, case)
    assert refused.value.field == field
    assert snapshot(case) == before


def test_failed_verification_needs_a_note(flow):
    case = flow.to_state(CaseState.HANDLED)
    before = snapshot(case)
    with pytest.raises(Invalid) as refused:
        workflow.verify_case(case, actor=flow.operator, ok=False)
    assert refused.value.field == "note" and snapshot(case) == before


def test_dispatch_to_a_handler_of_another_department_is_refused(flow, make_user):
    from shequ.accounts.models import Role

    case = flow.to_state(CaseState.FILED)
    stranger = make_user(Role.DEPARTMENT_HANDLER, department=flow.departments["property"])
    before = snapshot(case)
    with pytest.raises(Invalid) as refused:
        workflow.dispatch_case(case, flow.department, actor=flow.operator, assignee=stranger)
    assert refused.value.field == "assignee" and snapshot(case) == before
    workflow.dispatch_case(case, flow.department, actor=flow.operator, assignee=flow.handler)
    assert case.assignee == flow.handler


def test_supervision_only_goes_up(flow):
    case = flow.to_state(CaseState.DISPATCHED)
    workflow.supervise_case(case, actor=flow.users["leader"], level=2, reason="领导督办")
    assert case.supervision_level == 2 and case.supervisions.get().by == flow.users["leader"]
    assert Event.objects.filter(type="cases.deadline", payload__what="supervised", payload__level=2).exists()
    before = snapshot(case)
    with pytest.raises(Conflict) as refused:
        workflow.supervise_case(case, actor=flow.operator, level=2, reason="再次督办")
    assert refused.value.field == "level" and snapshot(case) == before


def test_one_pending_extension_at_a_time_and_decisions_are_final(flow):
    case = flow.to_state(CaseState.IN_PROGRESS)
    extension = flow.pending_extension(case)
    before = snapshot(case)
    with pytest.raises(Conflict):
        flow.pending_extension(case)
    assert snapshot(case) == before
    with pytest.raises(Invalid):
        workflow.refuse_extension(extension, actor=flow.operator, note="")
    workflow.refuse_extension(extension, actor=flow.operator, note="理由不充分")
    assert extension.decision == Extension.Decision.REFUSED and extension.decided_by == flow.operator
    before = snapshot(case)
    with pytest.raises(Conflict):
        workflow.grant_extension(extension, actor=flow.operator)
    assert snapshot(case) == before


def test_feedback_with_photos_attaches_them_to_its_history_line(flow, case_media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = flow.to_state(CaseState.IN_PROGRESS)
    uploaded = SimpleUploadedFile("after.jpg", make_jpeg(), content_type="image/jpeg")
    stored = intake.add_evidence(case, SimpleUploadedFile("b.jpg", make_jpeg((32, 32))), actor=flow.handler)
    workflow.feedback_case(case, actor=flow.handler, result="已清运", photos=[uploaded, stored])
    entry = case.history.get(action=Action.FEEDBACK)
    assert sorted(e.pk for e in entry.attachments.all()) == sorted(e.pk for e in case.evidence.all())
    assert case.evidence.filter(kind="result").count() == 1


def test_a_bad_photo_refuses_the_whole_act_and_stores_no_file(flow, case_media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.cases.conftest import stored_files

    case = flow.to_state(CaseState.HANDLED)
    good = SimpleUploadedFile("ok.jpg", make_jpeg(), content_type="image/jpeg")
    bad = SimpleUploadedFile("bad.jpg", b"not an image", content_type="image/jpeg")
    before = snapshot(case)
    with pytest.raises(Invalid) as refused:
        workflow.verify_case(case, actor=flow.operator, ok=True, photos=[good, bad])
    assert refused.value.field == "photos"
    assert snapshot(case) == before and stored_files(case_media) == []
