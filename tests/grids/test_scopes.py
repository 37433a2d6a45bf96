"""Data scopes: who sees which grids (and so which people)."""

from __future__ import annotations

import pytest

from shequ.accounts.models import Department, Role
from shequ.grids.selectors import visible_grid_ids

pytestmark = pytest.mark.django_db


def test_grid_worker_sees_only_their_grid(make_user, two_communities):
    g = two_communities
    worker = make_user(Role.GRID_WORKER, grids=(g["grid11"],))
    assert visible_grid_ids(worker) == {g["grid11"].pk}


def test_operator_of_a_community_sees_its_subtree_only(make_user, two_communities):
    g = two_communities
    operator = make_user(Role.COMMAND_OPERATOR, grids=(g["community1"],))
    assert visible_grid_ids(operator) == {g["community1"].pk, g["grid11"].pk, g["grid12"].pk}


def test_leader_of_the_street_sees_everything_under_it(make_user, two_communities):
    leader = make_user(Role.LEADER, grids=(two_communities["street"],))
    assert len(visible_grid_ids(leader)) == 7


def test_unassigned_area_role_sees_nothing_and_admin_sees_all(make_user, system_user, two_communities):
    assert visible_grid_ids(make_user(Role.COMMAND_OPERATOR)) == frozenset()
    assert visible_grid_ids(system_user) is None


def test_department_and_resident_see_no_grid_data(make_user, two_communities):
    dept = Department.objects.create(code="d1", name="城管执法中队")
    handler = make_user(Role.DEPARTMENT_HANDLER, department=dept, grids=(two_communities["street"],))
    assert visible_grid_ids(handler) == frozenset()
    assert visible_grid_ids(make_user(Role.RESIDENT)) == frozenset()
