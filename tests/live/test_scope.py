"""Who sees which feed event: the rules of docs/live.md "Scope", per role, on the pure Viewer and on
viewers built from real accounts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shequ.accounts.models import Role
from shequ.live.scope import Viewer, viewer_for


def event(grid: int | None = None, department: int | None = None, user: int | None = None) -> dict[str, Any]:
    return {"grid_id": grid, "department_id": department, "user_id": user}


def viewer(
    role: Role, grids: frozenset[int] | None = frozenset({1, 2}), department: int | None = None
) -> Viewer:
    return Viewer(user_id=7, role=role.value, grids=grids, department_id=department)


def test_administrator_sees_everything() -> None:
    admin = viewer(Role.ADMINISTRATOR, grids=None)
    assert all(admin.sees(e) for e in (event(1), event(99), event(), event(department=3), event(user=8)))


def test_command_operator_sees_their_grids_and_unplaced_reports() -> None:
    op = viewer(Role.COMMAND_OPERATOR)
    assert op.sees(event(1)) and op.sees(event(2, department=5))
    assert op.sees(event(None))  # not located yet: the command center places it
    assert not op.sees(event(3))
    assert not op.sees(event(3, user=7))  # a person's event outside their grids
    assert viewer(Role.COMMAND_OPERATOR, grids=None).sees(event(99))


def test_leader_sees_their_grids_only() -> None:
    leader = viewer(Role.LEADER)
    assert leader.sees(event(2))
    assert not leader.sees(event(None)) and not leader.sees(event(3)) and not leader.sees(event(3, user=7))


def test_department_handler_sees_their_department_and_themselves() -> None:
    handler = viewer(Role.DEPARTMENT_HANDLER, grids=frozenset(), department=5)
    assert handler.sees(event(3, department=5))
    assert handler.sees(event(3, department=6, user=7))
    assert not handler.sees(event(1, department=6)) and not handler.sees(event(None))
    assert not viewer(Role.DEPARTMENT_HANDLER, grids=frozenset(), department=None).sees(event(1))


def test_grid_worker_sees_their_grids_and_themselves() -> None:
    worker = viewer(Role.GRID_WORKER, grids=frozenset({1}))
    assert worker.sees(event(1)) and worker.sees(event(4, user=7))
    assert not worker.sees(event(2)) and not worker.sees(event(None)) and not worker.sees(event(2, user=8))


@pytest.mark.parametrize(
    "role", [Role.RESIDENT, Role.EMERGENCY_MANAGER, Role.SERVICE_CLERK, Role.PARTY_OFFICER]
)
def test_other_roles_see_nothing(role: Role) -> None:
    other = viewer(role, grids=None)
    assert not other.sees_anything
    assert not other.sees(event(1)) and not other.sees(event(None)) and not other.sees(event(user=7))


def test_a_feed_message_is_judged_by_its_payload() -> None:
    op = viewer(Role.COMMAND_OPERATOR)
    assert op.sees({"seq": 1, "payload": event(1)})
    assert not op.sees({"seq": 1, "payload": event(3)})
    assert not op.sees({"seq": 1, "payload": "junk"})


def test_viewers_of_real_accounts(case_users: dict[str, Any], two_communities: dict[str, Any]) -> None:
    g = two_communities
    operator = viewer_for(case_users["operator"])  # answers for the street: both communities
    assert operator is not None and g["grid21"].pk in (operator.grids or ())
    assert operator.sees(event(g["grid11"].pk)) and operator.sees(event(None))
    worker = viewer_for(case_users["worker11"])
    assert worker is not None
    assert worker.sees(event(g["grid11"].pk)) and not worker.sees(event(g["grid21"].pk))
    handler = case_users["handler"]
    as_handler = viewer_for(handler)
    assert as_handler is not None and as_handler.sees(event(g["grid21"].pk, department=handler.department_id))
    resident = viewer_for(case_users["resident"])
    assert resident is not None and not resident.sees_anything

    class Anonymous:
        is_authenticated = False

    assert viewer_for(Anonymous()) is None


@pytest.mark.django_db
def test_grid_worker_sees_only_instructions_addressed_to_them(case_users: dict[str, Any], flow: Any) -> None:
    """Regression: the feed showed a grid worker every instruction about their grids (its title, its
    case), where command.selectors lets them see only those addressed to them (the API answers 404)."""
    from shequ.command import services as command
    from shequ.core.models import Event
    from shequ.live.messages import FeedItem, to_items
    from shequ.live.views import replay

    worker, operator = case_users["worker11"], case_users["operator"]
    case = flow.report(grid="grid11")
    start = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    command.send_instruction(actor=operator, title="给部门", text="x", department=flow.department, case=case)
    command.send_instruction(actor=operator, title="给网格员", text="x", recipient=worker, case=case)
    rows = list(
        Event.objects.filter(seq__gt=start, type="command.instruction")
        .order_by("seq")
        .values_list("seq", "type", "payload", "occurred_at")
    )
    items = [FeedItem.from_wire(item.as_wire()) for item in to_items(rows)]  # as the layer carries them
    as_worker, as_operator = viewer_for(worker), viewer_for(operator)
    assert as_worker is not None and as_operator is not None

    def titles(chosen: list[FeedItem]) -> list[str]:
        return [json.loads(i.data)["title"] for i in chosen]

    live = [i for i in items if as_worker.sees_keys(i.grid_id, i.department_id, i.user_id, i.kind)]
    assert titles(live) == ["新指令: 给网格员"]
    assert titles(replay(as_worker, start, rows[-1][0], 500) or []) == ["新指令: 给网格员"]
    assert as_operator.sees(json.loads(items[0].data))  # a feed message names its type
    assert not as_worker.sees(json.loads(items[0].data)) and as_worker.sees(json.loads(items[1].data))
    # Case events of their grids they still see.
    assert as_worker.sees_keys(case.grid_id, None, None, "cases.transitioned")
