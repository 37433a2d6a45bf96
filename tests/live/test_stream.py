"""The live feed over a real HTTP stream: uvicorn serving the ASGI application, real sessions,
cases reported through the services, a client that drops and reconnects with Last-Event-ID.
Once with the in-memory channel layer and once with Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shequ.accounts.models import Role
from shequ.cases.models import CaseState
from shequ.core.models import Event
from shequ.live.messages import FEED_TYPES
from tests.live.sse import SSE

pytestmark = pytest.mark.slow


def feed_seqs(after: int) -> list[int]:
    return list(
        Event.objects.filter(seq__gt=after, type__in=FEED_TYPES).order_by("seq").values_list("seq", flat=True)
    )


def last_seq() -> int:
    return Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def connected(stream: SSE, timeout: float = 10.0) -> SSE:
    deadline = time.monotonic() + timeout
    while "connected" not in stream.comments:
        assert stream.status == 200, (stream.status, getattr(stream, "body", b""))
        assert time.monotonic() < deadline, "the stream never said it was connected"
        time.sleep(0.02)
    return stream


def ids(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["id"]) for e in events]


def run_scenario(
    base: str, flow: Any, make_user: Any, two_communities: dict[str, Any], session_of: Any
) -> None:
    g = two_communities
    op1 = make_user(Role.COMMAND_OPERATOR, grids=(g["community1"],), display_name="社区1坐席")
    op2 = make_user(Role.COMMAND_OPERATOR, grids=(g["community2"],), display_name="社区2坐席")
    mine = connected(SSE(base, session_of(op1)))
    other = connected(SSE(base, session_of(op2)))
    assert mine.headers["Content-Type"].startswith("text/event-stream")
    try:
        # Live: three reports in community 1 reach its operator, in order, within a second each.
        start = last_seq()
        started = time.monotonic()
        cases = [flow.report(grid="grid11"), flow.report(grid="grid12"), flow.report(grid="grid11")]
        expected = feed_seqs(start)
        assert len(expected) == 3
        got = mine.take(3, timeout=5)
        assert time.monotonic() - started < 3
        assert ids(got) == expected
        first = got[0]["data"]
        assert first["seq"] == expected[0] and first["type"] == "cases.transitioned"
        assert first["case"]["number"] == cases[0].number and first["case"]["state"] == "reported"
        assert first["case"]["grid"] == g["grid11"].code
        assert cases[0].number in first["title"] and "上报" in first["title"]
        assert first["at"].endswith("+08:00")
        assert first["payload"]["grid_id"] == g["grid11"].pk

        # Disconnect; more happens meanwhile: two reports and a case filed and dispatched.
        seen = ids(got)[-1]
        mine.close()
        flow.report(grid="grid12")
        flow.to_state(CaseState.DISPATCHED, cases[1])
        flow.report(grid="grid11")
        missed = feed_seqs(seen)
        assert len(missed) == 4

        # Reconnect with Last-Event-ID: every missed event once, in order, then live ones.
        again = connected(SSE(base, session_of(op1), last_event_id=str(seen)))
        try:
            assert ids(again.take(len(missed), timeout=5)) == missed
            flow.report(grid="grid12")
            live = feed_seqs(missed[-1])
            assert ids(again.take(1, timeout=5)) == live
            assert again.quiet(0.5) == []  # nothing twice

            # The other community's operator saw none of it; its own report reaches it alone.
            assert other.quiet(0) == []
            flow.report(grid="grid21")
            theirs = feed_seqs(live[-1])
            assert ids(other.take(1, timeout=5)) == theirs
            assert again.quiet(0.5) == []
        finally:
            again.close()
    finally:
        mine.close()
        other.close()


def test_stream_with_the_in_memory_layer(
    asgi_server: str, live_settings: Any, flow: Any, make_user: Any, two_communities: Any, session_of: Any
) -> None:
    run_scenario(asgi_server, flow, make_user, two_communities, session_of)


def test_stream_with_redis(
    redis_layer: Any, asgi_server: str, flow: Any, make_user: Any, two_communities: Any, session_of: Any
) -> None:
    run_scenario(asgi_server, flow, make_user, two_communities, session_of)
    assert redis_layer.get("shequ-live-test:live:pump:seq") is not None  # the shared mark


def test_refusals(asgi_server: str, live_settings: Any, case_users: dict[str, Any], session_of: Any) -> None:
    anonymous = SSE(asgi_server, None)
    assert anonymous.status == 403
    resident = SSE(asgi_server, session_of(case_users["resident"]))
    assert resident.status == 403
    operator = session_of(case_users["operator"])
    for bad in ("abc", "-1", "1.5", "99999999999999999999", " 1 2"):
        answer = SSE(asgi_server, operator, last_event_id=bad)
        assert answer.status == 400, bad
        assert "Last-Event-ID" in answer.body.decode()
    for bad in ("x", "%EF%BC%91%EF%BC%92", "%00"):  # "１２": full-width digits are not a seq
        answer = SSE(asgi_server, operator, path=f"/live/feed/?after={bad}")
        assert answer.status == 400 and '"field": "after"' in answer.body.decode(), bad
