"""Fixtures of instructions: the case loop's users, departments and cases (tests/cases/conftest.py),
plus a handler of another department and an operator of the other community only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shequ.accounts.models import Department, Role
from tests.cases.conftest import (  # noqa: F401  (fixtures, registered here by import)
    case_categories,
    case_departments,
    case_media,
    case_users,
    flow,
)


@pytest.fixture
def people(
    case_users: dict[str, Any],  # noqa: F811
    make_user: Callable[..., Any],
    two_communities: dict[str, Any],
    case_departments: dict[str, Department],  # noqa: F811
) -> dict[str, Any]:
    """case_users plus: handler2 (环卫所, another department), operator2 (community 2 only),
    a second enforcement handler (same department as `handler`)."""
    g = two_communities
    return {
        **case_users,
        "handler2": make_user(Role.DEPARTMENT_HANDLER, department=case_departments["sanitation"]),
        "colleague": make_user(Role.DEPARTMENT_HANDLER, department=case_departments["enforcement"]),
        "operator2": make_user(Role.COMMAND_OPERATOR, grids=(g["community2"],)),
        "admin": make_user(Role.ADMINISTRATOR),
    }


@pytest.fixture(autouse=True)
def _default_language() -> Any:
    """Each test starts in the default language (zh-Hans): a page requested in English activates
    English in the thread, and the ages ("已等待 25 分钟") are translated strings."""
    from django.conf import settings
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        yield
