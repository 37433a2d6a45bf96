"""Case rows with explicit timestamps, for the measures. The state machine is tested in
tests/cases; here a case is whatever its milestones say, written straight to the row."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2025) -> dt.datetime:
    """A moment in Asia/Shanghai."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def world(two_communities: dict[str, Any], system_user: Any) -> dict[str, Any]:
    """Two communities of two grids, two departments, two major classes with three subclasses."""
    from shequ.accounts.services import create_department
    from shequ.cases.models import Category

    w = dict(two_communities)
    w["dept_a"] = create_department(code="cg", name="城管执法中队", actor=system_user)
    w["dept_b"] = create_department(code="wy", name="物业公司", actor=system_user)
    m1 = Category.objects.create(kind="event", code="T1", name="市容环境")
    m2 = Category.objects.create(kind="component", code="T2", name="公用设施")
    w.update(
        m1=m1,
        m2=m2,
        s1=Category.objects.create(kind="event", code="T101", name="暴露垃圾", parent=m1),
        s2=Category.objects.create(kind="event", code="T102", name="占道经营", parent=m1),
        s3=Category.objects.create(kind="component", code="T201", name="井盖", parent=m2),
    )
    return w


@pytest.fixture
def make_case(db: Any) -> Callable[..., Any]:
    """A Case row as given; `created_at` (auto_now_add) and `supervised_at` (a 督办 row) set after."""
    from shequ.cases.models import Case, Supervision

    numbers = itertools.count(1)

    def make(*, created_at: dt.datetime, supervised_at: dt.datetime | None = None, **fields: Any) -> Any:
        fields.setdefault("description", "测试案件")
        fields.setdefault("source", "resident")
        case = Case.objects.create(number=f"T{next(numbers):06d}", **fields)
        Case.objects.filter(pk=case.pk).update(created_at=created_at)
        if supervised_at:
            Supervision.objects.create(
                case=case, level=fields.get("supervision_level", 1), at=supervised_at, reason="超期"
            )
        case.refresh_from_db()
        return case

    return make
