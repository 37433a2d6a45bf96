"""Measures count only what the user may see: a grid worker their grids, a department handler their
department, a resident nothing (ARCHITECTURE §7)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.analytics.conftest import at

MARCH = {"start": dt.date(2025, 3, 1), "end": dt.date(2025, 3, 31)}


@pytest.fixture
def cases(world: dict[str, Any], make_case: Callable[..., Any]) -> dict[str, Any]:
    from shequ.analytics.rollups import rebuild_rollups

    w = world
    make_case(grid=w["grid11"], department=w["dept_a"], created_at=at(3, 2, 9))
    make_case(grid=w["grid11"], department=w["dept_b"], created_at=at(3, 3, 9))
    make_case(grid=w["grid12"], department=w["dept_a"], created_at=at(3, 4, 9))
    make_case(grid=w["grid21"], department=w["dept_a"], created_at=at(3, 5, 9))
    make_case(grid=None, created_at=at(3, 6, 9))  # not located: only the whole platform sees it
    rebuild_rollups()
    return w


@pytest.mark.parametrize("raw", [False, True])
def test_each_role_counts_its_own(cases: dict[str, Any], make_user: Callable[..., Any], raw: bool) -> None:
    from shequ.accounts.models import Role
    from shequ.analytics.measures import measures, measures_raw

    fn = measures_raw if raw else measures
    w = cases

    def reported(user: Any, **kwargs: Any) -> dict[Any, int]:
        return {r["key"]: r["reported"] for r in fn(user, **MARCH, **kwargs)}

    assert reported(make_user(Role.ADMINISTRATOR)) == {None: 5}
    worker = make_user(Role.GRID_WORKER, grids=(w["grid11"],))
    assert reported(worker) == {None: 2}
    assert reported(worker, group_by="grid") == {w["grid11"].pk: 2}
    assert reported(worker, group_by="department") == {w["dept_a"].pk: 1, w["dept_b"].pk: 1}
    leader = make_user(Role.LEADER, grids=(w["community1"],))
    assert reported(leader, group_by="grid") == {w["grid11"].pk: 2, w["grid12"].pk: 1}
    handler = make_user(Role.DEPARTMENT_HANDLER, department=w["dept_a"])
    assert reported(handler, group_by="community") == {w["community1"].pk: 2, w["community2"].pk: 1}
    assert reported(handler, group_by="source") == {"resident": 3}
    assert fn(make_user(Role.RESIDENT), **MARCH) == []
    assert fn(make_user(Role.GRID_WORKER), **MARCH) == []  # no grid assigned: nothing
