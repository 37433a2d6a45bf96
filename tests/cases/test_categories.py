"""The default category tree (migration 0002): coded like the standards, one 部件 list with the
registry, every subclass ready to file under, and a re-run that keeps administrators' edits."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.apps import apps

from shequ.cases.models import Category, LimitUnit, Stage, TimeLimit, Urgency
from shequ.cases.services.deadlines import deadline_for, limit_for
from shequ.registry.models import AssetCategory

pytestmark = pytest.mark.django_db
MIGRATION = importlib.import_module("shequ.cases.migrations.0002_default_categories")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_every_subclass_has_a_major_class_conditions_and_a_limit_per_stage():
    subclasses = Category.objects.filter(parent__isnull=False).select_related("parent")
    assert subclasses.count() == len(MIGRATION.subclasses()) > 80
    limits = {(t.category_id, t.stage) for t in TimeLimit.objects.all()}
    for category in subclasses:
        assert category.parent is not None and category.parent.parent_id is None
        assert category.parent.kind == category.kind
        assert len(category.code) == 4 and category.code[:2] == category.parent.code, category
        assert category.filing_condition and category.closing_condition, category
        assert {s for c, s in limits if c == category.pk} == set(Stage.values), category
    majors = Category.objects.filter(parent__isnull=True)
    assert sorted(majors.filter(kind="event").values_list("code", "name")) == MIGRATION.EVENT_MAJOR
    assert majors.filter(kind="component").count() == 6


def test_components_are_the_registry_asset_categories():
    assets = dict(AssetCategory.objects.values_list("code", "name"))
    components = dict(Category.objects.filter(kind="component").values_list("code", "name"))
    assert components == assets  # majors and subclasses alike
    assert components["0121"] == "监控电子眼"


@pytest.mark.parametrize(
    ("kind", "code", "name", "urgency", "handle"),
    [
        ("event", "0102", "暴露垃圾", Urgency.NORMAL, (4, LimitUnit.HOURS)),
        ("event", "0302", "违法建设", Urgency.NORMAL, (15, LimitUnit.DAYS)),
        ("event", "0401", "井盖缺失", Urgency.URGENT, (2, LimitUnit.CLOCK_HOURS)),
        ("event", "0405", "燃气泄漏", Urgency.CRITICAL, (30, LimitUnit.CLOCK_MINUTES)),
        ("component", "0111", "燃气井盖", Urgency.URGENT, (2, LimitUnit.CLOCK_HOURS)),
        ("component", "0115", "消防栓", Urgency.URGENT, (1, LimitUnit.DAYS)),
        ("component", "0404", "绿地", Urgency.NORMAL, (3, LimitUnit.DAYS)),
    ],
)
def test_limits_follow_the_kind_of_problem(kind, code, name, urgency, handle):
    category = Category.objects.get(kind=kind, code=code)
    assert (category.name, category.urgency) == (name, urgency)
    assert limit_for(category, Stage.HANDLE) == handle


def test_a_gas_leak_is_due_in_minutes_and_exposed_rubbish_the_same_afternoon():
    monday_9 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)
    gas = Category.objects.get(kind="event", code="0405")
    rubbish = Category.objects.get(kind="event", code="0102")
    assert deadline_for(gas, Stage.HANDLE, monday_9) == monday_9 + dt.timedelta(minutes=30)
    assert deadline_for(gas, Stage.FILE, monday_9) == monday_9 + dt.timedelta(minutes=5)
    # 3 working hours before the 12:00–14:00 break, the 4th after it.
    assert deadline_for(rubbish, Stage.HANDLE, monday_9) == monday_9.replace(hour=15)


def test_an_emergency_at_night_on_a_holiday_runs_round_the_clock():
    """Urgent and critical categories count filing, dispatch, accepting and short handling limits
    in clock time: a gas leak at 3 a.m. on National Day is due at 3:30, not on the next working
    day; an ordinary problem reported then waits for working hours."""
    night = dt.datetime(2026, 10, 2, 3, 0, tzinfo=SHANGHAI)  # a holiday of the official calendar
    gas = Category.objects.get(kind="event", code="0405")
    manhole = Category.objects.get(kind="event", code="0401")
    rubbish = Category.objects.get(kind="event", code="0102")
    assert deadline_for(gas, Stage.HANDLE, night) == night + dt.timedelta(minutes=30)
    assert deadline_for(gas, Stage.DISPATCH, night) == night + dt.timedelta(minutes=5)
    assert deadline_for(manhole, Stage.HANDLE, night) == night + dt.timedelta(hours=2)
    assert deadline_for(rubbish, Stage.HANDLE, night) > dt.datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI)
    # Verification and callback stay in working time.
    assert limit_for(gas, Stage.VERIFY)[1] == LimitUnit.HOURS


def test_rerun_renames_by_code_and_keeps_what_administrators_changed():
    before = (Category.objects.count(), TimeLimit.objects.count())
    rubbish = Category.objects.get(kind="event", code="0102")
    rubbish.name, rubbish.filing_condition, rubbish.merge_duplicates = "垃圾暴露", "本社区口径", True
    rubbish.save()
    TimeLimit.objects.filter(category=rubbish, stage=Stage.HANDLE).update(amount=2)
    TimeLimit.objects.filter(category=rubbish, stage=Stage.VERIFY).delete()

    MIGRATION.create_defaults(apps, None)

    rubbish.refresh_from_db()
    assert rubbish.name == "暴露垃圾"  # renamed back to the code's name
    assert (rubbish.filing_condition, rubbish.merge_duplicates) == ("本社区口径", True)
    assert limit_for(rubbish, Stage.HANDLE) == (2, LimitUnit.HOURS)
    assert limit_for(rubbish, Stage.VERIFY) == (1, LimitUnit.DAYS)  # a missing row is made again
    assert (Category.objects.count(), TimeLimit.objects.count()) == before


def test_event_and_component_codes_may_coincide(case_categories: dict[str, Any]):
    assert case_categories["部件0101"].name == "上水井盖"
    assert case_categories["私搭乱建"].code == "0101"
