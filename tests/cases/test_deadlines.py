"""Time limits on the official working-day calendar, across National Day 2026 (Oct 1–7 off, Sept 20
and Oct 10 adjusted working days, Sept 25–27 Mid-Autumn), and the sweep: warning at 80 % of the
working time, overdue after the due, supervision one level per further full limit, idempotent.

The test category's limits (factories.LIMITS): file 2 working hours, handle 5 working days, ...
A working day is 08:30–12:00 and 14:00–17:30 (420 minutes).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError

from shequ.cases.models import Case, CaseState, Extension, LimitUnit, Stage, Supervision, TimeLimit
from shequ.cases.services import deadlines, workflow
from shequ.cases.services.deadlines import Limits, deadline_for, sweep_deadlines
from shequ.cases.tasks import sweep_deadlines_task
from shequ.core import periodic
from shequ.core.models import Event
from shequ.core.workdays import default_calendar

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH)


def frozen(moment: dt.datetime) -> time_machine.travel:
    return time_machine.travel(moment, tick=False)


def deadline_events(case: Case) -> list[tuple[str, int]]:
    rows = Event.objects.filter(type="cases.deadline", payload__case_id=case.pk).order_by("seq")
    return [(e.payload["what"], e.payload["level"]) for e in rows]


NOTHING = {"warning": 0, "overdue": 0, "supervised": 0, "failed": 0}


def changes(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k != "checked"}


# --- deadlines on the calendar --------------------------------------------------------------------


def test_the_calendar_knows_2026():
    assert default_calendar().covers(2026)


@pytest.mark.parametrize(
    ("stage", "start", "due"),
    [
        # 5 working days from Tue Sept 29: Sept 30, (Oct 1–7 off) Oct 8, 9, Sat Oct 10 (adjusted), Mon Oct 12.
        (Stage.HANDLE, at(9, 29, 10), at(10, 12, 17, 30)),
        # 2 working hours from 16:30 on the last day before the holiday: 1 h that day, 1 h on Oct 8.
        (Stage.FILE, at(9, 30, 16, 30), at(10, 8, 9, 30)),
        # Reported on Saturday Sept 19: Sunday Sept 20 is an adjusted working day.
        (Stage.FILE, at(9, 19, 16, 30), at(9, 20, 10, 30)),
        # Friday Sept 25 is Mid-Autumn: the clock starts on Monday Sept 28.
        (Stage.FILE, at(9, 24, 17), at(9, 28, 10)),
    ],
)
def test_deadline_for_across_the_holidays(flow, stage, start, due):
    assert deadline_for(flow.category, stage, start) == due
    assert deadline_for(flow.category, stage, start, limits=Limits()) == due


def test_limits_fall_back_to_the_defaults(flow, django_assert_num_queries):
    limits = Limits()
    with django_assert_num_queries(0):
        assert limits.get(flow.category.pk, Stage.HANDLE) == (5, "days")
        assert limits.get(None, Stage.HANDLE) == deadlines.DEFAULT_LIMITS[Stage.HANDLE]


def test_a_case_is_due_by_the_calendar(flow):
    with frozen(at(9, 30, 16, 30)):
        case = flow.report()
    assert (case.stage, case.due_at) == (Stage.FILE, at(10, 8, 9, 30))
    with frozen(at(9, 29, 10)):
        case = flow.to_state(CaseState.IN_PROGRESS)
    assert case.due_at == case.handle_due_at == at(10, 12, 17, 30)


# --- the sweep ------------------------------------------------------------------------------------


@pytest.fixture
def handling(flow):
    """A case in handling since Tue Sept 29 10:00, due Mon Oct 12 17:30: 2430 working minutes,
    80 % (1944) reached on Sat Oct 10 at 16:24."""
    with frozen(at(9, 29, 10)):
        return flow.to_state(CaseState.IN_PROGRESS)


def test_warning_at_80_percent_of_working_time_not_wall_time(handling):
    # Oct 10 noon is 83 % of the wall-clock time, but only 74 % of the working time.
    assert changes(sweep_deadlines(at(10, 10, 12))) == NOTHING
    assert changes(sweep_deadlines(at(10, 10, 16, 20))) == NOTHING
    assert changes(sweep_deadlines(at(10, 10, 16, 25))) == {**NOTHING, "warning": 1}
    handling.refresh_from_db()
    assert handling.warned_at == at(10, 10, 16, 25) and handling.overdue_at is None
    assert deadline_events(handling) == [("warning", 0)]
    assert changes(sweep_deadlines(at(10, 10, 16, 30))) == NOTHING


def test_overdue_and_supervision_levels(handling):
    sweep_deadlines(at(10, 12, 17, 29))  # the warning
    assert changes(sweep_deadlines(at(10, 12, 17, 31))) == {**NOTHING, "overdue": 1, "supervised": 1}
    handling.refresh_from_db()
    assert (handling.overdue_at, handling.supervision_level) == (at(10, 12, 17, 31), 1)
    # Level 2 after a further full limit (5 working days, 2100 min) overdue: Oct 13–16, 19.
    assert changes(sweep_deadlines(at(10, 19, 17))) == NOTHING
    assert changes(sweep_deadlines(at(10, 20, 9))) == {**NOTHING, "supervised": 1}
    # Level 3 after another: Oct 20–23, 26.
    assert changes(sweep_deadlines(at(10, 27, 9))) == {**NOTHING, "supervised": 1}
    assert changes(sweep_deadlines(at(11, 30, 9))) == NOTHING  # 3 is the highest
    handling.refresh_from_db()
    assert handling.supervision_level == 3
    assert list(Supervision.objects.filter(case=handling).values_list("level", "by")) == [
        (1, None),
        (2, None),
        (3, None),
    ]
    assert deadline_events(handling) == [
        ("warning", 0),
        ("overdue", 0),
        ("supervised", 1),
        ("supervised", 2),
        ("supervised", 3),
    ]
    supervised = handling.history.filter(action="supervise")
    assert [h.actor_name for h in supervised] == ["system"] * 3


def test_a_round_the_clock_limit_warns_and_supervises_in_clock_time(flow):
    """2 clock hours of handling from 03:00 on a holiday night: warned at 04:36 (80 %), overdue
    after 05:00, level 2 at 07:00 and 3 at 09:00, the holiday notwithstanding."""
    TimeLimit.objects.filter(category=flow.category, stage=Stage.HANDLE).update(
        amount=2, unit=LimitUnit.CLOCK_HOURS
    )
    with frozen(at(10, 2, 3)):
        case = flow.to_state(CaseState.IN_PROGRESS)
    assert case.due_at == at(10, 2, 5)
    assert changes(sweep_deadlines(at(10, 2, 4, 35))) == NOTHING
    assert changes(sweep_deadlines(at(10, 2, 4, 36))) == {**NOTHING, "warning": 1}
    assert changes(sweep_deadlines(at(10, 2, 5, 1))) == {**NOTHING, "overdue": 1, "supervised": 1}
    assert changes(sweep_deadlines(at(10, 2, 6, 59))) == NOTHING
    assert changes(sweep_deadlines(at(10, 2, 7))) == {**NOTHING, "supervised": 1}
    assert changes(sweep_deadlines(at(10, 2, 9))) == {**NOTHING, "supervised": 1}
    case.refresh_from_db()
    assert case.supervision_level == 3


def test_a_case_first_seen_late_is_overdue_once_and_supervised_to_its_level(handling):
    assert changes(sweep_deadlines(at(10, 20, 9))) == {**NOTHING, "overdue": 1, "supervised": 1}
    handling.refresh_from_db()
    assert handling.supervision_level == 2 and handling.warned_at is not None
    assert deadline_events(handling) == [("overdue", 0), ("supervised", 2)]


def test_the_sweep_is_idempotent(flow, handling):
    with frozen(at(10, 9, 9)):
        fresh = flow.report()
    moment = at(10, 20, 9)
    first = sweep_deadlines(moment)
    events, history = Event.objects.count(), handling.history.count()
    rows = list(Case.objects.order_by("pk").values())
    second = sweep_deadlines(moment)
    assert changes(first) == {**NOTHING, "overdue": 2, "supervised": 1}  # the report is not supervised
    assert changes(second) == NOTHING
    assert (Event.objects.count(), handling.history.count()) == (events, history)
    assert list(Case.objects.order_by("pk").values()) == rows
    fresh.refresh_from_db()
    assert fresh.overdue_at == moment and fresh.supervision_level == 0


def test_supervision_by_a_person_is_not_lowered(flow, handling):
    with frozen(at(10, 9, 9)):
        workflow.supervise_case(handling, actor=flow.users["leader"], level=2, reason="领导关注")
    assert changes(sweep_deadlines(at(10, 13, 9))) == {**NOTHING, "warning": 0, "overdue": 1}
    handling.refresh_from_db()
    assert handling.supervision_level == 2
    assert list(handling.supervisions.values_list("level", flat=True)) == [2]


def test_closed_and_callback_cases_are_not_swept(flow):
    with frozen(at(9, 29, 10)):
        case = flow.to_state(CaseState.CLOSED)
    assert changes(sweep_deadlines(at(12, 1, 9))) == NOTHING
    case.refresh_from_db()
    assert case.overdue_at is None and case.supervision_level == 0


def test_a_stale_read_writes_nothing(flow, handling):
    """Between the sweep's read and its write an act moved the case: the write finds it changed."""
    stale = Case.objects.get(pk=handling.pk)
    moment = at(10, 20, 9)
    plan = deadlines._plan(stale, moment, default_calendar(), Limits(), frozenset({"in_progress"}))
    assert plan == deadlines._Plan(overdue=True, level=2)
    with frozen(at(10, 10, 17)):
        workflow.feedback_case(handling, actor=flow.handler, result="已清理")
    assert deadlines._apply(stale, plan, moment) == []
    handling.refresh_from_db()
    assert (handling.overdue_at, handling.supervision_level) == (None, 0)


