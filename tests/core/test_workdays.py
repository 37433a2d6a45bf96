"""Tests for shequ.core.workdays against real State Council holiday arrangements."""

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from shequ.core.workdays import DEFAULT_HOURS, WorkCalendar, default_calendar

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def brute_minutes(cal: WorkCalendar, start: datetime, end: datetime) -> int:
    """Independent oracle for minute-aligned spans: count each minute [t, t+1) inside a working period."""
    periods = [(a.hour * 60 + a.minute, b.hour * 60 + b.minute) for a, b in DEFAULT_HOURS]
    n, t = 0, start
    while t < end:
        lt = t.astimezone(SH)
        mod = lt.hour * 60 + lt.minute
        if cal.is_working_day(lt.date()) and any(a <= mod and mod + 1 <= b for a, b in periods):
            n += 1
        t += timedelta(minutes=1)
    return n


def test_default_hours_are_seven_hours(cal):
    assert cal.minutes_per_day == 420
    assert default_calendar() is default_calendar()


def test_2025_national_day_and_mid_autumn(cal):
    for day in range(1, 9):
        assert not cal.is_working_day(date(2025, 10, day)), day
    assert date(2025, 9, 28).weekday() == 6 and cal.is_working_day(date(2025, 9, 28))
    assert date(2025, 10, 11).weekday() == 5 and cal.is_working_day(date(2025, 10, 11))
    assert not cal.is_working_day(date(2025, 9, 27))  # ordinary Saturday
    assert not cal.is_working_day(date(2025, 10, 12))  # ordinary Sunday
    assert cal.is_working_day(date(2025, 10, 9))
    assert cal.next_working_day(date(2025, 9, 30)) == date(2025, 10, 9)


def test_2026_spring_festival(cal):
    for day in range(15, 24):
        assert not cal.is_working_day(date(2026, 2, day)), day
    assert date(2026, 2, 14).weekday() == 5 and cal.is_working_day(date(2026, 2, 14))
    assert date(2026, 2, 28).weekday() == 5 and cal.is_working_day(date(2026, 2, 28))
    assert cal.is_working_day(date(2026, 1, 4))  # Sunday, New Year adjustment
    assert cal.next_working_day(date(2026, 2, 14)) == date(2026, 2, 24)


def test_matches_package_public_api_over_all_covered_years(cal):
    d = date(2004, 1, 1)
    while d <= date(2026, 12, 31):
        assert cal.is_working_day(d) == chinese_calendar.is_workday(d), d
        d += timedelta(days=1)


def test_friday_afternoon_four_hours_lands_monday_mid_morning(cal):
    # 2025-11-14 is an ordinary Friday: 1.5 h left on Friday, 2.5 h on Monday from 08:30.
    assert cal.add_working_hours(at(2025, 11, 14, 16), 4) == at(2025, 11, 17, 11)
    assert cal.add_working_minutes(at(2025, 11, 14, 16), 240) == at(2025, 11, 17, 11)


def test_result_in_shanghai_from_utc_input(cal):
    res = cal.add_working_hours(datetime(2025, 11, 14, 8, tzinfo=UTC), 4)  # 16:00 Shanghai
    assert res == at(2025, 11, 17, 11)
    assert res.tzinfo == SH and res.hour == 11


def test_period_boundaries(cal):
    assert cal.add_working_minutes(at(2025, 11, 12, 11, 59), 1) == at(2025, 11, 12, 12)
    assert cal.add_working_minutes(at(2025, 11, 12, 12), 1) == at(2025, 11, 12, 14, 1)
    assert cal.add_working_minutes(at(2025, 11, 12, 17, 0), 30) == at(2025, 11, 12, 17, 30)
    assert cal.add_working_minutes(at(2025, 11, 12, 7), 30) == at(2025, 11, 12, 9)
    assert cal.add_working_minutes(at(2025, 11, 12, 12, 30), 30) == at(2025, 11, 12, 14, 30)
    assert cal.add_working_minutes(at(2025, 11, 12, 17, 30), 1) == at(2025, 11, 13, 8, 31)
    assert cal.add_working_minutes(at(2025, 11, 15, 10), 0) == at(2025, 11, 15, 10)
    assert cal.add_working_hours(at(2025, 11, 12, 11, 30), 0.5) == at(2025, 11, 12, 12)
    assert cal.working_minutes_between(at(2025, 11, 12, 12), at(2025, 11, 12, 14)) == 0
    assert cal.working_minutes_between(at(2025, 11, 12, 11), at(2025, 11, 12, 15)) == 120
    assert cal.working_minutes_between(at(2025, 11, 12, 8, 30), at(2025, 11, 12, 17, 30)) == 420
    assert cal.working_minutes_between(at(2025, 11, 12, 10, 0, 59), at(2025, 11, 12, 10, 2)) == 1


def test_minutes_between_spanning_holiday_week(cal):
    # Tue 30 Sep 16:00 -> Thu 9 Oct 09:30: 90 min on 30 Sep, 1-8 Oct off, 60 min on 9 Oct.
    assert cal.working_minutes_between(at(2025, 9, 30, 16), at(2025, 10, 9, 9, 30)) == 150
    # Fri 26 Sep 17:00 -> Mon 29 Sep 09:00 includes the adjusted Sunday 28 Sep.
    assert cal.working_minutes_between(at(2025, 9, 26, 17), at(2025, 9, 29, 9)) == 30 + 420 + 30
    assert cal.working_minutes_between(at(2025, 10, 9, 9, 30), at(2025, 9, 30, 16)) == -150
    assert cal.add_working_minutes(at(2025, 9, 30, 16), 150) == at(2025, 10, 9, 9, 30)


