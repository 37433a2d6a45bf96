"""Official Chinese working-day calendar and working-time arithmetic for case time limits (时限).

Pure module (no Django). Holidays and adjusted working days (调休) come from the ``chinesecalendar``
package (years it covers), overridden per date by caller-supplied overrides (years it does not cover
yet, or corrections). A year with neither falls back to Monday–Friday; ``covers(year)`` is False then
so the app can warn that the year's arrangement has not been entered.

Semantics:

* Working time is the wall-clock periods ``hours`` on working days. ``DEFAULT_HOURS`` is
  08:30–12:00 and 14:00–17:30 (7 h), a common 街道/区 government office day; pass your own
  ``hours`` for other schedules.
* "N working days" follows the 12345 hotline / statutory rule (民法典 §201: the start day is not
  counted): day 1 is the first working day strictly after the start's calendar date, and the deadline
  is the end of the last working period of day N.
* Durations are counted in whole minutes, truncated toward zero; ``working_minutes_between`` is
  antisymmetric (end < start gives the negative of the reverse).
* All datetime inputs must be timezone-aware (naive raises ValueError); results are in ``tz``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = ["DEFAULT_HOURS", "DEFAULT_TZ", "WorkCalendar", "default_calendar"]

DEFAULT_HOURS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))
DEFAULT_TZ = "Asia/Shanghai"

# Copied once so that only the package's two exported dicts are relied upon.
_PKG_HOLIDAYS: frozenset[date] = frozenset(chinese_calendar.holidays)
_PKG_WORKDAYS: frozenset[date] = frozenset(chinese_calendar.workdays)
_PKG_YEARS: frozenset[int] = frozenset(d.year for d in _PKG_HOLIDAYS | _PKG_WORKDAYS)

_MINUTE = timedelta(minutes=1)


class WorkCalendar:
    """Working days and working hours with per-date overrides (True = working, False = not)."""

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        hours: Sequence[tuple[time, time]] = DEFAULT_HOURS,
        tz: str | tzinfo = DEFAULT_TZ,
    ) -> None:
        self.overrides: dict[date, bool] = {d: bool(v) for d, v in (overrides or {}).items()}
        self._override_years = frozenset(d.year for d in self.overrides)
        self.hours: tuple[tuple[time, time], ...] = tuple((a, b) for a, b in hours)
        if not self.hours:
            raise ValueError("hours must contain at least one period")
        for i, (a, b) in enumerate(self.hours):
            if not a < b:
                raise ValueError(f"period {a}-{b} is empty or reversed")
            if i and self.hours[i - 1][1] > a:
                raise ValueError("periods must be sorted and must not overlap")
        self.tz: tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.minutes_per_day = sum(
            (datetime.combine(date.min, b) - datetime.combine(date.min, a)) // _MINUTE for a, b in self.hours
        )

    # -- days ---------------------------------------------------------------------------------------

    def covers(self, year: int) -> bool:
        """Whether the year's official arrangement is known (package data or any override)."""
        return year in _PKG_YEARS or year in self._override_years

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day (an aware datetime is first converted to ``tz``)."""
        if isinstance(d, datetime):
            d = self._local(d).date()
        if d in self.overrides:
            return self.overrides[d]
        if d in _PKG_HOLIDAYS:
            return False
        if d in _PKG_WORKDAYS:
            return True
        return d.weekday() < 5

    def next_working_day(self, d: date) -> date:
        """First working day strictly after ``d``."""
        d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def working_days_between(self, d1: date, d2: date) -> int:
        """Working days in (d1, d2]; negative of the reverse if d2 < d1.

        Consistent with ``add_working_days``: ``working_days_between(s.date(), add_working_days(s, n).date())
        == n``.
        """
        if d2 < d1:
            return -self.working_days_between(d2, d1)
        return sum(self.is_working_day(d1 + timedelta(days=i)) for i in range(1, (d2 - d1).days + 1))

    # -- working time -------------------------------------------------------------------------------

    def working_minutes_between(self, start: datetime, end: datetime) -> int:
        """Whole working minutes in [start, end); ``-working_minutes_between(end, start)`` if end < start."""
        s, e = self._local(start), self._local(end)
        if e < s:
            return -self.working_minutes_between(end, start)
        total = timedelta()
        day = s.date()
        while day <= e.date():
            if self.is_working_day(day):
                for p0, p1 in self._periods(day):
                    lo, hi = max(s, p0), min(e, p1)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total // _MINUTE

    def add_working_minutes(self, start: datetime, minutes: int) -> datetime:
        """Instant ``minutes`` working minutes after ``start``.

        Outside working time the count begins at the next period's start; a result exactly at a period
        end stays there. ``minutes == 0`` returns ``start`` unchanged (in ``tz``).
        """
        return self._add(start, timedelta(minutes=minutes))

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """Like ``add_working_minutes`` with ``hours`` working hours (fractions allowed)."""
        return self._add(start, timedelta(hours=hours))

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """Deadline for "n working days": end of the last working period of the n-th working day after
        the start's date (the start day itself never counts, whatever the hour)."""
        if n < 1:
            raise ValueError("n must be >= 1")
        day = self._local(start).date()
        for _ in range(n):
            day = self.next_working_day(day)
        return self._aware(self._periods(day)[-1][1])

    # -- internals ----------------------------------------------------------------------------------

    def _local(self, dt: datetime) -> datetime:
        """Naive wall-clock datetime in ``tz``; rejects naive input."""
        if not isinstance(dt, datetime):
            raise TypeError(f"expected datetime, got {type(dt).__name__}")
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError("naive datetime; a timezone-aware datetime is required")
        return dt.astimezone(self.tz).replace(tzinfo=None)

    def _aware(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.tz)

    def _periods(self, day: date) -> list[tuple[datetime, datetime]]:
        return [(datetime.combine(day, a), datetime.combine(day, b)) for a, b in self.hours]

    def _add(self, start: datetime, delta: timedelta) -> datetime:
        if delta < timedelta():
            raise ValueError("cannot add a negative working duration")
        cursor = self._local(start)
        if not delta:
            return self._aware(cursor)
        day = cursor.date()
        while True:  # terminates: every week has working days, at worst via the Mon–Fri fallback
            if self.is_working_day(day):
                for p0, p1 in self._periods(day):
                    if cursor >= p1:
                        continue
                    begin = max(cursor, p0)
                    if delta <= p1 - begin:
                        return self._aware(begin + delta)
                    delta -= p1 - begin
            day += timedelta(days=1)
            cursor = datetime.combine(day, time.min)


@functools.cache
def default_calendar() -> WorkCalendar:
    """Shared calendar with package data only, default hours and Asia/Shanghai (no overrides)."""
    return WorkCalendar()
