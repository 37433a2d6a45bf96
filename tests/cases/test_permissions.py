"""Roles and data scopes on cases (ARCHITECTURE §7): who sees which cases, who may do which act on
them. A refused act is a 403 and changes nothing; a case outside the scope is not found."""

from __future__ import annotations

import pytest

from shequ.accounts.models import Role
from shequ.cases import selectors
from shequ.cases.models import Case, CaseState, Source
from shequ.cases.services import intake, workflow
from shequ.core.errors import Forbidden
from shequ.core.models import AuditEntry
from tests.cases.factories import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_handler(make_user, case_departments):
    return make_user(Role.DEPARTMENT_HANDLER, department=case_departments["property"])


def refused(act, case) -> None:
    """The act is a 403 and leaves everything as it was."""
    before = snapshot(case)
    with pytest.raises(Forbidden) as error:
        act()
    assert error.value.status == 403
    assert snapshot(case) == before


# --- departments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "act"),
    [
        (CaseState.DISPATCHED, lambda c, u: workflow.accept_case(c, actor=u)),
        (CaseState.DISPATCHED, lambda c, u: workflow.return_case(c, actor=u, reason="不是我们的")),
        (CaseState.IN_PROGRESS, lambda c, u: workflow.feedback_case(c, actor=u, result="已处理")),
        (
            CaseState.IN_PROGRESS,
            lambda c, u: workflow.request_extension(c, actor=u, amount=1, unit="days", reason="忙"),
        ),
        (CaseState.IN_PROGRESS, lambda c, u: workflow.add_note(c, actor=u, text="看看")),
    ],
)
def test_a_department_cannot_touch_another_departments_case(flow, other_handler, state, act):
    case = flow.to_state(state)
    refused(lambda: act(case, other_handler), case)
    assert selectors.access_case(other_handler, case.pk) is None
    act(case, flow.handler)  # the case's own department may


@pytest.mark.parametrize(
    "act",
    [
        lambda c, u: workflow.file_case(c, actor=u),
        lambda c, u: workflow.reject_case(c, actor=u, reason="invalid"),
        lambda c, u: workflow.supervise_case(c, actor=u, level=1, reason="催办"),
    ],
)
def test_a_handler_cannot_do_the_command_centers_acts(flow, act):
    case = flow.report()
    Case.objects.filter(pk=case.pk).update(department=flow.department)  # even on their own case
    case.refresh_from_db()
    refused(lambda: act(case, flow.handler), case)


def test_a_department_sees_its_cases_now_and_before(flow, other_handler):
    handler = flow.handler
    case = flow.to_state(CaseState.DISPATCHED)
    untouched = flow.to_state(CaseState.FILED)
    assert set(selectors.cases_for(handler)) == {case}
    workflow.return_case(case, actor=handler, reason="属物业管理范围")
    workflow.dispatch_case(case, flow.departments["property"], actor=flow.operator)
    # The squad returned it and still sees it (read only); the property company now has it.
    assert set(selectors.cases_for(handler)) == {case}
    assert set(selectors.cases_for(other_handler)) == {case}
    assert untouched not in selectors.cases_for(other_handler)
    refused(lambda: workflow.add_note(case, actor=handler, text="还在吗"), case)
    assert selectors.access_case(handler, case.pk) == case


# --- residents ------------------------------------------------------------------------------------


def test_a_resident_sees_only_their_own_reports(flow):
    resident, neighbour = flow.users["resident"], flow.users["resident2"]
    mine = flow.report()
    theirs = flow.report(actor=neighbour)
    assert set(selectors.cases_for(resident)) == {mine}
    assert set(selectors.cases_for(neighbour)) == {theirs}
    assert selectors.access_case(resident, theirs.pk) is None


def test_a_resident_rates_their_own_case_only(flow):
    resident, neighbour = flow.users["resident"], flow.users["resident2"]
    case = flow.to_state(CaseState.CLOSED)
    refused(lambda: workflow.callback_case(case, actor=neighbour, satisfaction="dissatisfied"), case)
    refused(lambda: workflow.add_note(case, actor=resident, text="谢谢"), case)
    workflow.callback_case(case, actor=resident, satisfaction="satisfied")
    assert case.satisfaction == "satisfied"


# --- grid workers and the command center ----------------------------------------------------------