def test_one_failing_case_does_not_stop_the_sweep(flow, handling, monkeypatch, caplog):
    with frozen(at(9, 29, 10)):
        other = flow.to_state(CaseState.IN_PROGRESS)
    real = deadlines._supervise

    def broken(case, level, now):
        if case.pk == handling.pk:
            raise DatabaseError("disk full")
        real(case, level, now)

    monkeypatch.setattr(deadlines, "_supervise", broken)
    counts = sweep_deadlines(at(10, 13, 9))
    assert counts == {"checked": 2, **NOTHING, "overdue": 1, "supervised": 1, "failed": 1}
    handling.refresh_from_db()
    other.refresh_from_db()
    assert (handling.overdue_at, handling.supervision_level) == (None, 0)  # all of it undone
    assert other.supervision_level == 1 and "deadline sweep failed on case" in caplog.text
    monkeypatch.undo()
    assert changes(sweep_deadlines(at(10, 13, 9))) == {**NOTHING, "overdue": 1, "supervised": 1}


def test_the_sweep_reads_in_a_fixed_number_of_queries(flow, django_assert_num_queries):
    with frozen(at(9, 29, 10)):
        for _ in range(12):
            flow.report()
    # Calendar overrides, time limits, candidates: the same for 12 cases or 12,000.
    with django_assert_num_queries(3):
        counts = sweep_deadlines(at(9, 29, 10, 30))
    assert counts == {"checked": 12, **NOTHING}


