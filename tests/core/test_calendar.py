"""The calendar in force: package data with administrators' entries on top."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from shequ.core.calendar import set_calendar_day, working_calendar
from shequ.core.models import AuditEntry

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def test_entered_days_override_the_package(system_user):
    national_day = dt.date(2025, 10, 1)
    assert not working_calendar().is_working_day(national_day)
    set_calendar_day(national_day, is_working_day=True, note="测试", actor=system_user)
    assert working_calendar().is_working_day(national_day)
    assert AuditEntry.objects.filter(action="calendar.set_day").count() == 1


def test_next_years_arrangement_can_be_entered(system_user):
    assert not working_calendar().covers(2027)
    new_year = dt.date(2027, 1, 1)  # a Friday
    assert working_calendar().is_working_day(new_year)
    set_calendar_day(new_year, is_working_day=False, note="元旦", actor=system_user)
    cal = working_calendar()
    assert cal.covers(2027) and not cal.is_working_day(new_year)
    # 4 working hours from Thursday 16:00 now skip the holiday Friday and the weekend.
    due = cal.add_working_hours(dt.datetime(2026, 12, 31, 16, 0, tzinfo=SH), 4)
    assert due == dt.datetime(2027, 1, 4, 11, 0, tzinfo=SH)
