"""Time limits (时限) on the official working-day calendar, and the sweep that warns, marks overdue
and raises supervision (督办) on cases past their limits (docs/cases.md, "Deadlines").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import math
from collections import Counter
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from shequ.cases.events import CaseDeadline
from shequ.cases.models import OPEN_STATES, Case, Category, LimitUnit, Stage, Supervision, TimeLimit
from shequ.core.calendar import working_calendar
from shequ.core.outbox import publish
from shequ.core.workdays import WorkCalendar

# Used when a category (or a case without one yet) names no limit for a stage.
DEFAULT_LIMITS: dict[str, tuple[int, str]] = {
    Stage.FILE: (2, LimitUnit.HOURS),
    Stage.DISPATCH: (1, LimitUnit.HOURS),
    Stage.ACCEPT: (2, LimitUnit.HOURS),
    Stage.HANDLE: (5, LimitUnit.DAYS),
    Stage.VERIFY: (1, LimitUnit.DAYS),
    Stage.CALLBACK: (3, LimitUnit.DAYS),
}

log = logging.getLogger(__name__)
WARN_AT = 0.8  # of a stage's working time: the case warns from then on
MAX_LEVEL = 3
SYSTEM = "system"  # the actor named in history and audit for what the sweep does
BATCH = 500  # cases per transaction of the sweep


def limit_for(category: Category | None, stage: str) -> tuple[int, str]:
    if category is not None:
        row = TimeLimit.objects.filter(category=category, stage=stage).values_list("amount", "unit").first()
        if row:
            return row
    return DEFAULT_LIMITS[stage]


class Limits:
    """Every time limit in one query, for work that asks about many cases (the sweep, bulk loads):
    `Limits().get(category_id, stage)` answers as `limit_for` does, without a query."""

    def __init__(self) -> None:
        self._rows: dict[tuple[int, str], tuple[int, str]] = {
            (category_id, stage): (amount, unit)
            for category_id, stage, amount, unit in TimeLimit.objects.values_list(
                "category_id", "stage", "amount", "unit"
            )
        }

    def get(self, category_id: int | None, stage: str) -> tuple[int, str]:
        if category_id is not None and (row := self._rows.get((category_id, stage))):
            return row
        return DEFAULT_LIMITS[stage]


CLOCK_MINUTES = {LimitUnit.CLOCK_MINUTES: 1, LimitUnit.CLOCK_HOURS: 60}  # round-the-clock units


def add_limit(
    start: dt.datetime, amount: int, unit: str, calendar: WorkCalendar | None = None
) -> dt.datetime:
    if unit in CLOCK_MINUTES:
        return start + dt.timedelta(minutes=amount * CLOCK_MINUTES[LimitUnit(unit)])
    cal = calendar or working_calendar()
    if unit == LimitUnit.MINUTES:
        return cal.add_working_minutes(start, amount)
    if unit == LimitUnit.HOURS:
        return cal.add_working_hours(start, amount)
    return cal.add_working_days(start, amount)


def limit_minutes(amount: int, unit: str, calendar: WorkCalendar) -> int:
    """A limit as minutes of its own kind of time: working minutes (a working day counts the
    calendar's working hours), or clock minutes for a round-the-clock limit."""
    if unit in CLOCK_MINUTES:
        return amount * CLOCK_MINUTES[LimitUnit(unit)]
    if unit == LimitUnit.MINUTES:
        return amount
    if unit == LimitUnit.HOURS:
        return amount * 60
    return amount * calendar.minutes_per_day


def _after(start: dt.datetime, minutes: int, unit: str, calendar: WorkCalendar) -> dt.datetime:
    """`minutes` of the unit's kind of time after `start`."""
    if unit in CLOCK_MINUTES:
        return start + dt.timedelta(minutes=minutes)
    return calendar.add_working_minutes(start, minutes)


def warning_at(start: dt.datetime, due: dt.datetime, unit: str, calendar: WorkCalendar) -> dt.datetime:
    """When a stage running from `start` to `due` warns: at WARN_AT of its time, counted in the
    kind of time of its limit's unit."""
    if unit in CLOCK_MINUTES:
        total = int((due - start).total_seconds() // 60)
    else:
        total = calendar.working_minutes_between(start, due)
    return _after(start, math.ceil(WARN_AT * total), unit, calendar)


def supervision_at(
    due: dt.datetime, level: int, amount: int, unit: str, calendar: WorkCalendar
) -> dt.datetime:
    """When a stage late since `due` reaches supervision `level`: level 1 at the due, one more per
    further full stage limit (amount, unit) of lateness."""
    return _after(due, (level - 1) * max(1, limit_minutes(amount, unit, calendar)), unit, calendar)


def deadline_for(
    category: Category | None,
    stage: str,
    start: dt.datetime,
    calendar: WorkCalendar | None = None,
    *,
    limits: Limits | None = None,
) -> dt.datetime:
    """When a stage that starts at `start` is due, by the category's limit for it. Pass `limits`
    (and `calendar`) when computing many deadlines, to save a query each."""
    if limits is not None:
        amount, unit = limits.get(category.pk if category is not None else None, stage)
    else:
        amount, unit = limit_for(category, stage)
    return add_limit(start, amount, unit, calendar)


# --- the sweep -----------------------------------------------------------------------------------

_FIELDS = (
    "id",
    "number",
    "state",
    "category",
    "grid",
    "department",
    "stage",
    "stage_started_at",
    "due_at",
    "warned_at",
    "overdue_at",
    "supervision_level",
)


def sweep_deadlines(now: dt.datetime | None = None) -> dict[str, int]:
    """Warn the cases at 80 % of their stage's working time, mark those past their due overdue
    (and supervise them, level 1), and raise supervision one level per further full stage limit of
    working time overdue, up to 3. Idempotent: a second sweep at the same time changes nothing.

    Returns counts: checked, warning, overdue, supervised, failed."""
    from shequ.cases.services.machine import TRANSITIONS, Action  # machine imports this module

    # The sweep supervises where a person may (machine.TRANSITIONS): an unfiled report that is late
    # warns and turns overdue, but is not supervised.
    supervisable = frozenset(str(s) for s in TRANSITIONS[Action.SUPERVISE][0])
    now = now or timezone.now()
    cal = working_calendar()
    limits = Limits()
    counts: Counter[str] = Counter(checked=0, warning=0, overdue=0, supervised=0, failed=0)
    # One query over the (state, due_at) index: open cases with a due that still have something to
    # gain from a sweep (not warned yet; or late, and not yet marked or at the highest level).
    late = Q(due_at__lt=now)
    candidates = (
        Case.objects.filter(state__in=OPEN_STATES, due_at__isnull=False)
        .filter(
            Q(warned_at__isnull=True)
            | (late & Q(overdue_at__isnull=True))
            | (late & Q(supervision_level__lt=MAX_LEVEL, state__in=supervisable))
        )
        .only(*_FIELDS)
        .order_by("due_at", "id")
    )
    # What each case needs is worked out first; the writes are committed a batch at a time (a
    # commit per case would cost more than the work), each case in its own savepoint, so that one
    # that fails is logged and skipped, and the others of its batch still land.
    for batch in itertools.batched(candidates.iterator(chunk_size=BATCH), BATCH):
        counts["checked"] += len(batch)
        planned = [(case, plan) for case in batch if (plan := _plan(case, now, cal, limits, supervisable))]
        if not planned:
            continue
        with transaction.atomic():
            for case, plan in planned:
                try:
                    with transaction.atomic():
                        done = _apply(case, plan, now)
                except DatabaseError:
                    log.exception("deadline sweep failed on case %s", case.pk)
                    counts["failed"] += 1
                    continue
                counts.update(done)
    return dict(counts)


@dataclasses.dataclass(frozen=True)
class _Plan:
    warn: bool = False
    overdue: bool = False
    level: int = 0  # the supervision level to raise to; 0 = none


def _plan(
    case: Case, now: dt.datetime, cal: WorkCalendar, limits: Limits, supervisable: frozenset[str]
) -> _Plan | None:
    """What the sweep should do to a case now (no query), or None."""
    assert case.due_at is not None
    if case.due_at >= now:
        return _Plan(warn=True) if case.warned_at is None and _past_warning(case, now, cal, limits) else None
    level = _level_due(case, now, cal, limits) if case.state in supervisable else 0
    plan = _Plan(overdue=case.overdue_at is None, level=level if level > case.supervision_level else 0)
    return plan if plan.overdue or plan.level else None


def _apply(case: Case, plan: _Plan, now: dt.datetime) -> list[str]:
    """Do the plan, each change only if the row is still as read (`_claim`); returns what was done."""
    done = []
    if plan.warn and _claim(case, warned_at__isnull=True).update(warned_at=now, updated_at=timezone.now()):
        _publish(case, "warning", case.supervision_level)
        done.append("warning")
    # A case first seen when already late is warned and overdue at once: one event, overdue.
    if plan.overdue and _claim(case, overdue_at__isnull=True).update(
        overdue_at=now, updated_at=timezone.now()
    ):
        _claim(case, warned_at__isnull=True).update(warned_at=now)
        _publish(case, "overdue", case.supervision_level)
        done.append("overdue")
    if plan.level and _claim(case, supervision_level__lt=plan.level).update(
        supervision_level=plan.level, updated_at=timezone.now()
    ):
        _supervise(case, plan.level, now)
        done.append("supervised")
    return done


def _past_warning(case: Case, now: dt.datetime, cal: WorkCalendar, limits: Limits) -> bool:
    assert case.due_at is not None
    if case.stage_started_at is None or case.stage not in Stage.values:
        return False
    _amount, unit = limits.get(case.category_id, case.stage)
    return now >= warning_at(case.stage_started_at, case.due_at, unit, cal)


def _level_due(case: Case, now: dt.datetime, cal: WorkCalendar, limits: Limits) -> int:
    """Level 1 once overdue, one more per further full stage limit overdue (supervision_at)."""
    assert case.due_at is not None
    if case.stage not in Stage.values:
        return 1
    amount, unit = limits.get(case.category_id, case.stage)
    level = 1
    while level < MAX_LEVEL and supervision_at(case.due_at, level + 1, amount, unit, cal) <= now:
        level += 1
    return level


def _claim(case: Case, **condition: Any) -> Any:
    """The case's row if it is still as read (state and due unchanged: no act moved it meanwhile)
    and meets the condition; updating it claims the change, so two sweeps never do one twice."""
    return Case.objects.filter(pk=case.pk, state=case.state, due_at=case.due_at, **condition)


def _supervise(case: Case, level: int, now: dt.datetime) -> None:
    from shequ.cases.services.machine import Action, record  # machine imports this module

    late = case.due_at and timezone.localtime(case.due_at).strftime("%Y-%m-%d %H:%M")
    reason = f"超过{Stage(case.stage).label if case.stage else ''}时限({late}), 自动{level}级督办"
    Supervision.objects.create(case_id=case.pk, level=level, at=now, by=None, reason=reason[:200])
    record(case, Action.SUPERVISE, actor=SYSTEM, reason=reason, at=now, level=level, automatic=True)
    _publish(case, "supervised", level)


def _publish(case: Case, what: str, level: int) -> None:
    assert case.due_at is not None
    publish(
        CaseDeadline(
            case_id=case.pk,
            number=case.number,
            what=what,
            stage=case.stage,
            due_at=case.due_at.isoformat(),
            level=level,
            grid_id=case.grid_id,
            department_id=case.department_id,
        )
    )