# --- extensions and closing on time ---------------------------------------------------------------


def test_a_granted_extension_moves_both_deadlines_on_the_calendar(flow, handling):
    sweep_deadlines(at(10, 10, 16, 30))
    with frozen(at(10, 11, 9)):
        extension = flow.pending_extension(handling)
    with frozen(at(10, 12, 9)):
        workflow.grant_extension(extension, actor=flow.operator, note="同意延期 2 个工作日")
    handling.refresh_from_db()
    extension.refresh_from_db()
    # From the due (Mon Oct 12 17:30), 2 working days: Oct 13, 14.
    assert handling.due_at == handling.handle_due_at == at(10, 14, 17, 30)
    assert (extension.old_due_at, extension.new_due_at) == (at(10, 12, 17, 30), at(10, 14, 17, 30))
    assert extension.decision == Extension.Decision.GRANTED and handling.warned_at is None
    assert changes(sweep_deadlines(at(10, 13, 9))) == NOTHING  # neither overdue nor (yet) warned again


def test_a_refused_extension_leaves_the_deadline(flow, handling):
    extension = flow.pending_extension(handling)
    workflow.refuse_extension(extension, actor=flow.operator, note="可按期完成")
    handling.refresh_from_db()
    assert handling.due_at == handling.handle_due_at == at(10, 12, 17, 30)


@pytest.mark.parametrize(("closed", "on_time"), [(at(10, 12, 17, 30), True), (at(10, 12, 17, 31), False)])
def test_closed_on_time_is_by_the_handling_limit(flow, handling, closed, on_time):
    with frozen(at(10, 9, 9)):
        workflow.feedback_case(handling, actor=flow.handler, result="已清理")
    with frozen(closed):
        workflow.verify_case(handling, actor=flow.operator, ok=True)
    handling.refresh_from_db()
    assert (handling.closed_at, handling.closed_on_time) == (closed, on_time)


# --- how the sweep runs ---------------------------------------------------------------------------


def test_the_command_and_the_task_run_the_sweep(handling, capsys):
    with frozen(at(10, 13, 9)):
        call_command("sweep_deadlines")
        assert "超期 1" in capsys.readouterr().out
        assert sweep_deadlines_task.call() == {"checked": 1, **NOTHING}
    call_command("sweep_deadlines", "--enqueue")
    assert "已提交后台任务" in capsys.readouterr().out


def test_the_sweep_is_scheduled_every_few_minutes():
    entry = next(s for s in periodic.schedules() if s.task is sweep_deadlines_task)
    assert dt.timedelta(minutes=1) <= entry.every <= dt.timedelta(minutes=15)
