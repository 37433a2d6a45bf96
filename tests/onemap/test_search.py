"""The map's search (/api/onemap/search/?q=): case numbers and addresses, buildings, and people
for the roles that may look them up, masked and audited, always in the viewer's scope."""

from __future__ import annotations

from typing import Any

import pytest
from tests.onemap.conftest import client_for

from shequ.accounts.models import Role
from shequ.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def search(user: Any, q: str) -> list[dict[str, Any]]:
    answer = client_for(user).get("/api/onemap/search/", {"q": q})
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_by_case_number(world):
    number = world["late11"].number
    results = search(world["operator"], number)
    case = next(r for r in results if r["kind"] == "case")
    assert case["label"].startswith(number)
    assert case["url"] == f"/cases/{number}/"
    assert (case["lon"], case["lat"]) == (world["late11"].lon, world["late11"].lat)


def test_by_address_finds_cases_and_buildings(world):
    results = search(world["operator"], "新区大道11号")
    assert [r["kind"] for r in results] == ["case"]
    results = search(world["operator"], "幸福路B11")
    assert [(r["kind"], r["url"]) for r in results] == [
        ("building", f"/registry/buildings/{_b(world, 'B11')}/")
    ]
    assert results[0]["lon"] is not None


def _b(world: Any, code: str) -> int:
    from shequ.registry.models import Building

    return Building.objects.get(code=code).pk


def test_by_person_name_and_id_for_the_command_center(world):
    person = world["person11"]
    results = [r for r in search(world["operator"], "王B11") if r["kind"] == "person"]
    assert len(results) == 1
    label = results[0]["label"]
    assert "王B11" in label and person.id_number not in label and "*" in label  # masked
    assert results[0]["url"] == f"/registry/people/{person.pk}/"
    assert results[0]["lon"] is not None  # placed at their building
    by_id = [r for r in search(world["operator"], person.id_number) if r["kind"] == "person"]
    assert [r["url"] for r in by_id] == [f"/registry/people/{person.pk}/"]
    audits = AuditEntry.objects.filter(action="onemap.person_search")
    assert audits.count() == 2
    assert person.id_number not in str(list(audits.values_list("detail", flat=True)))


def test_leader_finds_no_people(world):
    assert [r for r in search(world["leader"], "王B11") if r["kind"] == "person"] == []
    assert not AuditEntry.objects.filter(action="onemap.person_search").exists()


def test_another_community_finds_nothing_of_ours(world, make_user):
    other = make_user(Role.COMMAND_OPERATOR, grids=(world["community2"],))
    assert search(other, world["late11"].number) == []
    assert search(other, "王B11") == []
    assert search(other, "幸福路B11") == []
    assert [r["kind"] for r in search(other, "王B21")] == ["person"]


def test_a_building_drawn_as_a_multipolygon_is_found(world):
    """Regression: a building known only by a MultiPolygon footprint (the basemap draws those) made
    the search a 500: its place is the centre of its first part's outer ring."""
    from shequ.registry.models import Building

    ring = [[103.61, 36.505], [103.612, 36.505], [103.612, 36.507], [103.61, 36.507], [103.61, 36.505]]
    far = [[x + 0.01, y] for x, y in ring]
    Building.objects.create(
        code="BM",
        name="双塔大厦",
        address="新区大道20号",
        grid=world["grid11"],
        footprint={"type": "MultiPolygon", "coordinates": [[ring], [far]]},
    )
    [found] = search(world["operator"], "双塔大厦")
    assert found["kind"] == "building"
    assert abs(found["lon"] - 103.6108) < 1e-9 and abs(found["lat"] - 36.5058) < 1e-9