def test_minutes_between_whole_years_matches_package(cal):
    n = len(chinese_calendar.get_workdays(date(2025, 1, 1), date(2026, 12, 31)))
    assert cal.working_minutes_between(at(2025, 1, 1), at(2027, 1, 1)) == n * 420


def test_minutes_between_agrees_with_brute_force():
    cal, rng = WorkCalendar(), random.Random(1949)
    base = at(2025, 9, 20)
    for _ in range(60):
        s = base + timedelta(minutes=rng.randrange(60 * 24 * 40))
        e = s + timedelta(minutes=rng.randrange(60 * 24 * 4))
        assert cal.working_minutes_between(s, e) == brute_minutes(cal, s, e), (s, e)


def test_add_then_measure_round_trip():
    cal, rng = WorkCalendar(), random.Random(20251001)
    base = at(2024, 12, 1)
    for _ in range(2000):
        s = base + timedelta(seconds=rng.randrange(86400 * 760), microseconds=rng.randrange(10**6))
        m = rng.choice([0, 1, rng.randrange(1, 421), rng.randrange(1, 420 * 30)])
        r = cal.add_working_minutes(s, m)
        assert cal.working_minutes_between(s, r) == m, (s, m, r)
        assert r.tzinfo == SH
        if m:
            lr = r.astimezone(SH)
            assert cal.is_working_day(lr.date())
            assert any(a < lr.time() <= b for a, b in DEFAULT_HOURS), (s, m, r)


def test_add_working_days_rule(cal):
    # Arrives Tue 30 Sep 10:00: day 1 = 9 Oct, day 2 = 10 Oct, day 3 = Sat 11 Oct (adjusted working day).
    assert cal.add_working_days(at(2025, 9, 30, 10), 3) == at(2025, 10, 11, 17, 30)
    # The start day never counts, even before office hours; a weekend arrival counts from Monday.
    assert cal.add_working_days(at(2025, 11, 12, 7), 1) == at(2025, 11, 13, 17, 30)
    assert cal.add_working_days(at(2025, 11, 15, 10), 1) == at(2025, 11, 17, 17, 30)
    # 15 working days from Fri 13 Feb 2026 across Spring Festival (14 Feb and 28 Feb are working Saturdays).
    deadline = cal.add_working_days(at(2026, 2, 13, 9), 15)
    assert deadline == at(2026, 3, 12, 17, 30)  # 14 Feb, 24-28 Feb, 2-6 Mar, 9-12 Mar
    assert cal.working_days_between(date(2026, 2, 13), deadline.date()) == 15
    assert cal.working_days_between(deadline.date(), date(2026, 2, 13)) == -15
    with pytest.raises(ValueError):
        cal.add_working_days(at(2026, 2, 13, 9), 0)


def test_overrides_beat_package():
    cal = WorkCalendar(overrides={date(2025, 10, 8): True, date(2025, 10, 9): False})
    assert cal.is_working_day(date(2025, 10, 8))
    assert not cal.is_working_day(date(2025, 10, 9))
    assert cal.working_minutes_between(at(2025, 9, 30, 17, 30), at(2025, 10, 10, 8, 30)) == 420


def test_year_without_data_falls_back_to_weekdays():
    cal = WorkCalendar()
    assert cal.covers(2025) and cal.covers(2026)
    assert not cal.covers(2027)
    assert cal.is_working_day(date(2027, 1, 1))  # Friday; really a holiday, hence covers() for warnings
    assert not cal.is_working_day(date(2027, 1, 2))
    assert [cal.is_working_day(date(2027, 3, d)) for d in range(1, 8)] == [True] * 5 + [False] * 2
    entered = WorkCalendar(overrides={date(2027, 1, 1): False})
    assert entered.covers(2027) and not entered.is_working_day(date(2027, 1, 1))


def test_naive_datetime_rejected(cal):
    naive = datetime(2025, 11, 12, 10)
    with pytest.raises(ValueError):
        cal.working_minutes_between(naive, at(2025, 11, 13))
    with pytest.raises(ValueError):
        cal.working_minutes_between(at(2025, 11, 11), naive)
    with pytest.raises(ValueError):
        cal.add_working_minutes(naive, 10)
    with pytest.raises(ValueError):
        cal.add_working_days(naive, 1)
    with pytest.raises(ValueError):
        cal.is_working_day(naive)


def test_invalid_input(cal):
    with pytest.raises(ValueError):
        cal.add_working_minutes(at(2025, 11, 12, 10), -1)
    with pytest.raises(ValueError):
        WorkCalendar(hours=((time(9), time(12)), (time(11), time(17))))
    with pytest.raises(ValueError):
        WorkCalendar(hours=())


def test_custom_hours_and_timezone_object():
    cal = WorkCalendar(hours=((time(9), time(12)), (time(13, 30), time(17, 30))), tz=SH)
    assert cal.minutes_per_day == 420
    assert cal.add_working_hours(at(2025, 11, 14, 16), 4) == at(2025, 11, 17, 11, 30)
    assert cal.add_working_days(at(2025, 11, 14, 16), 1) == at(2025, 11, 17, 17, 30)
