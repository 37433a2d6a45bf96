"""Fixtures of the one map: the case fixtures of tests/cases, and a small world of cases, cameras,
assets, buildings and people in the two communities of tests/conftest.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from tests.cases.conftest import (  # noqa: F401  (fixtures)
    IN_GRID11,
    IN_GRID12,
    IN_GRID21,
    case_categories,
    case_departments,
    case_media,
    case_users,
)
from tests.conftest import square

from shequ.cases.models import Case
from shequ.cases.services import intake, workflow
from shequ.registry import identifiers
from shequ.registry.models import Asset, AssetCategory, Building, Dwelling, Household
from shequ.registry.services import create_person


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def report(actor: Any, at: tuple[float, float], category: Any, **kwargs: Any) -> Case:
    case, _ = intake.report_case(
        actor=actor,
        source=kwargs.pop("source", "hotline"),
        description=kwargs.pop("description", "测试"),
        category=category,
        lon=at[0],
        lat=at[1],
        **kwargs,
    )
    return case


@pytest.fixture
def world(case_users, case_categories, case_departments, two_communities, system_user) -> dict[str, Any]:  # noqa: F811
    """In grid11: a reported case, a dispatched one overdue, a closed one; in grid12 one reported; in
    grid21 (community 2) one reported. Cameras and a manhole in grids 11 and 21; buildings with
    households and people in both."""
    g = two_communities
    operator = case_users["operator"]
    garbage = case_categories["暴露垃圾"]
    w: dict[str, Any] = {**g, **case_users}
    w["open11"] = report(operator, IN_GRID11, garbage, address="新区大道11号门前")
    late = report(operator, (IN_GRID11[0] + 0.001, IN_GRID11[1]), garbage, source="camera")
    workflow.file_case(late, actor=operator)
    workflow.dispatch_case(late, case_departments["sanitation"], actor=operator)
    Case.objects.filter(pk=late.pk).update(due_at=late.created_at - dt.timedelta(hours=1))
    w["late11"] = late
    done = report(operator, (IN_GRID11[0], IN_GRID11[1] + 0.001), garbage)
    w["done11"] = workflow.reject_case(done, actor=operator, reason="duplicate")
    w["open12"] = report(operator, IN_GRID12, garbage, source="resident")
    w["open21"] = report(operator, IN_GRID21, garbage, address="社区二号路")

    camera = AssetCategory.objects.get(code="0121")
    manhole = AssetCategory.objects.exclude(code__startswith="01").filter(parent__isnull=False).first()
    for code, grid, at, category in (
        ("CAM11", g["grid11"], IN_GRID11, camera),
        ("CAM21", g["grid21"], IN_GRID21, camera),
        ("MH11", g["grid11"], IN_GRID11, manhole),
    ):
        Asset.objects.create(
            code=code, name=f"{category.name}{code}", category=category, grid=grid, lon=at[0], lat=at[1]
        )

    for code, grid, at in (("B11", g["grid11"], IN_GRID11), ("B21", g["grid21"], IN_GRID21)):
        building = Building.objects.create(
            code=code,
            name=f"幸福家园{code}号楼",
            address=f"幸福路{code}号",
            lon=at[0],
            lat=at[1],
            grid=grid,
            footprint=square(at[0], at[1], 0.0004),
        )
        dwelling = Dwelling.objects.create(building=building, unit="1", number="101")
        household = Household.objects.create(
            number=f"H{code}", dwelling=dwelling, address=building.address, grid=grid
        )
        w[f"person{code[1:]}"] = create_person(
            {
                "name": f"王{code}",
                "gender": "男",
                "id_number": identifiers.make_resident_id("620171", dt.date(1980, 1, 1), int(code[1:])),
            },
            actor=system_user,
            household=household,
        )
    return w