def test_a_grid_worker_sees_and_verifies_only_in_their_grids(flow):
    worker11, worker21 = flow.users["worker11"], flow.users["worker21"]
    here = flow.to_state(CaseState.HANDLED, grid="grid11")
    there = flow.to_state(CaseState.HANDLED, grid="grid21")
    assert set(selectors.cases_for(worker11)) == {here}
    assert selectors.access_case(worker11, there.pk) is None
    refused(lambda: workflow.verify_case(there, actor=worker11, ok=True), there)
    new = flow.report()
    refused(lambda: workflow.file_case(new, actor=worker11), new)
    workflow.verify_case(here, actor=worker11, ok=True)
    workflow.verify_case(there, actor=worker21, ok=False, note="未清理干净")
    assert (here.state, there.state) == (CaseState.CLOSED, CaseState.IN_PROGRESS)


def test_an_operator_acts_only_in_their_community(flow, make_user, two_communities):
    operator1 = make_user(Role.COMMAND_OPERATOR, grids=(two_communities["community1"],))
    here, there = flow.report(grid="grid12"), flow.report(grid="grid21")
    assert set(selectors.cases_for(operator1)) == {here}
    refused(lambda: workflow.file_case(there, actor=operator1), there)
    workflow.file_case(here, actor=operator1)
    # Merging into a case they cannot see is refused without saying whether it exists.
    other = flow.report(grid="grid21")
    with pytest.raises(Exception) as error:
        workflow.merge_case(flow.report(grid="grid11"), other, actor=operator1)
    assert getattr(error.value, "field", None) == "into"


def test_a_report_not_located_yet_is_the_command_centers(flow):
    operator, leader, worker = flow.operator, flow.users["leader"], flow.users["worker11"]
    case, _ = intake.report_case(actor=operator, source=Source.HOTLINE, description="来电: 小区门口有积水")
    assert case.grid_id is None
    assert case in selectors.cases_for(operator)
    assert case not in selectors.cases_for(leader) and case not in selectors.cases_for(worker)
    workflow.file_case(case, actor=operator, category=flow.category)
    assert case.state == CaseState.FILED


def test_a_leader_supervises_but_does_not_dispatch(flow):
    leader = flow.users["leader"]
    case = flow.to_state(CaseState.FILED)
    assert case in selectors.cases_for(leader)
    refused(lambda: workflow.dispatch_case(case, flow.department, actor=leader), case)
    workflow.supervise_case(case, actor=leader, level=1, reason="请尽快派遣")
    assert case.supervision_level == 1


