"""The grids API: scoped lists, polygons as GeoJSON, and which grid a point falls in."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from shequ.accounts.models import Role

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


def test_grid_list_is_the_subtree_of_the_assignments(make_user, two_communities):
    g = two_communities
    operator = client_for(make_user(Role.COMMAND_OPERATOR, grids=(g["community1"],)))
    assert codes(operator.get("/api/grids/")) == [g["community1"].code, g["grid11"].code, g["grid12"].code]
    assert codes(operator.get("/api/grids/", {"level": "grid"})) == [g["grid11"].code, g["grid12"].code]
    assert operator.get(f"/api/grids/{g['grid21'].code}/").status_code == 404
    detail = operator.get(f"/api/grids/{g['grid11'].code}/").json()
    assert detail["parent"] == g["community1"].code and detail["geometry"]["type"] == "Polygon"
    assert detail["bbox"] == pytest.approx([103.60, 36.50, 103.61, 36.51])
    resident = client_for(make_user(Role.RESIDENT))
    assert codes(resident.get("/api/grids/")) == []


def test_grids_geojson_has_code_name_level_and_parent(make_user, system_user, two_communities):
    g = two_communities
    admin = client_for(system_user)
    response = admin.get("/api/grids/geojson/", {"level": "grid"})
    assert response.status_code == 200 and response["Content-Type"] == "application/geo+json"
    features = response.json()["features"]
    assert [f["properties"]["code"] for f in features] == [
        g[f"grid{k}"].code for k in ("11", "12", "21", "22")
    ]
    assert features[0]["properties"] == {
        "code": g["grid11"].code,
        "name": "社区1第1网格",
        "level": "grid",
        "parent": g["community1"].code,
    }
    assert features[0]["geometry"]["type"] == "Polygon"
    communities = admin.get("/api/grids/geojson/", {"level": "community"}).json()["features"]
    assert [f["properties"]["code"] for f in communities] == [g["community1"].code, g["community2"].code]
    east = admin.get("/api/grids/geojson/", {"bbox": "103.625,36.50,103.635,36.51"}).json()["features"]
    assert [f["properties"]["code"] for f in east] == [g["grid21"].code, g["grid22"].code]
    worker = client_for(make_user(Role.GRID_WORKER, grids=(g["grid22"],)))
    assert [f["id"] for f in worker.get("/api/grids/geojson/").json()["features"]] == [g["grid22"].code]
    bad = admin.get("/api/grids/geojson/", {"level": "planet"})
    assert bad.status_code == 400 and bad.json()["field"] == "level"


def test_locate_finds_the_unit_grid_of_a_point(make_user, system_user, two_communities):
    g = two_communities
    admin = client_for(system_user)
    found = admin.get("/api/grids/locate/", {"lon": "103.615", "lat": "36.505"}).json()
    assert found["grid"]["code"] == g["grid12"].code and found["grid"]["level"] == "grid"
    assert admin.get("/api/grids/locate/", {"lon": 100.0, "lat": 30.0}).json()["grid"] is None
    # outside the caller's scope the answer is the same as outside every grid
    worker = client_for(make_user(Role.GRID_WORKER, grids=(g["grid11"],)))
    assert worker.get("/api/grids/locate/", {"lon": "103.615", "lat": "36.505"}).json()["grid"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "lon"),
        ({"lon": "103.6"}, "lat"),
        ({"lon": "abc", "lat": "36.5"}, "lon"),
        ({"lon": "103.6", "lat": "nan"}, "lat"),
        ({"lon": "181", "lat": "36.5"}, "lon"),
        ({"lon": "103.6", "lat": "-91"}, "lat"),
        ({"lon": "1e999", "lat": "0"}, "lon"),
    ],
)
def test_locate_refuses_missing_or_bad_numbers(system_user, two_communities, params, field):
    response = client_for(system_user).get("/api/grids/locate/", params)
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["detail"]
