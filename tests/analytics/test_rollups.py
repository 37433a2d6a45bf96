"""The rollups answer exactly what the cases say: on a random history, kept case by case or rebuilt,
through the real transition events, and after a partial rebuild."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.analytics.conftest import at

STATES = ["reported", "filed", "dispatched", "in_progress", "handled", "closed", "rejected", "merged"]
SOURCES = ["grid_worker", "resident", "hotline", "camera", "drone", "sensor", "inspection", "referral", "api"]


def moment(rng: random.Random) -> dt.datetime:
    # Over three months, any minute of the day: near midnight the Shanghai day is not the UTC day.
    return at(2, 1) + dt.timedelta(minutes=rng.randrange(90 * 24 * 60))


def maybe(rng: random.Random, value: Any, p: float = 0.7) -> Any:
    return value if rng.random() < p else None


def random_fields(rng: random.Random, w: dict[str, Any]) -> dict[str, Any]:
    created = moment(rng)
    later = [created + dt.timedelta(minutes=rng.randrange(1, 20 * 24 * 60)) for _ in range(6)]
    later.sort()
    supervision = rng.choice([0, 0, 0, 1, 2])
    return {
        "created_at": created,
        "source": rng.choice(SOURCES),
        "state": rng.choice(STATES),
        "grid": rng.choice([w["grid11"], w["grid12"], w["grid21"], w["grid22"], None]),
        "department": rng.choice([w["dept_a"], w["dept_b"], None]),
        "category": rng.choice([w["s1"], w["s2"], w["s3"], None]),
        "filed_at": maybe(rng, later[0]),
        "dispatched_at": maybe(rng, later[1]),
        "handle_due_at": maybe(rng, later[rng.randrange(2, 6)]),
        "handled_at": maybe(rng, later[3]),
        "closed_at": maybe(rng, later[4]),
        "callback_at": maybe(rng, later[5], 0.5),
        "overdue_at": maybe(rng, later[2], 0.3),
        "closed_on_time": rng.choice([True, False, None]),
        "dispatch_count": rng.randrange(3),
        "return_count": rng.randrange(2),
        "rework_count": rng.choice([0, 0, 1, 2]),
        "satisfaction": rng.choice(["", "", "satisfied", "basically", "dissatisfied"]),
        "supervision_level": supervision,
        "supervised_at": later[3] if supervision else None,
    }


def rollup_rows() -> set[tuple[Any, ...]]:
    from shequ.analytics.models import Rollup

    return set(Rollup.objects.values_list(*[f.attname for f in Rollup._meta.fields if f.name != "id"]))


@pytest.fixture
def users(world: dict[str, Any], make_user: Callable[..., Any]) -> dict[str, Any]:
    from shequ.accounts.models import Role

    return {
        "admin": make_user(Role.ADMINISTRATOR),
        "leader": make_user(Role.LEADER, grids=(world["community1"],)),
        "worker": make_user(Role.GRID_WORKER, grids=(world["grid21"],)),
        "handler": make_user(Role.DEPARTMENT_HANDLER, department=world["dept_a"]),
    }


def test_rollups_equal_raw_on_a_random_history(
    world: dict[str, Any], make_case: Callable[..., Any], users: dict[str, Any]
) -> None:
    from shequ.analytics.measures import GROUP_BYS, PERIODS, measures, measures_raw
    from shequ.analytics.rollups import rebuild_rollups, refresh_cases
    from shequ.cases.models import Case

    rng = random.Random(20250301)
    ids = [make_case(**random_fields(rng, world)).pk for _ in range(300)]
    # Kept case by case, in random batches: the same rows as a rebuild from scratch.
    rng.shuffle(ids)
    for i in range(0, len(ids), 37):
        refresh_cases(ids[i : i + 37])
    kept = rollup_rows()
    assert kept
    # Then the cases change (state, keys, dates) and only they are refreshed.
    changed = rng.sample(ids, 60)
    for pk in changed:
        fields = random_fields(rng, world)
        fields.pop("supervised_at")
        Case.objects.filter(pk=pk).update(**fields)
    refresh_cases(changed)
    kept = rollup_rows()
    rebuild_rollups()
    assert rollup_rows() == kept

    start, end = dt.date(2025, 2, 10), dt.date(2025, 4, 20)
    for user in users.values():
        for group_by in (None, *GROUP_BYS):
            for period in (None, *PERIODS):
                args = {"start": start, "end": end, "group_by": group_by, "period": period}
                fast = measures(user, **args)
                assert fast == measures_raw(user, **args), (user.role, group_by, period)
    totals = measures(users["admin"], start=start, end=end)
    assert totals[0]["reported"] > 150 and totals[0]["closed"] > 10  # the history is not empty


def test_transitions_keep_rollups_fresh(
    world: dict[str, Any],
    make_case: Callable[..., Any],
    users: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Through the real state machine: every transition's event moves the case's counts."""
    from shequ.analytics.measures import measures, measures_raw
    from shequ.analytics.rollups import rebuild_rollups
    from shequ.cases.models import Case
    from shequ.cases.services.machine import Action, transition

    admin = users["admin"]
    today = timezone.localdate()
    window = {"start": today - dt.timedelta(days=1), "end": today + dt.timedelta(days=30)}
    case = make_case(source="camera", grid=world["grid11"], category=world["s1"], created_at=timezone.now())

    def step(action: Action, **changes: Any) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            locked = Case.objects.select_for_update().get(pk=case.pk)
            for name, value in changes.items():
                setattr(locked, name, value)
            transition(locked, action, actor=admin, update_fields=changes)
        [row] = measures(admin, **window)
        assert [row] == measures_raw(admin, **window)
        return row

    with django_capture_on_commit_callbacks(execute=True):
        from shequ.cases.events import CaseTransitioned
        from shequ.core.outbox import publish

        publish(
            CaseTransitioned(
                case_id=case.pk, number=case.number, action="report", from_state="", to_state="reported",
                grid_id=case.grid_id, department_id=None, urgency="normal", at=timezone.now().isoformat(),
            )
        )  # fmt: skip
    [row] = measures(admin, **window)
    assert (row["reported"], row["proactive"], row["filed"]) == (1, 1, 0)
    assert step(Action.FILE)["filed"] == 1
    row = step(Action.DISPATCH, department=world["dept_a"], dispatch_count=1)
    assert row["dispatches"] == 1
    row = step(Action.ACCEPT)
    assert row["due"] == 1 and row["due_closed"] == 0  # accepting starts the handling deadline
    assert step(Action.FEEDBACK)["handled"] == 1
    row = step(Action.VERIFY_OK, closed_on_time=True)
    assert (row["closed"], row["due_closed"], row["closed_on_time"], row["handling_count"]) == (1, 1, 1, 1)
    by_department = measures(admin, group_by="department", **window)
    assert [(r["key"], r["closed"]) for r in by_department] == [(world["dept_a"].pk, 1)]
    assert step(Action.CALLBACK, satisfaction="satisfied")["satisfaction_rate"] == 1.0
    # Kept by events alone, the rows are those a rebuild makes.
    kept = rollup_rows()
    rebuild_rollups()
    assert rollup_rows() == kept