def test_inactive_and_unknown_accounts_see_and_do_nothing(flow, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    case = flow.report()
    operator = flow.operator
    operator.is_active = False
    operator.save(update_fields=["is_active"])
    assert not selectors.cases_for(operator).exists() and not selectors.cases_for(AnonymousUser()).exists()
    refused(lambda: workflow.file_case(case, actor=operator), case)
    refused(lambda: workflow.file_case(case, actor=AnonymousUser()), case)


def test_administrators_see_every_case(flow, system_user):
    cases = {flow.report(grid="grid11"), flow.report(grid="grid21")}
    assert set(selectors.cases_for(system_user)) == cases


# --- the reporter as each one sees them ------------------------------------------------------------


def test_a_confidential_reporter_is_shown_to_the_command_center_only(flow):
    operator, leader, worker = flow.operator, flow.users["leader"], flow.users["worker11"]
    case, _ = intake.report_case(
        actor=operator,
        source=Source.HOTLINE,
        description="举报: 夜间施工",
        lon=103.605,
        lat=36.505,
        reporter_name="王先生",
        reporter_phone="13812345678",
        reporter_confidential=True,
    )
    hidden = {"name": "", "phone": "", "account": None, "confidential": True}
    assert selectors.reporter_view(leader, case) == hidden
    assert selectors.reporter_view(worker, case) == hidden
    shown = selectors.reporter_view(operator, case)
    assert (shown["name"], shown["phone"]) == ("王先生", "+8613812345678")
    assert AuditEntry.objects.filter(action="case.reporter_phone_view", target_id=str(case.pk)).count() == 1


def test_phones_are_masked_unless_the_role_may_reveal(flow):
    operator, leader, worker = flow.operator, flow.users["leader"], flow.users["worker11"]
    case, _ = intake.report_case(
        actor=operator,
        source=Source.HOTLINE,
        description="路灯不亮",
        lon=103.605,
        lat=36.505,
        reporter_name="李女士",
        reporter_phone="13912345678",
    )
    assert selectors.reporter_view(leader, case)["phone"] == "+86139****5678"
    assert selectors.reporter_view(worker, case)["phone"] == "+8613912345678"  # grid workers call back
    assert selectors.reporter_view(leader, case)["name"] == "李女士"


def test_the_reporter_sees_their_own_report_in_full(flow):
    resident = flow.users["resident"]
    case = flow.report()
    view = selectors.reporter_view(resident, case)
    assert view["account"] == resident.pk and view["name"] == resident.display_name
    assert not AuditEntry.objects.filter(action="case.reporter_phone_view").exists()


# --- inboxes --------------------------------------------------------------------------------------


def test_a_departments_inbox(flow, other_handler):
    to_accept = flow.to_state(CaseState.DISPATCHED)
    working = flow.to_state(CaseState.IN_PROGRESS)
    Case.objects.filter(pk=working.pk).update(due_at=working.created_at)  # long overdue
    flow.to_state(CaseState.HANDLED)  # waits for verification, not for the department
    boxes = {box.key: list(box.cases) for box in selectors.inbox_for(flow.handler)}
    assert boxes == {"to_accept": [to_accept], "in_progress": [working], "overdue": [working]}
    assert all(not box.cases.exists() for box in selectors.inbox_for(other_handler))


def test_a_grid_workers_inbox_is_what_to_verify_in_their_grids(flow):
    here = flow.to_state(CaseState.HANDLED, grid="grid11")
    flow.to_state(CaseState.HANDLED, grid="grid21")
    flow.to_state(CaseState.IN_PROGRESS, grid="grid11")
    boxes = selectors.inbox_for(flow.users["worker11"])
    assert [(b.key, list(b.cases)) for b in boxes] == [("to_verify", [here])]
    assert selectors.inbox_for(flow.users["resident"]) == []


# --- the admin: configuration is edited, cases only shown -----------------------------------------


@pytest.mark.parametrize(
    "model", ["cases/category", "cases/routingrule", "cases/case", "cases/extension", "cases/supervision"]
)
def test_the_admin_lists_every_model(flow, client, system_user, model):
    flow.to_state(CaseState.IN_PROGRESS)
    client.force_login(system_user)
    assert client.get(f"/admin/{model}/").status_code == 200


def test_the_admin_never_changes_a_cases_state(flow, client, system_user):
    case, _ = intake.report_case(
        actor=flow.operator,
        source=Source.HOTLINE,
        description="井盖松动",
        lon=103.605,
        lat=36.505,
        reporter_phone="13812345678",
    )
    client.force_login(system_user)
    url = f"/admin/cases/case/{case.pk}/change/"
    page = client.get(url).text
    assert "13812345678" not in page and "+86138****5678" in page
    rows = case.history.count()
    data = {"title": "井盖松动(已核实)", "description": "井盖松动", "state": "closed"}
    data |= {"history-TOTAL_FORMS": rows, "history-INITIAL_FORMS": rows}
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:3000]
    case.refresh_from_db()
    assert (case.title, case.state) == ("井盖松动(已核实)", CaseState.REPORTED)
    assert AuditEntry.objects.filter(action="admin.case.change", target_id=str(case.pk)).exists()
    assert client.get("/admin/cases/case/add/").status_code == 403
    assert client.post(f"/admin/cases/case/{case.pk}/delete/", {"post": "yes"}).status_code == 403


def test_time_limits_are_edited_with_their_category_and_audited(flow, client, system_user):
    category = flow.category
    client.force_login(system_user)
    url = f"/admin/cases/category/{category.pk}/change/"
    limits = list(category.time_limits.order_by("pk"))
    data = {
        "kind": category.kind,
        "code": category.code,
        "name": category.name,
        "parent": category.parent_id,
        "urgency": category.urgency,
        "duplicate_radius_m": 1,
        "duplicate_window_hours": 72,
        "is_active": "on",
        "time_limits-TOTAL_FORMS": len(limits),
        "time_limits-INITIAL_FORMS": len(limits),
        # The category's extra questions (附加问题) are the page's second inline: none here.
        "questions-TOTAL_FORMS": 0,
        "questions-INITIAL_FORMS": 0,
    }
    for i, limit in enumerate(limits):
        amount = 3 if limit.stage == "handle" else limit.amount
        data |= {
            f"time_limits-{i}-id": limit.pk,
            f"time_limits-{i}-category": category.pk,
            f"time_limits-{i}-stage": limit.stage,
            f"time_limits-{i}-amount": amount,
            f"time_limits-{i}-unit": limit.unit,
        }
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    assert category.time_limits.get(stage="handle").amount == 3
    entry = AuditEntry.objects.get(action="admin.timelimit.change")
    assert entry.detail["changed"] == ["handle=3days"]
