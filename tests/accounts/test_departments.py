"""Departments are created through accounts.services, audited, with clear refusals."""

from __future__ import annotations

import pytest

from shequ.accounts.models import Department
from shequ.accounts.services import create_department
from shequ.core.errors import Conflict, Invalid
from shequ.core.models import AuditEntry


@pytest.mark.django_db
def test_department_is_created_and_audited(system_user):
    dept = create_department(code=" chengguan ", name="城市管理综合执法局", actor=system_user)
    assert dept.code == "chengguan" and dept.kind == Department.Kind.GOVERNMENT
    assert AuditEntry.objects.filter(action="department.create", target_id=str(dept.pk)).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "name", "error", "field"),
    [
        ("", "城管", Invalid, "code"),
        ("x" * 33, "城管", Invalid, "code"),
        ("cg", " ", Invalid, "name"),
        ("taken", "另一个", Conflict, "code"),
    ],
)
def test_bad_departments_are_refused(system_user, code, name, error, field):
    create_department(code="taken", name="已有部门", actor=system_user)
    with pytest.raises(error) as caught:
        create_department(code=code, name=name, actor=system_user)
    assert caught.value.field == field
    assert Department.objects.count() == 1