def test_deadline_events_and_replays(
    world: dict[str, Any], make_case: Callable[..., Any], users: dict[str, Any]
) -> None:
    from shequ.analytics.handlers import roll_up_cases
    from shequ.analytics.measures import measures
    from shequ.cases.events import CaseDeadline
    from shequ.cases.models import Case

    admin = users["admin"]
    case = make_case(
        grid=world["grid12"], state="in_progress", created_at=at(3, 3, 9), handle_due_at=at(3, 4, 9)
    )
    early = CaseDeadline(case_id=case.pk, number=case.number, what="overdue", stage="handle", due_at="",
                         level=0, grid_id=None, department_id=None)  # fmt: skip
    roll_up_cases([early], [])
    march = {"start": dt.date(2025, 3, 1), "end": dt.date(2025, 3, 31)}
    assert measures(admin, **march)[0]["overdue"] == 0
    Case.objects.filter(pk=case.pk).update(overdue_at=at(3, 4, 9, 5))
    event = CaseDeadline(case_id=case.pk, number=case.number, what="overdue", stage="handle", due_at="",
                         level=0, grid_id=None, department_id=None)  # fmt: skip
    roll_up_cases([event, event], [])  # two events of one case: one refresh
    rows = rollup_rows()
    roll_up_cases([event], [])  # a replay moves nothing
    assert rollup_rows() == rows
    assert measures(admin, **march)[0]["overdue"] == 1


def test_partial_rebuild_and_command(world: dict[str, Any], make_case: Callable[..., Any]) -> None:
    from shequ.analytics.models import CaseFact
    from shequ.analytics.rollups import rebuild_rollups
    from shequ.cases.models import Case

    rng = random.Random(7)
    cases = [make_case(**random_fields(rng, world)) for _ in range(40)]
    Case.objects.update(updated_at=at(3, 1))  # last touched long ago
    out = StringIO()
    call_command("rollups", "--rebuild", stdout=out)
    assert "已重算 40 件案件" in out.getvalue()
    full = rollup_rows()
    # Changed behind the rollups' back (a data fix): a partial rebuild since today repairs it,
    # and a case deleted since loses its counts.
    Case.objects.filter(pk=cases[0].pk).update(
        state="closed", closed_at=at(3, 5, 12), updated_at=timezone.now()
    )
    Case.objects.filter(pk=cases[1].pk).delete()
    result = rebuild_rollups(since=timezone.localdate())
    assert result["cases"] == 2
    assert not CaseFact.objects.filter(case_id=cases[1].pk).exists()
    partial = rollup_rows()
    assert partial != full
    rebuild_rollups()
    assert rollup_rows() == partial
    out = StringIO()
    call_command("rollups", stdout=out)
    assert "案件 39 件, 已汇总 39 件" in out.getvalue()
