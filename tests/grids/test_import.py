"""Importing a grid file: all or nothing, checked against the grids already in the system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.tasks import default_task_backend
from django_tasks_db.models import DBTaskResult

from shequ.core.models import Event
from shequ.grids.gridfile import ProblemKind
from shequ.grids.models import Grid
from shequ.grids.services import import_grid_file, save_grid

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data"


def test_valid_file_creates_the_hierarchy_and_asks_for_re_placement(
    system_user, django_capture_on_commit_callbacks
):
    street = save_grid(code="620171103", name="西岔镇", actor=system_user)
    with django_capture_on_commit_callbacks(execute=True):
        report = import_grid_file((DATA / "valid.geojson").read_bytes(), "valid.geojson", actor=system_user)
    assert report.ok, report.errors
    grids = {g.code: g for g in Grid.objects.all()}
    assert len(grids) == len(report.features) + 1
    assert grids["620171103001"].parent == street
    children = [g for g in grids.values() if g.parent_id]
    assert children and all(g.path.startswith(g.parent.path) for g in children)
    assert all(g.area_m2 and g.area_m2 > 0 for g in grids.values() if g.geometry)
    event = Event.objects.get(type="grids.changed")
    assert event.handled_at is not None and sorted(event.payload["codes"]) == sorted(
        f.code for f in report.features
    )
    if "django_tasks_db" in type(default_task_backend).__module__:
        assert DBTaskResult.objects.filter(task_path__endswith="place_in_grids_task").exists()


@pytest.mark.parametrize(
    "name", ["bowtie.geojson", "overlap.geojson", "gap.geojson", "duplicate_code.geojson"]
)
def test_bad_file_writes_nothing(system_user, name):
    report = import_grid_file((DATA / name).read_bytes(), name, actor=system_user)
    assert not report.ok
    assert Grid.objects.count() == 0 and not Event.objects.exists()


def test_overlap_with_a_grid_already_in_the_system_is_refused(system_user, two_communities):
    before = Grid.objects.count()
    grid = two_communities["grid11"]
    intruder = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "62017110300199", "name": "侵入网格", "parent_code": "620171103001"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[103.602, 36.502], [103.608, 36.502], [103.608, 36.508], [103.602, 36.502]]
                    ],
                },
            }
        ],
    }
    report = import_grid_file(json.dumps(intruder).encode(), "x.geojson", actor=system_user)
    assert [(p.kind, p.other_code) for p in report.errors] == [(ProblemKind.OVERLAP, grid.code)]
    assert Grid.objects.count() == before


def test_parent_must_exist_somewhere(system_user):
    orphan = {
        "type": "Feature",
        "properties": {"code": "62017110300101", "name": "孤儿网格", "parent_code": "620171103001"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[103.6, 36.5], [103.61, 36.5], [103.61, 36.51], [103.6, 36.5]]],
        },
    }
    report = import_grid_file(json.dumps(orphan).encode(), "x.geojson", actor=system_user)
    assert [p.kind for p in report.errors] == [ProblemKind.PARENT_MISSING]
    assert Grid.objects.count() == 0
