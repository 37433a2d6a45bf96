"""Fixtures of units: the case loop's users and grids (tests/cases/conftest.py), and helpers that put
a unit on duty at a point, through the services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from shequ.accounts.models import Department, Role
from shequ.units import services
from tests.cases.conftest import case_categories, case_departments, case_media, case_users  # noqa: F401

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def on_duty() -> Callable[..., Any]:
    """on_duty(user, lon, lat): consent, on duty, one position there (now)."""

    def put(user: Any, lon: float | None = None, lat: float | None = None, *, status: str = "on_duty") -> Any:
        services.set_status(user, status, consent=True)
        if lon is not None and lat is not None:
            services.record_position(user, lon, lat, 10.0)
        return user

    return put


@pytest.fixture
def units(
    make_user: Callable[..., Any],
    case_users: dict[str, Any],  # noqa: F811
    two_communities: dict[str, Any],
) -> dict[str, Any]:
    """case_users plus a second grid worker of grid11, one of grid12, a community-1 operator and a
    second handler of the enforcement squad."""
    g = two_communities
    enforcement, sanitation = Department.objects.get(code="ZF01"), Department.objects.get(code="HW01")
    return case_users | {
        "worker11b": make_user(Role.GRID_WORKER, grids=(g["grid11"],), display_name="网格员乙"),
        "worker12": make_user(Role.GRID_WORKER, grids=(g["grid12"],), display_name="网格员丙"),
        "operator1": make_user(Role.COMMAND_OPERATOR, grids=(g["community1"],), display_name="社区1坐席"),
        "operator2": make_user(Role.COMMAND_OPERATOR, grids=(g["community2"],), display_name="社区2坐席"),
        "handler2": make_user(Role.DEPARTMENT_HANDLER, department=enforcement, display_name="队员二"),
        "handler_other": make_user(Role.DEPARTMENT_HANDLER, department=sanitation, display_name="环卫员"),
    }


@pytest.fixture(autouse=True)
def _chinese() -> Any:
    """Messages are asserted in zh-Hans, whatever language an earlier test's request left active."""
    from django.utils import translation

    with translation.override("zh-hans"):
        yield
