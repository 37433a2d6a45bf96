"""The demo's year of cases (demo.cases): written once at scale 0.02 for the module, rolled back after.

Scale 0.02 makes 219 cases over the year before a fixed reference time, each run through the state
machine; these tests check that the bulk-written rows have the shape the services give them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone

from shequ.accounts.models import Department, User
from shequ.analytics.models import CaseFact, Grain, Rollup
from shequ.cases.models import (
    OPEN_STATES,
    PROACTIVE_SOURCES,
    Case,
    CaseState,
    Extension,
    HistoryEntry,
    RoutingRule,
    Source,
    Stage,
    Supervision,
)
from shequ.cases.services import deadlines, intake
from shequ.cases.services.machine import STAGE_OF, TRANSITIONS, Action
from shequ.core.geo import distance_m
from shequ.demo import cases, community, figures
from shequ.demo.figures import Scale
from shequ.grids import index as grid_index
from shequ.registry.models import Asset

SCALE, SEED = "0.02", 7
# A Wednesday morning; the year before it holds the Spring Festival and National Day holidays.
REFERENCE = dt.datetime(2026, 3, 18, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
OPEN = [CaseState.REPORTED, CaseState.FILED, CaseState.DISPATCHED, CaseState.IN_PROGRESS, CaseState.HANDLED]


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[SimpleNamespace]:
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS), transaction.atomic():
        started = time.monotonic()
        record = community.generate(SEED, Scale.parse(SCALE), reference=REFERENCE)
        yield SimpleNamespace(record=record, seconds=time.monotonic() - started, digest=digest())
        transaction.set_rollback(True)


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo")]


def digest() -> str:
    """The cases and their histories by natural keys (numbers, codes), not pks."""
    rows = list(
        Case.objects.order_by("number").values_list(
            "number", "source", "category__code", "state", "grid__code", "lon", "lat", "department__code",
            "created_at", "closed_at", "due_at", "supervision_level", "satisfaction", "reporter_name",
        )
    )  # fmt: skip
    history = list(
        HistoryEntry.objects.order_by("case__number", "at", "id").values_list(
            "case__number", "at", "action", "from_state", "to_state", "actor_name"
        )
    )
    return hashlib.sha256(json.dumps([rows, history], default=str, ensure_ascii=False).encode()).hexdigest()


def rewrite(**options: Any) -> None:
    """Write the year again over the same community."""
    Case.objects.all().delete()
    RoutingRule.objects.all().delete()
    cases.write_cases(
        seed=options.get("seed", SEED),
        clusters=1,
        share=0.02,
        reference=options.get("reference", REFERENCE),
        departments={d.code: d for d in Department.objects.all()},
        actor="test",
    )


# --- the year ------------------------------------------------------------------------------------


def test_a_year_of_cases_ending_at_the_reference(demo: SimpleNamespace) -> None:
    total = Case.objects.count()
    assert total == Scale.parse(SCALE).per_cluster(figures.CASES) == 219
    assert demo.record.counts["cases"] == total
    first, last = Case.objects.order_by("created_at").values_list("created_at", flat=True)[:: total - 1]
    assert REFERENCE - dt.timedelta(days=365) < first < REFERENCE - dt.timedelta(days=350)
    assert REFERENCE - dt.timedelta(days=3) < last <= REFERENCE
    assert not HistoryEntry.objects.filter(at__gt=REFERENCE).exists()  # nothing from the future
    for number, created in Case.objects.values_list("number", "created_at"):  # numbered as intake does
        assert number == f"{timezone.localtime(created, intake.SHANGHAI):%Y%m%d}{int(number[8:]):05d}"
    assert demo.seconds < 10


def test_same_seed_and_reference_give_the_same_cases(demo: SimpleNamespace) -> None:
    rewrite()
    assert digest() == demo.digest
    rewrite(seed=SEED + 1)
    assert digest() != demo.digest
    rewrite(reference=REFERENCE + dt.timedelta(hours=1))
    assert digest() != demo.digest


def test_sources_are_at_least_a_quarter_proactive() -> None:
    sources = Counter(Case.objects.values_list("source", flat=True))
    proactive = sum(n for source, n in sources.items() if source in PROACTIVE_SOURCES)
    assert proactive >= 0.25 * sum(sources.values())
    assert {Source.GRID_WORKER, Source.CAMERA, Source.RESIDENT, Source.HOTLINE} <= set(sources)
    # The model community's drone patrols find more than a quarter of what is found proactively.
    assert sources[Source.DRONE] > 0.25 * proactive


def test_the_measures_are_rolled_up_from_the_cases() -> None:
    reported = Rollup.objects.filter(grain=Grain.GRID_DEPARTMENT).aggregate(n=Sum("reported"))["n"]
    assert reported == Case.objects.count()
    assert CaseFact.objects.count() == Case.objects.count()


def test_figures_show_the_cases_and_the_check_still_passes() -> None:
    out = StringIO()
    call_command("demo_figures", check=True, stdout=out)
    assert "相符" in out.getvalue() and "案件" in out.getvalue()
    assert figures.actual()["cases"] == 219


# --- every case as the services would leave it ---------------------------------------------------


def test_every_history_follows_the_state_machine() -> None:
    lines: dict[int, list[HistoryEntry]] = {}
    for entry in HistoryEntry.objects.order_by("case_id", "at", "id"):
        lines.setdefault(entry.case_id, []).append(entry)
    for case in Case.objects.all():
        entries = lines[case.pk]
        first = entries[0]
        assert (first.action, first.from_state, first.to_state, first.at) == (
            Action.REPORT,
            "",
            CaseState.REPORTED,
            case.created_at,
        )
        state = CaseState.REPORTED
        for entry in entries[1:]:
            action = Action(entry.action)
            sources, target = TRANSITIONS[action]
            if entry.to_state:  # a transition: from the state the case was in, by the table
                assert (entry.from_state, entry.to_state) == (state, target), (case.number, action)
                assert state in sources, (case.number, action, state)
                state = CaseState(entry.to_state)
            else:  # an act that changes no state, allowed in the state the case was in
                assert entry.from_state in ("", state), (case.number, action)
                assert state in sources or action == Action.NOTE, (case.number, action, state)
        assert state == case.state, case.number


def test_fields_are_those_the_transitions_set() -> None:
    for case in Case.objects.select_related("category"):
        stage = STAGE_OF[CaseState(case.state)]
        if case.callback_at is None and not case.self_handled:
            assert case.stage == (stage.value if stage else ""), case.number
        if case.state in OPEN_STATES:
            assert case.due_at is not None and case.stage_started_at is not None
            if not case.extensions.filter(decision=Extension.Decision.GRANTED).exists():
                assert case.due_at == deadlines.deadline_for(case.category, case.stage, case.stage_started_at)
        if case.state == CaseState.CLOSED:
            assert case.filed_at is not None and case.closed_at is not None
            assert case.created_at <= case.filed_at <= case.closed_at
            if not case.self_handled:
                assert case.closed_on_time == (case.closed_at <= case.handle_due_at)  # type: ignore[operator]
                assert case.department_id is not None and case.dispatch_count >= 1
        if case.state == CaseState.MERGED:
            assert case.duplicate_of is not None and case.duplicate_of.category_id == case.category_id
        assert case.dispatch_count >= case.return_count
        assert case.supervision_level == max(case.supervisions.values_list("level", flat=True), default=0), (
            case.number
        )


def test_marks_of_the_sweep_are_what_the_sweep_would_make() -> None:
    """The deadline sweep, run at the reference time over the generated cases, finds nothing to do:
    warnings, overdue marks and supervision levels are already as it would set them."""
    before = digest()
    done = deadlines.sweep_deadlines(REFERENCE)
    assert (done["warning"], done["overdue"], done["supervised"]) == (0, 0, 0)
    assert digest() == before


def test_routing_is_what_intake_would_choose() -> None:
    rules = RoutingRule.objects.select_related("department", "category")
    assert rules.filter(auto_file=True, auto_dispatch=True).exists()
    assert rules.filter(starts_at__isnull=False, department__code="police").exists()  # night-time order
    assert {r.department.code for r in rules} >= {"chengguan", "water", "gas", "housing", "police"}
    for case in Case.objects.select_related("category", "grid"):
        assert intake.route(case.category, case.grid, case.created_at) == (
            case.routing_rule if case.routing_rule_id else None
        ), case.number


# --- where -------------------------------------------------------------------------------------


def test_every_case_lies_in_its_grid_and_camera_cases_near_a_camera() -> None:
    rows = list(Case.objects.values_list("lon", "lat", "grid_id"))
    assert grid_index.locate_many([r[0] for r in rows], [r[1] for r in rows]) == [r[2] for r in rows]
    cameras = list(Asset.objects.filter(category__code=figures.CAMERA_CATEGORY).values_list("lon", "lat"))
    seen = Case.objects.filter(source=Source.CAMERA).values_list("lon", "lat")
    assert seen
    for lon, lat in seen:
        assert min(distance_m(lon, lat, x, y) for x, y in cameras) < 60  # type: ignore[arg-type]


# --- what a year of work looks like --------------------------------------------------------------


def test_most_close_on_time_and_some_go_wrong() -> None:
    closed = Case.objects.filter(state=CaseState.CLOSED, self_handled=False)
    on_time = closed.filter(closed_on_time=True).count()
    assert 0.8 * closed.count() < on_time < closed.count()  # most on time, not all
    assert Case.objects.filter(return_count__gt=0).exists()
    assert Case.objects.filter(rework_count__gt=0).exists()
    assert Case.objects.filter(self_handled=True).exists()
    assert Case.objects.filter(state__in=[CaseState.REJECTED, CaseState.MERGED]).exists()
    assert Supervision.objects.exists() and Case.objects.filter(supervision_level__gt=0).exists()
    assert HistoryEntry.objects.filter(action=Action.SUPERVISE, actor_name=deadlines.SYSTEM).exists()
    rated = Counter(Case.objects.exclude(satisfaction="").values_list("satisfaction", flat=True))
    assert rated["satisfied"] > 0.7 * sum(rated.values())


def test_the_backlog_is_open_in_every_state_and_recent() -> None:
    states = Counter(Case.objects.filter(state__in=OPEN_STATES).values_list("state", flat=True))
    assert all(states[s] >= 3 for s in OPEN), states
    open_cases = Case.objects.filter(state__in=OPEN_STATES)
    assert open_cases.filter(overdue_at__isnull=False).exists()  # a few are late
    assert not open_cases.filter(created_at__lt=REFERENCE - dt.timedelta(days=30)).exists()
    handled = open_cases.filter(state=CaseState.HANDLED).first()
    assert handled is not None and handled.stage == Stage.VERIFY and handled.department_id is not None


def test_the_demo_accounts_have_work_of_their_own() -> None:
    handler = User.objects.get(username="handler")
    assert Case.objects.filter(department=handler.department, assignee=handler).exists()
    assert HistoryEntry.objects.filter(actor__username="operator", action=Action.FILE).exists()
    assert Case.objects.filter(reporter__username="gridworker").exists()
