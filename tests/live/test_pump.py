"""The pump: holes in the seq order, outbox rows turned into feed messages (titles, urgent flag,
the case and unit attached), messages chained for the streams, and the lease on Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.db import transaction

from shequ.accounts.models import Role
from shequ.cases.models import CaseState, Urgency
from shequ.cases.services import workflow
from shequ.command.events import InstructionEvent
from shequ.core.models import Event
from shequ.core.outbox import publish
from shequ.live.messages import FeedItem
from shequ.live.pump import Cursor, Pump, batches, collect, initial_seq
from shequ.units.events import UnitPosition


def test_cursor_sends_in_order_and_waits_for_a_late_seq() -> None:
    cursor = Cursor(10, grace=2.0)
    assert cursor.advance([11, 12], now=0.0) == [11, 12]
    assert cursor.advance([14, 15], now=1.0) == []  # 13 not committed yet: hold 14 and 15
    assert cursor.advance([14, 15], now=2.5) == []  # still within 13's grace (seen first at 1.0)
    assert cursor.advance([13, 14, 15], now=2.9) == [13, 14, 15]  # it came: all, in order
    assert cursor.seq == 15


def test_cursor_passes_over_a_hole_that_never_fills() -> None:
    cursor = Cursor(10, grace=2.0)
    assert cursor.advance([12], now=0.0) == []
    assert cursor.advance([12, 13], now=2.0) == [12, 13]  # 11 rolled back: given up after the grace
    assert cursor.advance([15], now=2.0) == []  # a new hole has a grace of its own
    assert cursor.advance([11, 13], now=9.0) == []  # below the mark: never sent again


def test_batches_are_chained() -> None:
    items = [FeedItem(seq, None, None, None, "{}") for seq in range(1, 251)]
    out = batches(items, prev=0, last=260)
    assert [(m["prev"], m["last"], len(m["items"])) for m in out] == [
        (0, 100, 100),
        (100, 200, 100),
        (200, 260, 50),
    ]


def rows_after(seq: int) -> Cursor:
    return Cursor(seq, grace=0.0)


def test_case_events_become_feed_messages(flow: Any, two_communities: dict[str, Any]) -> None:
    start = initial_seq(0.0)
    case = flow.report(grid="grid11", urgency=Urgency.CRITICAL)
    flow.to_state(CaseState.FILED, case)
    workflow.supervise_case(case, actor=flow.operator, level=1, reason="群众反映强烈")
    Event.objects.create(type="registry.other", payload={"x": 1})  # not a feed type: left out
    cursor = rows_after(start)
    items = collect(cursor)
    assert cursor.seq == Event.objects.latest("seq").seq
    messages = [json.loads(i.data) for i in items]
    acts = [(m["type"], m["payload"].get("action") or m["payload"].get("what")) for m in messages]
    assert acts == [
        ("cases.transitioned", "report"),
        ("cases.transitioned", "file"),
        ("cases.transitioned", "supervise"),
        ("cases.deadline", "supervised"),
    ]
    report = messages[0]
    assert report["title"] == f"案件 {case.number} 上报 · {flow.category.name}"
    assert report["urgent"] is True  # a critical case reported
    assert messages[1]["urgent"] is False  # filing it is no alarm
    # Supervision alarms once: on its deadline event, not also on the history step.
    assert [m["urgent"] for m in messages[2:]] == [False, True]
    assert messages[3]["title"] == f"案件 {case.number} 升级为 1 级督办"
    # The case as it is now, once per event: the same dict for all three.
    assert report["case"] == {
        "id": case.pk,
        "number": case.number,
        "state": "filed",
        "state_label": "已立案",
        "lon": case.lon,
        "lat": case.lat,
        "urgency": "critical",
        "overdue": False,
        "category": {"id": flow.category.pk, "code": flow.category.code, "name": flow.category.name},
        "grid": two_communities["grid11"].code,
    }
    assert report["unit"] is None
    assert items[0].grid_id == two_communities["grid11"].pk


def test_instruction_and_position_events(make_user: Any, two_communities: dict[str, Any]) -> None:
    worker = make_user(Role.GRID_WORKER, grids=(two_communities["grid11"],), display_name="网格员张")
    start = initial_seq(0.0)
    grid = two_communities["grid11"].pk
    with transaction.atomic():
        publish(
            InstructionEvent(
                instruction_id=1,
                what="escalated",
                case_id=None,
                grid_id=grid,
                department_id=None,
                user_id=worker.pk,
                title="立即核查",
                level=2,
                urgency="normal",
                at="2026-05-01T09:00:00+08:00",
            )
        )
        publish(
            UnitPosition(
                user_id=worker.pk,
                grid_id=grid,
                department_id=None,
                lon=103.605,
                lat=36.505,
                status="on_duty",
                at="2026-05-01T09:00:00+08:00",
            )
        )
    instruction, position = (json.loads(i.data) for i in collect(rows_after(start)))
    assert instruction["title"] == "指令升级: 立即核查" and instruction["urgent"] is True
    assert instruction["case"] is None and instruction["unit"] is None
    assert position["title"] == "网格员张 在岗" and position["urgent"] is False
    assert position["unit"] == {
        "user_id": worker.pk,
        "name": "网格员张",
        "role": "grid_worker",
        "lon": 103.605,
        "lat": 36.505,
        "status": "on_duty",
        "at": "2026-05-01T09:00:00+08:00",
    }


def test_one_pump_holds_the_lease(redis_layer: Any, transactional_db: Any) -> None:
    async def race() -> list[bool]:
        pumps = [Pump(), Pump()]
        assert all(p.shared for p in pumps)
        for p in pumps:
            await p._lease(0.0)
        holders = [p.holder for p in pumps]
        for p in pumps:
            await p._stop()  # the holder gives the lease back
        taker = Pump()
        await taker._lease(0.0)
        holders.append(taker.holder)
        await taker._stop()
        return holders

    assert asyncio.run(race()) == [True, False, True]


@pytest.mark.parametrize("grace", [0.0, 3600.0])
def test_a_fresh_pump_starts_after_old_rows(db: Any, grace: float) -> None:
    Event.objects.create(type="x.y", payload={})
    newest = Event.objects.latest("seq").seq
    assert initial_seq(grace) == (newest if grace == 0.0 else newest - 1)
