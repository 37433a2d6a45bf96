"""The working-day calendar in force: the State Council arrangement (core.workdays) with the
administrators' CalendarDay entries on top. Services computing time limits call `working_calendar()`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from shequ.core.audit import audit
from shequ.core.models import CalendarDay
from shequ.core.workdays import WorkCalendar


def working_calendar() -> WorkCalendar:
    """One small query: the override table holds a few dozen rows a year."""
    return WorkCalendar(overrides=dict(CalendarDay.objects.values_list("date", "is_working_day")))


@transaction.atomic
def set_calendar_day(day: dt.date, *, is_working_day: bool, note: str = "", actor: Any) -> CalendarDay:
    """Enter or correct one day of the official arrangement (e.g. next year's holidays)."""
    row, _ = CalendarDay.objects.update_or_create(
        date=day, defaults={"is_working_day": is_working_day, "note": note[:100]}
    )
    audit("calendar.set_day", actor=actor, target=row, date=day.isoformat(), working=is_working_day)
    return row
