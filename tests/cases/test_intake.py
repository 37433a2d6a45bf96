"""Intake: one path for every report — checked before anything is written, numbered, located,
routed, compared with open cases nearby, idempotent under retries and concurrent requests."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
import time_machine
from django.db import connection

from shequ.accounts.models import Role
from shequ.cases.models import Case, CaseState, Evidence, HistoryEntry, RoutingRule, Source, Stage
from shequ.cases.services import intake
from shequ.cases.services.deadlines import deadline_for
from shequ.cases.services.machine import Action, check, transition
from shequ.core import crypto
from shequ.core.errors import Forbidden, Invalid
from shequ.core.geo import distance_m, offset
from shequ.core.models import AuditEntry, Event
from tests.cases.conftest import IN_GRID11, IN_GRID12, IN_GRID21, OUTSIDE, make_jpeg, stored_files

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def report(actor: Any, *, at: tuple[float, float] | None = IN_GRID11, **kwargs: Any) -> Case:
    kwargs.setdefault("source", Source.GRID_WORKER)
    kwargs.setdefault("description", "路边有一堆生活垃圾")
    lon, lat = at if at is not None else (None, None)
    case, created = intake.report_case(actor=actor, lon=lon, lat=lat, **kwargs)
    assert created
    return case


def snapshot(media: Any) -> tuple[int, ...]:
    """Everything a report writes, to show that a refused one wrote none of it."""
    return (
        Case.objects.count(),
        HistoryEntry.objects.count(),
        Evidence.objects.count(),
        AuditEntry.objects.count(),
        Event.objects.count(),
        len(stored_files(media)),
    )


def transitions(case: Case) -> list[tuple[str, str, str, str]]:
    return list(case.history.values_list("action", "from_state", "to_state", "actor_name"))


# --- a report ------------------------------------------------------------------------------------


def test_a_grid_worker_report_is_numbered_located_and_starts_the_filing_clock(case_users, case_categories):
    worker = case_users["worker11"]
    rubbish = case_categories["暴露垃圾"]
    at = dt.datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)  # a Monday
    with time_machine.travel(at, tick=False):
        case = report(worker, category=rubbish, title="暴露垃圾", address="新区大道 1 号")

    assert re.fullmatch(r"2026113000001", case.number)
    assert case.grid is not None and case.grid.code == "62017110300101"
    assert (case.state, case.stage, case.stage_started_at) == (CaseState.REPORTED, Stage.FILE, at)
    assert case.due_at == deadline_for(rubbish, Stage.FILE, at) == at + dt.timedelta(minutes=60)
    assert (case.reporter, case.created_by, case.urgency) == (worker, worker, rubbish.urgency)
    assert transitions(case) == [("report", "", "reported", "网格员张")]
    assert case.history.get().detail == {"source": "grid_worker", "grid": "62017110300101"}
    event = Event.objects.get(type="cases.transitioned")
    assert event.payload | {"at": None} == {
        "case_id": case.pk,
        "number": case.number,
        "action": "report",
        "from_state": "",
        "to_state": "reported",
        "grid_id": case.grid_id,
        "department_id": None,
        "urgency": "normal",
        "at": None,
    }
    entry = AuditEntry.objects.get(action="case.report")
    assert (entry.actor, entry.target_id, entry.detail["number"]) == (worker, str(case.pk), case.number)


def test_numbers_count_per_day_in_shanghai_time(case_users):
    worker = case_users["worker11"]
    with time_machine.travel(dt.datetime(2026, 11, 29, 23, 59, tzinfo=SHANGHAI), tick=False):
        first, second = report(worker), report(worker)
    # 00:01 in Shanghai is still the 29th in UTC: the number follows Shanghai.
    with time_machine.travel(dt.datetime(2026, 11, 30, 0, 1, tzinfo=SHANGHAI), tick=False):
        third = report(worker)
    assert [first.number, second.number, third.number] == ["2026112900001", "2026112900002", "2026113000001"]


def test_the_sequence_goes_past_five_digits(case_users):
    worker = case_users["worker11"]
    with time_machine.travel(dt.datetime(2026, 11, 29, 12, 0, tzinfo=SHANGHAI), tick=False):
        Case.objects.create(number="2026112999999", source=Source.API, description="x")
        big = report(worker)
        bigger = report(worker)
    assert (big.number, bigger.number) == ("20261129100000", "20261129100001")


def test_a_hotline_call_keeps_the_caller_phone_encrypted_and_findable(case_users):
    operator = case_users["operator"]
    case = report(
        operator,
        source=Source.HOTLINE,
        reporter_name="王先生",
        reporter_phone="138 1234 5678",
        reporter_confidential=True,
    )
    assert case.reporter is None and case.created_by == operator
    assert (case.reporter_name, case.reporter_confidential) == ("王先生", True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reporter_phone FROM cases_case WHERE id = %s", [case.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("v1.") and "13812345678" not in stored
    assert Case.objects.get(pk=case.pk).reporter_phone == "+8613812345678"
    assert Case.objects.filter(reporter_phone_hash=crypto.keyed_hash("phone", "+8613812345678")).get() == case


def test_a_resident_reports_for_themselves_and_only_as_a_resident(case_users, media_guard):
    resident = case_users["resident"]
    case = report(resident, source=Source.RESIDENT, at=None)
    assert (case.reporter, case.grid, case.lon) == (resident, None, None)
    with media_guard(), pytest.raises(Forbidden) as err:
        report(resident, source=Source.CAMERA)
    assert err.value.field == "source"


def test_a_grid_worker_reports_only_inside_their_grids(case_users, media_guard):
    worker = case_users["worker11"]
    for where in (IN_GRID12, IN_GRID21, OUTSIDE):
        with media_guard(), pytest.raises(Forbidden) as err:
            report(worker, at=where)
        assert err.value.field == "lon"
    with media_guard(), pytest.raises(Invalid) as invalid:
        report(worker, at=None)
    assert invalid.value.field == "lon"
    # The operator of the street may report anywhere, also outside every grid (grid stays empty).
    assert report(case_users["operator"], at=OUTSIDE, source=Source.HOTLINE).grid is None


def test_an_inactive_or_anonymous_account_may_not_report(case_users, media_guard):
    from django.contrib.auth.models import AnonymousUser

    worker = case_users["worker21"]
    worker.is_active = False
    for actor in (worker, AnonymousUser()):
        with media_guard(), pytest.raises(Forbidden):
            report(actor, at=IN_GRID21)


@pytest.fixture
def media_guard(case_media):
    """A context that asserts the block wrote nothing: no row of any kind, no file."""
    from contextlib import contextmanager

    @contextmanager
    def guard():
        before = snapshot(case_media)
        try:
            yield
        finally:
            assert snapshot(case_media) == before

    return guard


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "   "}, "description"),
        ({"description": "长" * 2001}, "description"),
        ({"source": "pigeon"}, "source"),
        ({"urgency": "whenever"}, "urgency"),
        ({"lon": "东经一百度"}, "lon"),
        ({"lon": 200.0}, "lon"),
        ({"lat": float("nan")}, "lon"),
        ({"lat": None}, "lon"),
        ({"category": "major"}, "category"),
        ({"category": "inactive"}, "category"),
        ({"reporter_phone": "12345"}, "reporter_phone"),
        ({"reporter_name": "名" * 51}, "reporter_name"),
        ({"photos": [b"not an image"]}, "photos"),
        ({"photos": ["ok"] * 10}, "photos"),
        ({"photos": ["ok", b"\xff\xd8\xff\xe0 truncated"]}, "photos"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_writes_nothing(
    case_users, case_categories, media_guard, change, field
):
    from shequ.cases.models import Category

    rubbish = case_categories["暴露垃圾"]
    kwargs: dict[str, Any] = {
        "actor": case_users["operator"],
        "source": Source.HOTLINE,
        "description": "有人在路边倾倒垃圾",
        "category": rubbish,
        "lon": IN_GRID11[0],
        "lat": IN_GRID11[1],
    } | change
    if kwargs["category"] == "major":
        kwargs["category"] = rubbish.parent
    elif kwargs["category"] == "inactive":
        Category.objects.filter(pk=rubbish.pk).update(is_active=False)
        rubbish.refresh_from_db()
        kwargs["category"] = rubbish
    kwargs["photos"] = [make_jpeg() if p == "ok" else p for p in kwargs.get("photos", [])]
    with media_guard(), pytest.raises(Invalid) as err:
        intake.report_case(**kwargs)
    assert err.value.field == field


def test_report_photos_are_kept_with_the_report_entry(case_users, case_media):
    case = report(case_users["worker11"], photos=[make_jpeg(), make_jpeg((32, 32), fmt="PNG")])
    evidence = list(case.evidence.all())
    assert [(e.kind, e.content_type) for e in evidence] == [("report", "image/jpeg"), ("report", "image/png")]
    entry = case.history.get(action="report")
    assert {e.history_id for e in evidence} == {entry.pk}
    assert len(stored_files(case_media)) == 2


def test_a_failure_after_photos_were_stored_removes_the_files(case_users, case_media, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(intake, "_publish_report", broken)
    before = snapshot(case_media)
    with pytest.raises(RuntimeError):
        report(case_users["worker11"], photos=[make_jpeg(), make_jpeg()])
    assert snapshot(case_media) == before


# --- routing -------------------------------------------------------------------------------------


def rule(name: str, department: Any, **fields: Any) -> RoutingRule:
    return RoutingRule.objects.create(name=name, department=department, **fields)


def test_the_most_specific_rule_wins(two_communities, case_categories, case_departments):
    g, d = two_communities, case_departments
    rubbish, parking = case_categories["暴露垃圾"], case_categories["机动车乱停放"]
    rule("全部", d["community"])
    rule("暴露垃圾", d["sanitation"], category=rubbish)
    rule("社区1", d["property"], grid=g["community1"])
    rule("第1网格", d["enforcement"], grid=g["grid11"])
    rule("社区1暴露垃圾", d["gas"], category=rubbish, grid=g["community1"])
    rule("停用", d["night"], category=rubbish, grid=g["grid11"], is_active=False)
    now = dt.datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)

    def routed(category: Any, grid: Any) -> str | None:
        found = intake.route(category, grid, now)
        return found.name if found else None

    assert routed(rubbish, g["grid11"]) == "社区1暴露垃圾"  # category beats a deeper grid
    assert routed(rubbish, g["grid21"]) == "暴露垃圾"
    assert routed(parking, g["grid11"]) == "第1网格"  # the deeper grid beats its community
    assert routed(parking, g["grid12"]) == "社区1"  # a rule on a community covers its grids
    assert routed(parking, g["grid21"]) == "全部"
    assert routed(None, None) == "全部"
    assert routed(rubbish, None) == "暴露垃圾"


def test_priority_breaks_a_tie_and_inactive_departments_are_skipped(two_communities, case_departments):
    d = case_departments
    rule("低", d["property"], priority=1)
    high = rule("高", d["enforcement"], priority=5)
    assert intake.route(None, two_communities["grid11"]) == high
    d["enforcement"].is_active = False
    d["enforcement"].save()
    assert intake.route(None, two_communities["grid11"]).name == "低"


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        ("21:59", "全天"),
        ("22:00", "夜间"),
        ("23:30", "夜间"),
        ("00:00", "夜间"),
        ("05:59", "夜间"),
        ("06:00", "全天"),
        ("07:59", "全天"),
        ("08:00", "白天"),
        ("17:59", "白天"),
        ("18:00", "全天"),
    ],
)
def test_time_windows_are_in_shanghai_time_and_may_cross_midnight(
    two_communities, case_departments, clock, expected
):
    d, grid = case_departments, two_communities["grid11"]
    rule("全天", d["community"], grid=grid)
    rule("夜间", d["night"], grid=grid, starts_at=dt.time(22, 0), ends_at=dt.time(6, 0))
    rule("白天", d["property"], grid=grid, starts_at=dt.time(8, 0), ends_at=dt.time(18, 0))
    hour, minute = map(int, clock.split(":"))
    local = dt.datetime(2026, 11, 30, hour, minute, tzinfo=SHANGHAI)
    assert intake.route(None, grid, local.astimezone(dt.UTC)).name == expected


def test_auto_dispatch_files_and_dispatches_as_routing(case_users, case_categories, case_departments):
    rubbish = case_categories["暴露垃圾"]
    sanitation = case_departments["sanitation"]
    chosen = rule("环卫自动派遣", sanitation, category=rubbish, auto_file=True, auto_dispatch=True)
    at = dt.datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
    with time_machine.travel(at, tick=False):
        case = report(case_users["worker11"], category=rubbish)
    case.refresh_from_db()
    assert (case.state, case.department, case.dispatch_count, case.routing_rule) == (
        CaseState.DISPATCHED,
        sanitation,
        1,
        chosen,
    )
    assert (case.filed_at, case.dispatched_at, case.stage) == (at, at, Stage.ACCEPT)
    assert case.due_at == deadline_for(rubbish, Stage.ACCEPT, at)
    assert transitions(case) == [
        ("report", "", "reported", "网格员张"),
        ("file", "reported", "filed", "routing"),
        ("dispatch", "filed", "dispatched", "routing"),
    ]
    report_entry, file_entry, dispatch_entry = case.history.all()
    assert report_entry.detail["routing_rule"] == chosen.pk
    assert file_entry.detail == {"rule": chosen.pk}
    assert dispatch_entry.detail == {"rule": chosen.pk, "department": sanitation.pk}
    events = Event.objects.filter(type="cases.transitioned").order_by("seq")
    assert [e.payload["action"] for e in events] == ["report", "file", "dispatch"]
    assert events.last().payload["department_id"] == sanitation.pk
    assert AuditEntry.objects.filter(action="case.dispatch", actor_name="routing").count() == 1


def test_auto_file_only_files_and_a_plain_rule_only_suggests(case_users, case_categories, case_departments):
    rubbish, parking = case_categories["暴露垃圾"], case_categories["机动车乱停放"]
    rule("自动立案", case_departments["sanitation"], category=rubbish, auto_file=True)
    suggestion = rule("建议", case_departments["enforcement"], category=parking)
    filed = report(case_users["worker11"], category=rubbish)
    suggested = report(case_users["worker11"], category=parking)
    assert (filed.state, filed.department) == (CaseState.FILED, None)
    assert (suggested.state, suggested.routing_rule, suggested.department) == (
        CaseState.REPORTED,
        suggestion,
        None,
    )
    assert suggested.history.get().detail["routing_rule_name"] == "建议"


# --- duplicates ----------------------------------------------------------------------------------


def test_a_repeat_is_offered_when_the_category_does_not_merge(case_users, case_categories, case_departments):
    rubbish = case_categories["暴露垃圾"]
    assert not rubbish.merge_duplicates
    rule("自动派遣", case_departments["sanitation"], category=rubbish, auto_file=True, auto_dispatch=True)
    first = report(case_users["worker11"], category=rubbish)
    near = offset(*IN_GRID11, east_m=20, north_m=0)
    second = report(case_users["operator"], category=rubbish, at=near, source=Source.HOTLINE)
    # The suspected repeat waits for the operator: not filed or dispatched by the rule.
    assert (second.state, second.duplicate_of, second.department) == (CaseState.REPORTED, first, None)
    assert second.history.get().detail["duplicate_of"] == first.number
    first.refresh_from_db()
    assert first.state == CaseState.DISPATCHED


def test_a_repeat_is_attached_when_the_category_merges(case_users, case_categories):
    manhole = case_categories["井盖缺失"]
    assert manhole.merge_duplicates
    first = report(case_users["worker11"], category=manhole)
    resident = case_users["resident"]
    near = offset(*IN_GRID11, east_m=0, north_m=10)
    second = report(resident, category=manhole, at=near, source=Source.RESIDENT)
    assert (second.state, second.duplicate_of, second.closed_at is not None) == (
        CaseState.MERGED,
        first,
        True,
    )
    assert (second.stage, second.due_at) == ("", None)
    assert transitions(second) == [
        ("report", "", "reported", "居民李"),
        ("merge", "reported", "merged", "intake"),
    ]
    merge_entry = second.history.get(action="merge")
    assert merge_entry.detail["into"] == first.number
    assert merge_entry.detail["distance_m"] == pytest.approx(10, abs=0.1)
    note = first.history.get(action="note")
    assert (note.actor_name, note.detail) == ("intake", {"merged": second.number})
    assert second.number in note.reason
    first.refresh_from_db()
    assert first.state == CaseState.REPORTED  # the open case is untouched but for the note
    # A third report finds the open case, not the merged one.
    third = report(case_users["worker11"], category=manhole, at=offset(*IN_GRID11, east_m=5, north_m=5))
    assert third.duplicate_of == first


def test_the_radius_edge(case_users, case_categories):
    rubbish = case_categories["暴露垃圾"]
    radius = rubbish.duplicate_radius_m
    first = report(case_users["worker11"], category=rubbish)
    inside = offset(*IN_GRID11, east_m=radius - 0.5, north_m=0)
    outside = offset(*IN_GRID11, east_m=0, north_m=-(radius + 0.5))
    assert distance_m(*IN_GRID11, *inside) < radius < distance_m(*IN_GRID11, *outside)
    assert intake.find_duplicates(rubbish, *inside) == [first]
    assert intake.find_duplicates(rubbish, *outside) == []
    assert report(case_users["worker11"], category=rubbish, at=outside).duplicate_of is None
    # Another category at the same spot is another problem.
    assert intake.find_duplicates(case_categories["道路不洁"], *IN_GRID11) == []


def test_the_window_edge_and_closed_cases(case_users, case_categories):
    rubbish = case_categories["暴露垃圾"]
    window = dt.timedelta(hours=rubbish.duplicate_window_hours)
    start = dt.datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
    with time_machine.travel(start, tick=False):
        first = report(case_users["worker11"], category=rubbish)
    assert intake.find_duplicates(rubbish, *IN_GRID11, start + window) == [first]
    assert intake.find_duplicates(rubbish, *IN_GRID11, start + window + dt.timedelta(seconds=1)) == []
    with time_machine.travel(start + window - dt.timedelta(minutes=1), tick=False):
        assert report(case_users["worker11"], category=rubbish).duplicate_of == first
    # A rejected case is not open: nothing to attach to.
    operator = case_users["operator"]
    check(operator, Action.REJECT, first)
    transition(first, Action.REJECT, actor=operator, reason="无效")
    assert intake.find_duplicates(rubbish, *IN_GRID11) == []


# --- idempotency ---------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_case(case_users, case_media):
    worker = case_users["worker11"]
    first = report(worker, idempotency_key="tap-1", photos=[make_jpeg()])
    before = snapshot(case_media)
    again, created = intake.report_case(
        actor=worker,
        source=Source.GRID_WORKER,
        description="路边有一堆生活垃圾",
        lon=IN_GRID11[0],
        lat=IN_GRID11[1],
        idempotency_key="tap-1",
        photos=[make_jpeg()],
    )
    assert (again, created) == (first, False)
    assert snapshot(case_media) == before
    # The key is the reporter's own: another account's same key is another report.
    other = report(case_users["operator"], source=Source.HOTLINE, idempotency_key="tap-1")
    assert other != first


def test_a_source_id_is_reported_once(case_users):
    operator = case_users["operator"]
    first = report(operator, source=Source.CAMERA, source_id="alert-42")
    again, created = intake.report_case(
        actor="video", source=Source.CAMERA, description="另一个描述", source_id="alert-42"
    )
    assert (again, created) == (first, False)
    system = report("video", source=Source.CAMERA, source_id="alert-43", at=IN_GRID21)
    assert (system.reporter, system.created_by, system.history.get().actor_name) == (None, None, "video")


def test_a_concurrent_retry_that_lost_the_race_gets_the_first_case(case_users, case_media, monkeypatch):
    worker = case_users["worker11"]
    first = report(worker, idempotency_key="tap-2")
    real = intake._existing
    looks: list[Any] = []

    def late(*args: Any) -> Case | None:
        # The first look ran before the other request committed: it saw nothing. The insert then
        # meets the unique constraint, and the second look finds the other request's case.
        looks.append(args)
        return None if len(looks) == 1 else real(*args)

    monkeypatch.setattr(intake, "_existing", late)
    before = snapshot(case_media)
    again, created = intake.report_case(
        actor=worker,
        source=Source.GRID_WORKER,
        description="路边有一堆生活垃圾",
        lon=IN_GRID11[0],
        lat=IN_GRID11[1],
        idempotency_key="tap-2",
        photos=[make_jpeg()],
    )
    assert (again, created, len(looks)) == (first, False, 2)
    assert snapshot(case_media) == before


def test_a_number_taken_meanwhile_is_skipped(case_users, monkeypatch):
    worker = case_users["worker11"]
    first = report(worker)
    real = intake._next_number
    stale = iter([first.number])  # what a concurrent request read before the first committed
    monkeypatch.setattr(intake, "_next_number", lambda now: next(stale, None) or real(now))
    second = report(worker)
    assert int(second.number) == int(first.number) + 1


# Real threads need committed data, so a transactional test; on SQLite there is no race to show
# (writers queue at BEGIN IMMEDIATE) and the in-memory test database cannot be shared by threads.
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (SHEQU_DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_get_distinct_numbers_and_one_case_per_key(make_user, two_communities):
    worker = make_user(Role.GRID_WORKER, grids=(two_communities["grid11"],))
    keys = ["same"] * 4 + ["a", "b", "c", "d"]
    barrier = threading.Barrier(len(keys))
    results: list[tuple[Case, bool]] = []
    errors: list[BaseException] = []

    def run(key: str) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(
                intake.report_case(
                    actor=worker,
                    source=Source.GRID_WORKER,
                    description=f"并发上报 {key}",
                    lon=IN_GRID11[0],
                    lat=IN_GRID11[1],
                    idempotency_key=key,
                )
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    same = [(case.pk, created) for case, created in results if case.idempotency_key == "same"]
    assert len({pk for pk, _ in same}) == 1 and sorted(c for _, c in same) == [False, False, False, True]
    numbers = sorted(Case.objects.values_list("number", flat=True))
    assert len(numbers) == 5
    assert [int(n[8:]) for n in numbers] == [1, 2, 3, 4, 5]


# --- handle on the spot --------------------------------------------------------------------------


def test_a_grid_worker_handles_on_the_spot(case_users, case_categories):
    worker = case_users["worker11"]
    ads = case_categories["非法小广告"]
    at = dt.datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
    with time_machine.travel(at, tick=False):
        case, created = intake.handle_on_the_spot(
            actor=worker,
            description="电线杆上贴了小广告",
            category=ads,
            lon=IN_GRID11[0],
            lat=IN_GRID11[1],
            result="已清除",
            photos=[make_jpeg()],
            result_photos=[make_jpeg((40, 30))],
        )
    assert created
    case.refresh_from_db()
    assert (case.state, case.self_handled, case.closed_on_time) == (CaseState.CLOSED, True, True)
    assert case.filed_at == case.handled_at == case.closed_at == at
    assert (case.stage, case.due_at, case.reporter) == ("", None, worker)
    assert transitions(case) == [
        ("report", "", "reported", "网格员张"),
        ("handle_on_the_spot", "reported", "closed", "网格员张"),
    ]
    report_entry, handle_entry = case.history.all()
    assert handle_entry.reason == "已清除"
    assert [e.kind for e in report_entry.attachments.all()] == ["report"]
    assert [e.kind for e in handle_entry.attachments.all()] == ["result"]
    assert [e.payload["action"] for e in Event.objects.order_by("seq")] == ["report", "handle_on_the_spot"]


def test_only_a_grid_worker_in_their_grid_handles_on_the_spot(case_users, case_categories, media_guard):
    ads = case_categories["非法小广告"]
    common = {"description": "小广告", "category": ads, "result": "已清除"}
    with media_guard():
        with pytest.raises(Forbidden):
            intake.handle_on_the_spot(
                actor=case_users["operator"], lon=IN_GRID11[0], lat=IN_GRID11[1], **common
            )
        with pytest.raises(Forbidden):
            intake.handle_on_the_spot(
                actor=case_users["worker11"], lon=IN_GRID21[0], lat=IN_GRID21[1], **common
            )
        with pytest.raises(Invalid) as err:
            intake.handle_on_the_spot(
                actor=case_users["worker11"], lon=IN_GRID11[0], lat=IN_GRID11[1], **common | {"result": " "}
            )
        assert err.value.field == "result"
