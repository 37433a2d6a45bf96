"""Time limits (时限) on the official working-day calendar."""

from __future__ import annotations

import datetime as dt

from shequ.cases.models import Category, LimitUnit, Stage, TimeLimit
from shequ.core.calendar import working_calendar
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


def limit_for(category: Category | None, stage: str) -> tuple[int, str]:
    if category is not None:
        row = TimeLimit.objects.filter(category=category, stage=stage).values_list("amount", "unit").first()
        if row:
            return row
    return DEFAULT_LIMITS[stage]


def add_limit(
    start: dt.datetime, amount: int, unit: str, calendar: WorkCalendar | None = None
) -> dt.datetime:
    cal = calendar or working_calendar()
    if unit == LimitUnit.MINUTES:
        return cal.add_working_minutes(start, amount)
    if unit == LimitUnit.HOURS:
        return cal.add_working_hours(start, amount)
    return cal.add_working_days(start, amount)


def deadline_for(
    category: Category | None, stage: str, start: dt.datetime, calendar: WorkCalendar | None = None
) -> dt.datetime:
    """When a stage that starts at `start` is due, by the category's limit for it."""
    amount, unit = limit_for(category, stage)
    return add_limit(start, amount, unit, calendar)
