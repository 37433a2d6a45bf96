"""Every measure computed by hand on a small known history (docs/measures.md), through the
rollups (rebuilt, or kept case by case) and straight from the cases: all three must agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.analytics.conftest import at

MARCH = {"start": dt.date(2025, 3, 1), "end": dt.date(2025, 3, 31)}


@pytest.fixture
def history(world: dict[str, Any], make_case: Callable[..., Any]) -> dict[str, Any]:
    """Eleven cases around March 2025 (times are Asia/Shanghai). Handling time = closed − filed."""
    w = world
    g11, g12, g21 = w["grid11"], w["grid12"], w["grid21"]
    a, b = w["dept_a"], w["dept_b"]
    s1, s2, s3 = w["s1"], w["s2"], w["s3"]
    cases = {}
    # C1 patrol, closed on time on 3/4: handling 3/3 09:30 → 3/4 17:30 = 32 h = 1920 min.
    cases["c1"] = make_case(
        source="grid_worker", grid=g11, department=a, category=s1, state="closed",
        created_at=at(3, 3, 9), filed_at=at(3, 3, 9, 30), dispatched_at=at(3, 3, 10), dispatch_count=1,
        handle_due_at=at(3, 5, 18), handled_at=at(3, 4, 15), closed_at=at(3, 4, 17, 30),
        closed_on_time=True, satisfaction="satisfied", callback_at=at(3, 5, 10),
    )  # fmt: skip
    # C2 resident, returned once and re-dispatched, reworked once, closed late on 3/7 (due 3/6):
    # handling 3/3 11:00 → 3/7 10:00 = 95 h = 5700 min; 基本满意.
    cases["c2"] = make_case(
        source="resident", grid=g11, department=a, category=s2, state="closed",
        created_at=at(3, 3, 10), filed_at=at(3, 3, 11), dispatched_at=at(3, 3, 11), dispatch_count=2,
        return_count=1, rework_count=1, handle_due_at=at(3, 6, 12), handled_at=at(3, 7, 9),
        closed_at=at(3, 7, 10), closed_on_time=False, satisfaction="basically", callback_at=at(3, 7, 16),
    )  # fmt: skip
    # C3 camera, closed on time on 3/4: handling 08:10 → 12:10 = 240 min; 不满意.
    cases["c3"] = make_case(
        source="camera", grid=g12, department=b, category=s3, state="closed",
        created_at=at(3, 4, 8), filed_at=at(3, 4, 8, 10), dispatched_at=at(3, 4, 8, 20), dispatch_count=1,
        handle_due_at=at(3, 4, 20), handled_at=at(3, 4, 12), closed_at=at(3, 4, 12, 10),
        closed_on_time=True, satisfaction="dissatisfied", callback_at=at(3, 4, 18),
    )  # fmt: skip
    # C4 hotline, in progress, due 3/7.
    cases["c4"] = make_case(
        source="hotline", grid=g21, department=b, category=s1, state="in_progress",
        created_at=at(3, 5, 14), filed_at=at(3, 5, 15), dispatched_at=at(3, 5, 15), dispatch_count=1,
        accepted_at=at(3, 5, 16), handle_due_at=at(3, 7, 15),
    )  # fmt: skip
    # C5 drone, in progress, due 3/6 17:00, marked overdue 3/6 17:05, supervised 3/7.
    cases["c5"] = make_case(
        source="drone", grid=g21, department=a, category=s3, state="in_progress",
        created_at=at(3, 5, 22, 30), filed_at=at(3, 6, 8), dispatched_at=at(3, 6, 9), dispatch_count=1,
        handle_due_at=at(3, 6, 17), overdue_at=at(3, 6, 17, 5), supervision_level=1,
        supervised_at=at(3, 7, 9),
    )  # fmt: skip
    # C6 rejected (closed_at is stamped on rejecting, but it is not 结案); C11 merged likewise.
    cases["c6"] = make_case(
        source="resident", grid=g11, category=s1, state="rejected",
        created_at=at(3, 6, 9), closed_at=at(3, 6, 10),
    )  # fmt: skip
    cases["c11"] = make_case(
        source="resident", grid=g11, category=s1, state="merged",
        created_at=at(3, 4, 9, 5), closed_at=at(3, 4, 9, 20),
    )  # fmt: skip
    # C7 reported at 00:30 on Monday 3/10 in Shanghai (16:30 UTC on Sunday 3/9): week of 3/10.
    cases["c7"] = make_case(
        source="resident", grid=g12, category=s2, state="reported", created_at=at(3, 10, 0, 30)
    )
    # C8 handled on the spot by a grid worker: reported, filed and closed at once, no deadline,
    # closed_on_time left NULL: on time (no deadline missed), due on its closing day; 0 min.
    cases["c8"] = make_case(
        source="grid_worker", grid=g12, category=s1, state="closed", self_handled=True,
        created_at=at(3, 10, 10), filed_at=at(3, 10, 10), closed_at=at(3, 10, 10),
    )  # fmt: skip
    # C9 sensor, fed back on 3/11, awaiting verification, due 3/12.
    cases["c9"] = make_case(
        source="sensor", grid=g21, department=b, category=s3, state="handled",
        created_at=at(3, 11, 9), filed_at=at(3, 11, 9, 10), dispatched_at=at(3, 11, 9, 20), dispatch_count=1,
        handle_due_at=at(3, 12, 9, 20), handled_at=at(3, 11, 16),
    )  # fmt: skip
    # C10 inspection, reported and filed in February, closed on time 3/3:
    # handling 2/27 10:00 → 3/3 14:00 = 4 d 4 h = 100 h = 6000 min.
    cases["c10"] = make_case(
        source="inspection", grid=g11, department=a, category=s2, state="closed",
        created_at=at(2, 27, 9), filed_at=at(2, 27, 10), dispatched_at=at(3, 3, 8), dispatch_count=1,
        handle_due_at=at(3, 3, 18), handled_at=at(3, 3, 12), closed_at=at(3, 3, 14), closed_on_time=True,
        satisfaction="satisfied", callback_at=at(3, 3, 15),
    )  # fmt: skip
    return {**w, **cases}


@pytest.fixture(params=["rollups", "incremental", "raw"])
def measures(request: Any, history: dict[str, Any]) -> Callable[..., list[dict[str, Any]]]:
    from shequ.analytics import measures as m
    from shequ.analytics.rollups import rebuild_rollups, refresh_cases
    from shequ.cases.models import Case

    if request.param == "rollups":
        rebuild_rollups()
    elif request.param == "incremental":
        for pk in Case.objects.values_list("pk", flat=True):
            refresh_cases([pk])
    return m.measures_raw if request.param == "raw" else m.measures


@pytest.fixture
def admin(make_user: Callable[..., Any]) -> Any:
    from shequ.accounts.models import Role

    return make_user(Role.ADMINISTRATOR)


def test_march_totals_by_hand(measures: Callable[..., Any], admin: Any) -> None:
    [row] = measures(admin, **MARCH)
    assert row == {
        "period": dt.date(2025, 3, 1),
        "key": None,
        "name": "合计",
        # Reported in March: every case but C10 (February) = 10, of which proactive (patrol C1, C8,
        # camera C3, drone C5, sensor C9) = 5 → 5/10.
        "reported": 10,
        "proactive": 5,
        "proactive_rate": 0.5,
        # Filed in March: C1 C2 C3 C4 C5 C8 C9 = 7 (C10 in February; C6 C7 C11 never).
        "filed": 7,
        # Due: C1 (closed 3/4 before its deadline), C2 (deadline 3/6), C3 (3/4), C4 (3/7), C5 (3/6),
        # C8 (closed 3/10, no deadline), C9 (3/12), C10 (closed 3/3) = 8; rejected C6 and merged C11
        # are never due; C7 has no deadline yet. Closed among them: C1 C2 C3 C8 C10 = 5 → 5/8;
        # on time: C1 C3 C8 C10 = 4 → 4/8.
        "due": 8,
        "due_closed": 5,
        "closed_on_time": 4,
        "closure_rate": 0.625,
        "on_time_rate": 0.5,
        # Closed in March (state closed): C1 C2 C3 C8 C10 = 5, handling 1920 + 5700 + 240 + 0 + 6000
        # = 13860 min, mean 2772 min = 46.2 h. Sorted 0, 240, 1920, 5700, 6000; median = rank
        # ceil(2.5) = 3 → 1920 min, bucket [1440, 2160) → 2160 min = 36 h; p90 = rank ceil(4.5) = 5
        # → 6000 min, bucket [5760, 7200) → 7200 min = 120 h.
        "closed": 5,
        "handling_count": 5,
        "handling_hours_mean": 46.2,
        "handling_hours_median": 36.0,
        "handling_hours_p90": 120.0,
        # Fed back in March: C1 C2 C3 C9 C10 = 5, reworked C2 → 1/5.
        "handled": 5,
        "reworked": 1,
        "rework_rate": 0.2,
        # Dispatched in March: C1 1 + C2 2 + C3 1 + C4 1 + C5 1 + C9 1 + C10 1 = 8 dispatches,
        # returns C2 1 → 退单率 1/8, accuracy 7/8.
        "dispatches": 8,
        "returns": 1,
        "return_rate": 0.125,
        "dispatch_accuracy": 0.875,
        # Called back in March: C1 满意, C2 基本满意, C3 不满意, C10 满意 → (2 + 1) / 4.
        "rated": 4,
        "satisfied": 2,
        "basically_satisfied": 1,
        "satisfaction_rate": 0.75,
        # Overdue: C2 closed late (on its deadline's day 3/6), C5 marked overdue 3/6 = 2.
        "overdue": 2,
        # Supervised: C5 (3/7) = 1.
        "supervised": 1,
    }


def test_by_community_and_week(measures: Callable[..., Any], admin: Any, history: dict[str, Any]) -> None:
    rows = measures(admin, group_by="community", period="week", **MARCH)
    c1, c2 = history["community1"].pk, history["community2"].pk
    got = {(r["period"], r["key"]): r for r in rows}
    assert sorted(got) == [
        (dt.date(2025, 3, 3), c1),
        (dt.date(2025, 3, 3), c2),
        (dt.date(2025, 3, 10), c1),
        (dt.date(2025, 3, 10), c2),
    ]
    week1 = got[(dt.date(2025, 3, 3), c1)]
    assert week1["name"] == "社区1"
    # Community 1 (grids 11, 12), week of 3/3: reported C1 C2 C3 C6 C11 = 5, proactive C1 C3 = 2;
    # due C1 C2 C3 C10 = 4, all closed, on time C1 C3 C10 = 3; closed 4: minutes 1920, 5700, 240,
    # 6000 → mean 13860 / 4 = 3465 min = 57.75 h; median rank 2 → 1920 → 36 h; p90 rank
    # ceil(3.6) = 4 → 6000 → 120 h. Dispatches 1 + 2 + 1 + 1 = 5, returns 1.
    assert (week1["reported"], week1["proactive"], week1["filed"]) == (5, 2, 3)
    assert (week1["due"], week1["due_closed"], week1["closed_on_time"]) == (4, 4, 3)
    assert (week1["closure_rate"], week1["on_time_rate"]) == (1.0, 0.75)
    assert week1["handling_hours_mean"] == 57.75
    assert (week1["handling_hours_median"], week1["handling_hours_p90"]) == (36.0, 120.0)
    assert (week1["dispatches"], week1["returns"], week1["return_rate"]) == (5, 1, 0.2)
    assert (week1["rated"], week1["satisfaction_rate"]) == (4, 0.75)
    assert (week1["overdue"], week1["supervised"]) == (1, 0)
    # Community 2, week of 3/3: C4 and C5, both due and open (closure 0/2), C5 overdue and
    # supervised; nothing handled: the rates of nothing are None, not 0.
    week1b = got[(dt.date(2025, 3, 3), c2)]
    assert (week1b["reported"], week1b["due"], week1b["closure_rate"]) == (2, 2, 0.0)
    assert (week1b["overdue"], week1b["supervised"], week1b["dispatches"]) == (1, 1, 2)
    assert week1b["rework_rate"] is None and week1b["handling_hours_mean"] is None
    # Community 1, week of 3/10: C7 (00:30 Monday in Shanghai) and C8, closed in 0 min → bucket
    # [0, 30) → 0.5 h for median and p90, mean 0 h.
    week2 = got[(dt.date(2025, 3, 10), c1)]
    assert (week2["reported"], week2["proactive"], week2["closed"]) == (2, 1, 1)
    assert (week2["handling_hours_mean"], week2["handling_hours_median"], week2["handling_hours_p90"]) == (
        0.0,
        0.5,
        0.5,
    )
    week2b = got[(dt.date(2025, 3, 10), c2)]
    assert (week2b["reported"], week2b["handled"], week2b["reworked"], week2b["due"]) == (1, 1, 0, 1)


def test_by_department_month(measures: Callable[..., Any], admin: Any, history: dict[str, Any]) -> None:
    rows = measures(admin, group_by="department", period="month", **MARCH)
    got = {r["key"]: r for r in rows}
    a, b = history["dept_a"].pk, history["dept_b"].pk
    assert [r["key"] for r in rows] == [*sorted([a, b]), 0]  # the undispatched last
    assert (got[a]["name"], got[0]["name"]) == ("城管执法中队", "未派遣")
    # 城管 (C1 C2 C5 C10): dispatches 1 + 2 + 1 + 1 = 5, returns 1 → 1/5, accuracy 4/5;
    # rated C1 满意, C2 基本满意, C10 满意 → 3/3.
    assert (got[a]["dispatches"], got[a]["returns"], got[a]["return_rate"]) == (5, 1, 0.2)
    assert got[a]["dispatch_accuracy"] == pytest.approx(0.8)
    assert got[a]["satisfaction_rate"] == 1.0
    # 物业 (C3 C4 C9): 3 dispatches, no returns; C3 不满意 → 0/1.
    assert (got[b]["return_rate"], got[b]["dispatch_accuracy"], got[b]["satisfaction_rate"]) == (
        0.0,
        1.0,
        0.0,
    )
    # Not dispatched (C6 C7 C8 C11): reported 4, no dispatch → the return rate of nothing is None.
    assert (got[0]["reported"], got[0]["dispatches"], got[0]["return_rate"]) == (4, 0, None)


def test_by_category_source_and_day(
    measures: Callable[..., Any], admin: Any, history: dict[str, Any]
) -> None:
    # Major classes: 市容环境 = 0101 + 0102: C1 C2 C4 C6 C7 C8 C11 = 7 reported in March; 公用设施:
    # C3 C5 C9 = 3.
    majors = {r["key"]: r for r in measures(admin, group_by="major_category", **MARCH)}
    assert majors[history["m1"].pk]["reported"] == 7
    assert majors[history["m2"].pk]["reported"] == 3
    assert majors[history["m1"].pk]["name"] == "T1 市容环境"
    subs = {r["key"]: r["reported"] for r in measures(admin, group_by="category", **MARCH)}
    assert subs == {history["s1"].pk: 5, history["s2"].pk: 2, history["s3"].pk: 3}
    # Sources: residents C2 C6 C7 C11 = 4; inspection C10 was reported in February but closed in March.
    sources = {r["key"]: r for r in measures(admin, group_by="source", **MARCH)}
    assert sources["resident"]["reported"] == 4 and sources["resident"]["name"] == "居民上报"
    assert (sources["inspection"]["reported"], sources["inspection"]["closed"]) == (0, 1)
    # Day by day on the grid of C7: reported on Monday 3/10 in Shanghai, not on Sunday 3/9 (UTC).
    days = measures(admin, start=dt.date(2025, 3, 9), end=dt.date(2025, 3, 10), group_by="grid", period="day")
    assert [(r["period"], r["name"], r["reported"]) for r in days] == [
        (dt.date(2025, 3, 10), "社区1第2网格", 2)
    ]


def test_bounds_are_whole_days(measures: Callable[..., Any], admin: Any) -> None:
    # 3/4 alone: reported C3 (08:00) and C11 (09:05); closed C1 (17:30) and C3 (12:10).
    [row] = measures(admin, start=dt.date(2025, 3, 4), end=dt.date(2025, 3, 4))
    assert (row["reported"], row["closed"], row["due"]) == (2, 2, 2)
    assert measures(admin, start=dt.date(2025, 4, 1), end=dt.date(2025, 4, 30)) == []


def test_bad_arguments_are_refused(admin: Any) -> None:
    from shequ.analytics.measures import measures
    from shequ.core.errors import Invalid

    march = dt.date(2025, 3, 1)
    for kwargs in (
        {"start": march, "end": dt.date(2025, 2, 1)},
        {"start": march, "end": march, "group_by": "street"},
        {"start": march, "end": march, "period": "year"},
        {"start": dt.datetime(2025, 3, 1, tzinfo=dt.UTC), "end": march},
    ):
        with pytest.raises(Invalid):
            measures(admin, **kwargs)
