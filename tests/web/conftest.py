"""A small community for the page tests: two communities of two grids each, people, buildings,
households and tags, built through the registry services (factories where no service exists)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shequ.registry import identifiers
from shequ.registry.models import Building, Dwelling, Household, Tag
from shequ.registry.services import create_person
from tests.conftest import square


def make_building(code: str, grid: Any, lon: float, lat: float, **fields: Any) -> Building:
    return Building.objects.create(
        code=code,
        name=fields.pop("name", f"{code}号楼"),
        address=fields.pop("address", f"新区大道{code}号"),
        lon=lon,
        lat=lat,
        grid=grid,
        footprint=square(lon, lat, 0.0005),
        **fields,
    )


def make_household(number: str, building: Building, unit: str, room: str) -> Household:
    dwelling = Dwelling.objects.create(building=building, unit=unit, number=room)
    return Household.objects.create(
        number=number, dwelling=dwelling, address=building.address, grid=building.grid
    )


@pytest.fixture
def community(two_communities: dict[str, Any], system_user: Any) -> dict[str, Any]:
    """People in grid11 (社区1第1网格) and grid21 (社区2第1网格); one sensitive tag."""
    world = dict(two_communities)
    # The default tags may come from a data migration; make sure of the two the tests use.
    elderly, _ = Tag.objects.get_or_create(code="elderly_alone", defaults={"name": "独居老人"})
    correction, _ = Tag.objects.get_or_create(
        code="community_correction", defaults={"name": "社区矫正人员", "is_sensitive": True}
    )
    b11 = make_building("B11", world["grid11"], 103.602, 36.502, floors=6)
    b21 = make_building("B21", world["grid21"], 103.622, 36.502, floors=11)
    h11 = make_household("H11-1", b11, "1", "101")
    h21 = make_household("H21-1", b21, "2", "302")
    sequence = iter(range(100, 999))
    people: dict[str, Any] = {}
    for key, name, household, tags in (
        ("wang", "王建国", h11, [elderly]),
        ("li", "李秀英", h11, [correction]),
        ("zhao", "赵志强", h21, []),
    ):
        born = dt.date(1950 + len(people) * 10, 3, 14)
        people[key] = create_person(
            {
                "name": name,
                "id_number": identifiers.make_resident_id("620102", born, next(sequence)),
                "phone": f"1380931{len(people):04d}",
                "ethnicity": "汉族",
            },
            actor=system_user,
            household=household,
            tags=tags,
        )
    world |= {
        "elderly": elderly,
        "correction": correction,
        "b11": b11,
        "b21": b21,
        "h11": h11,
        "h21": h21,
        **people,
    }
    return world


@pytest.fixture
def login(client: Any) -> Any:
    def as_user(user: Any) -> Any:
        client.force_login(user)
        return client

    return as_user
