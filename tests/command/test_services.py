"""Instructions through their services: the whole flow (send, acknowledge, report, close), who may
do what, idempotent sends, the escalation sweep on frozen time, case history lines, audit entries
and the `command.instruction` events' payloads."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from shequ.cases.models import CaseState, HistoryEntry
from shequ.command import selectors, services
from shequ.command.models import Escalation, Instruction, InstructionState
from shequ.command.tasks import sweep_instructions_task
from shequ.core import periodic
from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.core.models import AuditEntry, Event

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 5, 9, 22, 0, tzinfo=SHANGHAI)  # a Saturday night: clock time, not working time


def frozen(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def events(what: str | None = None) -> list[dict[str, Any]]:
    rows = Event.objects.filter(type="command.instruction").order_by("seq")
    payloads = [r.payload for r in rows]
    return [p for p in payloads if what is None or p["what"] == what]


def send(people: dict[str, Any], flow: Any = None, case: Any = None, **kwargs: Any) -> Instruction:
    kwargs.setdefault("title", "清理堆物")
    kwargs.setdefault("text", "请立即到现场清理楼道堆物")
    kwargs.setdefault("actor", people["operator"])
    if "department" not in kwargs and "recipient" not in kwargs:
        kwargs["department"] = flow.department if flow else people["handler"].department
    instruction, created = services.send_instruction(case=case, **kwargs)
    assert created
    return instruction


def test_whole_flow_about_a_case(people, flow):
    case = flow.to_state(CaseState.DISPATCHED)
    history_before = HistoryEntry.objects.filter(case=case).count()
    with frozen(T0):
        ins = send(people, flow, case=case, urgency="urgent")
    assert ins.state == InstructionState.SENT and ins.level == 0
    assert ins.grid_id == case.grid_id  # scope: the case's grid
    assert ins.due_at == T0 + dt.timedelta(minutes=15)  # urgent: 15 clock minutes, on a Saturday night
    assert events() == [
        {
            "instruction_id": ins.pk,
            "what": "sent",
            "case_id": case.pk,
            "grid_id": case.grid_id,
            "department_id": flow.department.pk,
            "user_id": None,
            "title": "清理堆物",
            "level": 0,
            "urgency": "urgent",
            "at": T0.isoformat(),
        }
    ]
    with frozen(T0 + dt.timedelta(minutes=3)):
        services.acknowledge(ins, actor=people["colleague"], note="收到")  # any handler of the department
    assert ins.state == InstructionState.ACKNOWLEDGED and ins.acknowledged_by == people["colleague"]
    services.report(ins, actor=people["handler"], text="已清理完毕")
    assert ins.state == InstructionState.REPORTED and ins.report == "已清理完毕"
    services.close(ins, actor=people["operator"])
    assert ins.state == InstructionState.CLOSED
    assert [e["what"] for e in events()] == ["sent", "acknowledged", "reported", "closed"]
    # The case's history tells it, and the case did not move.
    lines = list(HistoryEntry.objects.filter(case=case).order_by("pk"))[history_before:]
    assert [h.action for h in lines] == [
        "instruct",
        "instruction_ack",
        "instruction_report",
        "instruction_close",
    ]
    assert all(h.from_state == "" and h.to_state == "" for h in lines)
    assert lines[0].detail["instruction"] == ins.pk and lines[2].reason == "已清理完毕"
    case.refresh_from_db()
    assert case.state == CaseState.DISPATCHED
    actions = set(
        AuditEntry.objects.filter(target_type="command.instruction").values_list("action", flat=True)
    )
    assert actions == {
        "command.instruction.sent",
        "command.instruction.acknowledged",
        "command.instruction.reported",
        "command.instruction.closed",
    }


def test_free_standing_to_a_grid_worker(people, two_communities):
    worker = people["worker11"]
    ins = send(people, recipient=worker, title="巡查", text="今晚巡查 11 网格")
    assert ins.case_id is None and ins.department_id is None
    assert ins.grid_id == two_communities["grid11"].pk  # the person's grid
    assert events("sent")[0]["user_id"] == worker.pk and events("sent")[0]["grid_id"] == ins.grid_id
    with pytest.raises(Forbidden):
        services.acknowledge(ins, actor=people["worker21"])
    with pytest.raises(Forbidden):
        services.acknowledge(ins, actor=people["handler"])
    services.report(ins, actor=worker, text="已巡查, 无异常")  # reporting acknowledges too
    assert ins.state == InstructionState.REPORTED and ins.acknowledged_by == worker
    assert selectors.inbox_for(worker).count() == 0
    assert list(selectors.inbox_for(worker, include_done=True)) == [ins]


def test_who_may_send(people, flow):
    for role in ("handler", "worker11", "resident"):
        with pytest.raises(Forbidden):
            send(people, flow, actor=people[role])
    assert not Instruction.objects.exists()
    send(people, flow, actor=people["leader"])
    send(people, flow, actor=people["admin"])


def test_refused_sends_write_nothing(people, flow, two_communities):
    case21 = flow.report(grid="grid21")
    case11 = flow.report(grid="grid11")
    with pytest.raises(Invalid) as exc:
        send(people, case=case11, actor=people["operator2"], department=flow.department)
    assert exc.value.field == "case"  # a case outside the sender's scope
    with pytest.raises(Invalid) as exc:
        send(people, actor=people["operator2"], recipient=people["worker11"])
    assert exc.value.field == "recipient"  # a grid worker of the other community
    with pytest.raises(Invalid) as exc:
        send(people, actor=people["operator2"], department=flow.department, grid=two_communities["grid11"])
    assert exc.value.field == "grid"
    with pytest.raises(Invalid) as exc:
        send(people, recipient=people["resident"])
    assert exc.value.field == "recipient"
    with pytest.raises(Invalid) as exc:
        send(people, department=flow.departments["sanitation"], recipient=people["handler"])
    assert exc.value.field == "recipient"  # not a member of that department
    with pytest.raises(Invalid) as exc:
        services.send_instruction(actor=people["operator"], title="x", text="y")
    assert exc.value.field == "department"
    with pytest.raises(Invalid) as exc:
        send(people, flow, title="  ")
    assert exc.value.field == "title"
    with pytest.raises(Invalid):
        send(people, flow, urgency="extreme")
    assert not Instruction.objects.exists() and not events()
    assert (
        send(people, case=case21, actor=people["operator2"], department=flow.department).grid_id
        == case21.grid_id
    )


def test_another_department_cannot_touch_it(people, flow):
    ins = send(people, flow)
    for who in ("handler2", "worker11", "operator", "leader", "resident"):
        with pytest.raises(Forbidden):
            services.acknowledge(ins, actor=people[who])
        with pytest.raises(Forbidden):
            services.report(ins, actor=people[who], text="x")
    with pytest.raises(Forbidden):
        services.escalate(ins, actor=people["handler"], reason="x")
    with pytest.raises(Forbidden):
        services.close(ins, actor=people["handler"], note="x")
    ins.refresh_from_db()
    assert ins.state == InstructionState.SENT and ins.level == 0
    assert [e["what"] for e in events()] == ["sent"]
    # and does not see it
    assert selectors.access_instruction(people["handler2"], ins.pk) is None
    assert selectors.access_instruction(people["worker11"], ins.pk) is None
    assert selectors.access_instruction(people["resident"], ins.pk) is None
    assert selectors.access_instruction(people["colleague"], ins.pk) == ins


def test_scope_of_operators_by_grid(people, flow):
    ins11 = send(people, case=flow.report(grid="grid11"), department=flow.department)
    ins21 = send(people, case=flow.report(grid="grid21"), department=flow.department)
    loose = send(people, department=flow.department)  # no case, no person: no grid
    assert loose.grid_id is None
    assert set(selectors.instructions_for(people["operator2"])) == {ins21, loose}
    assert set(selectors.instructions_for(people["operator"])) == {ins11, ins21, loose}
    assert set(selectors.instructions_for(people["admin"])) == {ins11, ins21, loose}
    with pytest.raises(Forbidden):
        services.escalate(ins11, actor=people["operator2"], reason="催办")
    services.escalate(ins21, actor=people["operator2"], reason="催办")


def test_idempotent_send(people, flow):
    first, created = services.send_instruction(
        actor=people["operator"], department=flow.department, title="a", text="b", idempotency_key="k-1"
    )
    again, created_again = services.send_instruction(
        actor=people["operator"], department=flow.department, title="a", text="b", idempotency_key="k-1"
    )
    assert created and not created_again and again.pk == first.pk
    assert Instruction.objects.count() == 1 and len(events()) == 1
    # the same key from another sender is another instruction
    _other, created_other = services.send_instruction(
        actor=people["leader"], department=flow.department, title="a", text="b", idempotency_key="k-1"
    )
    assert created_other


def test_states_refuse_acts_out_of_order(people, flow):
    ins = send(people, flow)
    with pytest.raises(Invalid):
        services.close(ins, actor=people["operator"], note="")  # withdrawing needs a reason
    services.acknowledge(ins, actor=people["handler"])
    with pytest.raises(Conflict):
        services.acknowledge(ins, actor=people["handler"])
    services.report(ins, actor=people["handler"], text="done")
    with pytest.raises(Conflict):
        services.report(ins, actor=people["handler"], text="again")
    with pytest.raises(Conflict):
        services.escalate(ins, actor=people["operator"], reason="late")
    services.close(ins, actor=people["operator"])
    with pytest.raises(Conflict):
        services.close(ins, actor=people["operator"])
    assert [e["what"] for e in events()] == ["sent", "acknowledged", "reported", "closed"]


def test_manual_escalation(people, flow):
    case = flow.to_state(CaseState.FILED)
    ins = send(people, flow, case=case)
    services.escalate(ins, actor=people["leader"], reason="领导督促")
    assert ins.level == 1
    with pytest.raises(Conflict):
        services.escalate(ins, actor=people["operator"], reason="x", level=1)  # only up
    services.escalate(ins, actor=people["operator"], reason="再催", level=3)
    assert ins.level == 3
    with pytest.raises(Invalid):
        services.escalate(ins, actor=people["operator"], reason="x")  # 4 is beyond the top
    assert list(Escalation.objects.filter(instruction=ins).values_list("level", "by", "reason")) == [
        (1, people["leader"].pk, "领导督促"),
        (3, people["operator"].pk, "再催"),
    ]
    escalated = events("escalated")
    assert [e["level"] for e in escalated] == [1, 3]
    assert escalated[0]["department_id"] == flow.department.pk and escalated[0]["case_id"] == case.pk
    lines = HistoryEntry.objects.filter(case=case, action="instruction_escalate").order_by("pk")
    assert [h.detail["level"] for h in lines] == [1, 3]


def test_sweep_escalates_unacknowledged_on_frozen_time(people, flow):
    case = flow.to_state(CaseState.DISPATCHED)
    with frozen(T0):
        urgent = send(people, flow, case=case, urgency="urgent")  # due T0 + 15 min
        normal = send(people, flow)  # due T0 + 2 h
        answered = send(people, flow, urgency="urgent")
        services.acknowledge(answered, actor=people["handler"])

    def at(minutes: int) -> dict[str, int]:
        with frozen(T0 + dt.timedelta(minutes=minutes)):
            return services.sweep_instructions()

    assert at(15)["escalated"] == 0  # at the due, not past it
    assert at(16) == {"checked": 1, "escalated": 1, "failed": 0}
    assert at(16)["escalated"] == 0  # idempotent: the same time again changes nothing
    urgent.refresh_from_db()
    assert urgent.level == 1
    assert at(29)["escalated"] == 0
    assert at(30)["escalated"] == 1  # one further limit (15 min) after the due: level 2
    assert at(121)["escalated"] == 2  # urgent to 3; normal just past its 2 h: 1
    assert at(600)["escalated"] == 1  # normal: 1 + (480 / 120) → capped at 3
    assert at(6000) == {"checked": 0, "escalated": 0, "failed": 0}
    urgent.refresh_from_db()
    normal.refresh_from_db()
    answered.refresh_from_db()
    assert (urgent.level, normal.level, answered.level) == (3, 3, 0)
    assert list(urgent.escalations.values_list("level", "by")) == [(1, None), (2, None), (3, None)]
    assert "超过签收时限" in urgent.escalations.first().reason  # type: ignore[union-attr]
    ups = [(e["instruction_id"], e["level"]) for e in events("escalated")]
    assert ups == [(urgent.pk, 1), (urgent.pk, 2), (urgent.pk, 3), (normal.pk, 1), (normal.pk, 3)]
    lines = HistoryEntry.objects.filter(case=case, action="instruction_escalate")
    assert lines.count() == 3 and {h.actor_name for h in lines} == {"system"}
    # Overdue flag and ages for the command center
    with frozen(T0 + dt.timedelta(minutes=25)):
        rows = {r.instruction.pk: r for r in selectors.rows(selectors.command_list(people["operator"]))}
    assert rows[urgent.pk].overdue and rows[urgent.pk].waiting == "已等待 25 分钟"
    assert not rows[normal.pk].overdue
    assert not rows[answered.pk].overdue


def test_sweep_skips_a_row_acknowledged_meanwhile(people, flow):
    with frozen(T0):
        ins = send(people, flow, urgency="critical")  # 5 minutes
    stale = Instruction.objects.get(pk=ins.pk)
    services.acknowledge(ins, actor=people["handler"])
    # The claim re-checks the state: an acknowledged row is never escalated.
    with frozen(T0 + dt.timedelta(minutes=30)):
        assert services.sweep_instructions()["escalated"] == 0
    assert stale.level == 0 and not Escalation.objects.exists()


def test_sweep_is_scheduled_and_has_a_command(people, flow):
    entry = next(s for s in periodic.schedules() if s.task is sweep_instructions_task)
    assert entry.every == dt.timedelta(minutes=1)
    with frozen(T0):
        send(people, flow, urgency="critical")
    with frozen(T0 + dt.timedelta(minutes=6)):
        call_command("sweep_instructions")
    assert Instruction.objects.get().level == 1


def test_inbox_orders_unacknowledged_first_oldest_on_top(people, flow):
    with frozen(T0):
        old = send(people, flow, title="旧")
    with frozen(T0 + dt.timedelta(minutes=10)):
        new = send(people, flow, title="新")
    with frozen(T0 + dt.timedelta(minutes=20)):
        acked = send(people, flow, title="已签收")
        services.acknowledge(acked, actor=people["handler"])
        to_other = send(people, department=flow.departments["sanitation"])
    assert list(selectors.inbox_for(people["handler"])) == [old, new, acked]
    assert list(selectors.inbox_for(people["handler2"])) == [to_other]
    assert selectors.age_text(25) == "25 分钟"
    assert selectors.age_text(125) == "2 小时 5 分钟"
    assert selectors.age_text(60 * 27) == "1 天 3 小时"


def test_a_long_username_fits_the_senders_name(people, flow, make_user):
    """Regression: `sent_by_name` (80 characters) took a username of up to 150 whole; PostgreSQL
    refused the row (a 500) when the sender had no display name."""
    from shequ.accounts.models import Role

    sender = make_user(Role.COMMAND_OPERATOR, username="u" * 120)
    instruction, _ = services.send_instruction(actor=sender, title="t", text="x", department=flow.department)
    instruction.refresh_from_db()
    assert instruction.sent_by_name == "u" * 80


def test_a_long_username_fits_the_case_history_too(people, flow, make_user):
    """Regression: the case history's `actor_name` (80 characters) took the whole username of a
    sender instructing about a case; PostgreSQL refused the row."""
    from shequ.accounts.models import Role
    from shequ.cases.models import HistoryEntry

    sender = make_user(Role.ADMINISTRATOR, username="v" * 120)  # sees every case
    case = flow.to_state("dispatched")
    services.send_instruction(actor=sender, title="t", text="x", department=flow.department, case=case)
    assert HistoryEntry.objects.filter(case=case).latest("pk").actor_name == "v" * 80
