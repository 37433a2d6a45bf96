"""The one map's layer endpoints (/api/onemap/...): content, scope, clustering, filters, refusals,
ETags and the cache's invalidation by case events."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from tests.onemap.conftest import IN_GRID11, client_for, report

from shequ.accounts.models import Role
from shequ.cases.models import Case
from shequ.core import outbox
from shequ.onemap import selectors

pytestmark = pytest.mark.django_db

WHOLE = "103.5,36.4,103.7,36.6"  # both communities


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


def get(user: Any, url: str, **params: Any) -> Any:
    return client_for(user).get(url, params)


def numbers(answer: Any) -> set[str]:
    return {f["properties"]["number"] for f in answer.json()["features"]}


# --- grids -----------------------------------------------------------------------------------------


def test_grids_layer_counts_open_and_overdue_per_grid(world):
    answer = get(world["operator"], "/api/onemap/grids/")
    assert answer.status_code == 200
    data = answer.json()
    assert data["type"] == "FeatureCollection"
    by_code = {f["properties"]["code"]: f["properties"] for f in data["features"]}
    assert set(by_code) == {world[f"grid{i}"].code for i in (11, 12, 21, 22)}
    g11 = by_code[world["grid11"].code]
    assert (g11["open"], g11["overdue"]) == (2, 1)  # the rejected one is not open
    assert by_code[world["grid12"].code]["open"] == 1
    assert by_code[world["grid22"].code] == {**by_code[world["grid22"].code], "open": 0, "overdue": 0}
    assert data["features"][0]["geometry"]["type"] == "Polygon"


def test_grids_layer_is_one_grouped_query(world):
    client = client_for(world["operator"])
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/onemap/grids/")
    of_cases = [q["sql"] for q in queries.captured_queries if "cases_case" in q["sql"]]
    assert len(of_cases) == 1 and "GROUP BY" in of_cases[0]


def test_another_community_sees_none_of_these_grids_or_cases(world, make_user):
    other = make_user(Role.COMMAND_OPERATOR, grids=(world["community2"],))
    grids = get(other, "/api/onemap/grids/").json()
    assert {f["properties"]["code"] for f in grids["features"]} == {
        world["grid21"].code,
        world["grid22"].code,
    }
    cases = get(other, "/api/onemap/cases/", bbox=WHOLE, zoom=17)
    assert numbers(cases) == {world["open21"].number}
    cams = get(other, "/api/onemap/cameras/").json()
    assert [f["properties"]["code"] for f in cams["features"]] == ["CAM21"]


@pytest.mark.parametrize("who", ["worker11", "handler", "resident"])
def test_other_roles_are_refused(world, who):
    user = world[who]
    for layer in ("grids", "cases", "cameras", "assets", "units"):
        assert get(user, f"/api/onemap/{layer}/").status_code == 403, layer
    assert get(user, "/api/onemap/search/", q="幸福").status_code == 403


def test_anonymous_is_refused(client, world):
    assert client.get("/api/onemap/grids/").status_code in {401, 403}


# --- cases: points, clusters, filters --------------------------------------------------------------


def test_cases_as_points_at_high_zoom(world):
    data = get(world["operator"], "/api/onemap/cases/", bbox=WHOLE, zoom=17).json()
    assert data["mode"] == "points"
    assert numbers_of(data) == {world[k].number for k in ("open11", "late11", "done11", "open12", "open21")}
    late = next(
        f["properties"] for f in data["features"] if f["properties"]["number"] == world["late11"].number
    )
    assert late["overdue"] is True and late["state"] == "dispatched" and late["state_kind"] == "in_progress"
    assert late["category"] == "暴露垃圾" and late["urgency"] and late["id"] == world["late11"].pk


def numbers_of(data: dict[str, Any]) -> set[str]:
    return {f["properties"]["number"] for f in data["features"]}


def test_bbox_limits_the_cases(world):
    lon, lat = IN_GRID11
    box = f"{lon - 0.0005},{lat - 0.0005},{lon + 0.0005},{lat + 0.0005}"
    data = get(world["operator"], "/api/onemap/cases/", bbox=box, zoom=18).json()
    assert numbers_of(data) == {world["open11"].number}


def test_cases_clustered_at_low_zoom(world):
    data = get(world["operator"], "/api/onemap/cases/", bbox=WHOLE, zoom=11).json()
    assert data["mode"] == "clusters"
    assert data["count"] == 5
    props = [f["properties"] for f in data["features"]]
    assert all(p["cluster"] for p in props)
    assert sum(p["count"] for p in props) == 5
    assert sum(p["overdue"] for p in props) == 1
    assert sum(p["closed"] for p in props) == 1
    assert sum(p["open"] + p["in_progress"] + p["resolved"] + p["closed"] for p in props) == 5
    # centroids lie inside the box of the cases they stand for
    for f in data["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 103.60 <= lon <= 103.64 and 36.50 <= lat <= 36.51


def test_many_cases_cluster_whatever_the_zoom(world, monkeypatch):
    monkeypatch.setattr(selectors, "POINT_LIMIT", 3)
    data = get(world["operator"], "/api/onemap/cases/", bbox=WHOLE, zoom=18).json()
    assert data["mode"] == "clusters" and data["count"] == 5
    monkeypatch.setattr(selectors, "POINT_LIMIT", 5)
    cache.clear()
    assert get(world["operator"], "/api/onemap/cases/", bbox=WHOLE, zoom=18).json()["mode"] == "points"


def test_case_filters(world, case_categories):
    op = world["operator"]
    url = "/api/onemap/cases/"
    assert numbers(get(op, url, zoom=17, source="camera")) == {world["late11"].number}
    assert numbers(get(op, url, zoom=17, state="rejected")) == {world["done11"].number}
    assert numbers(get(op, url, zoom=17, state_kind="in_progress")) == {world["late11"].number}
    assert numbers(get(op, url, zoom=17, overdue="true")) == {world["late11"].number}
    garbage = case_categories["暴露垃圾"]
    assert len(numbers(get(op, url, zoom=17, category=garbage.parent_id))) == 5
    assert numbers(get(op, url, zoom=17, created_before="2000-01-01")) == set()
    assert len(numbers(get(op, url, zoom=17, created_after="2000-01-01"))) == 5
    assert world["done11"].number not in numbers(get(op, url, zoom=17, open="true"))
    assert len(numbers(get(op, url, zoom=17, open="true"))) == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "103.7,36.4,103.5,36.6"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"zoom": "23"}, "zoom"),
        ({"zoom": "x"}, "zoom"),
        ({"state": "lost"}, "state"),
        ({"state_kind": "nope"}, "state_kind"),
        ({"source": "pigeon"}, "source"),
        ({"category": "-1"}, "category"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-45"}, "created_before"),
        ({"bbox": "1\x00,2,3,4"}, "bbox"),
        ({"open": "maybe"}, "open"),
        # Regressions: these were 500s (several minus signs; years at the calendar's edges).
        ({"zoom": "--5"}, "zoom"),
        ({"created_before": "9999-12-31"}, "created_before"),
        ({"created_after": "0001-01-01"}, "created_after"),
    ],
)
def test_bad_parameters_are_400_naming_them(world, params, field):
    answer = get(world["operator"], "/api/onemap/cases/", **params)
    assert answer.status_code == 400, answer.content
    assert answer.json()["field"] == field


def test_bad_asset_and_camera_parameters(world):
    op = world["operator"]
    assert get(op, "/api/onemap/assets/", zoom="-1").json()["field"] == "zoom"
    assert get(op, "/api/onemap/cameras/", bbox="x").json()["field"] == "bbox"
    assert get(op, "/api/onemap/search/").json()["field"] == "q"
    assert get(op, "/api/onemap/search/", q="x" * 101).json()["field"] == "q"


# --- cameras, assets, units ------------------------------------------------------------------------


def test_cameras_are_assets_of_category_0121(world):
    data = get(world["operator"], "/api/onemap/cameras/").json()
    assert {f["properties"]["code"] for f in data["features"]} == {"CAM11", "CAM21"}
    assert all(f["properties"]["category_code"] == "0121" for f in data["features"])
    lon, lat = IN_GRID11
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    data = get(world["operator"], "/api/onemap/cameras/", bbox=box).json()
    assert [f["properties"]["code"] for f in data["features"]] == ["CAM11"]


def test_cameras_layer_shows_video_cameras_with_status_and_page(world, make_user, system_user):
    """A camera of the video register replaces its asset on the layer: its status, its page."""
    from shequ.registry.models import Asset
    from shequ.video import services
    from shequ.video.models import Camera

    lon, lat = IN_GRID11
    camera = services.register_camera(actor=system_user, code="V11", name="东门球机", lon=lon, lat=lat)
    # Linked to its asset as the demo links them.
    Camera.objects.filter(pk=camera.pk).update(asset=Asset.objects.get(code="CAM11"))
    services.record_status(camera.pk, "offline", "连接超时")
    client = client_for(world["operator"])
    with CaptureQueriesContext(connection) as queries:
        data = client.get("/api/onemap/cameras/").json()
    layer = [
        q for q in queries.captured_queries if {"video_camera", "registry_asset"} & set(q["sql"].split('"'))
    ]
    assert len(layer) == 2  # the cameras, the assets without one: whatever the count
    by_code = {f["properties"]["code"]: f["properties"] for f in data["features"]}
    assert set(by_code) == {"V11", "CAM21"}  # CAM11 is the asset V11 stands for: not twice
    v11 = by_code["V11"]
    assert v11["kind"] == "camera" and v11["status"] == "offline" and v11["status_label"] == "离线"
    assert v11["url"] == f"/video/cameras/{camera.pk}/"
    assert by_code["CAM21"]["kind"] == "asset" and by_code["CAM21"]["category_code"] == "0121"
    other = make_user(Role.COMMAND_OPERATOR, grids=(world["community2"],))
    seen = get(other, "/api/onemap/cameras/").json()
    assert [f["properties"]["code"] for f in seen["features"]] == ["CAM21"]  # scope kept


def test_assets_layer_excludes_cameras_and_clusters(world):
    data = get(world["operator"], "/api/onemap/assets/", bbox=WHOLE, zoom=17).json()
    assert data["mode"] == "points"
    assert [f["properties"]["code"] for f in data["features"]] == ["MH11"]
    low = get(world["operator"], "/api/onemap/assets/", bbox=WHOLE, zoom=10).json()
    assert low["mode"] == "clusters" and low["count"] == 1


def test_units_layer_from_units_selectors(world, make_user):
    from shequ.units.services import record_position, set_status

    data = get(world["operator"], "/api/onemap/units/").json()
    assert data["type"] == "FeatureCollection" and data["available"] is True
    assert data["features"] == [] and data["without_position"] == []
    worker, far = world["worker11"], world["worker21"]
    set_status(worker, "on_duty", consent=True)
    record_position(worker, IN_GRID11[0], IN_GRID11[1], 8.0)
    set_status(far, "busy", consent=True)  # on duty without a position yet
    data = get(world["operator"], "/api/onemap/units/").json()
    [unit] = data["features"]
    assert unit["geometry"]["coordinates"] == [IN_GRID11[0], IN_GRID11[1]]
    assert unit["properties"]["user_id"] == worker.pk and unit["properties"]["status"] == "on_duty"
    assert [u["user_id"] for u in data["without_position"]] == [far.pk]
    other = make_user(Role.COMMAND_OPERATOR, grids=(world["community2"],))
    seen = get(other, "/api/onemap/units/").json()
    assert seen["features"] == [] and [u["user_id"] for u in seen["without_position"]] == [far.pk]


# --- ETags and the cache ---------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["grids", "cases", "cameras", "assets", "units"])
def test_etag_gives_304(world, layer):
    client = client_for(world["operator"])
    url = f"/api/onemap/{layer}/"
    first = client.get(url)
    tag = first["ETag"]
    assert first.status_code == 200 and tag.startswith('"')
    again = client.get(url, HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_a_new_case_changes_the_cached_layers(world, case_categories):
    client = client_for(world["operator"])
    grids = client.get("/api/onemap/grids/")
    cases = client.get("/api/onemap/cases/", {"bbox": WHOLE, "zoom": 17})
    g11 = world["grid11"].code
    before = {f["properties"]["code"]: f["properties"]["open"] for f in grids.json()["features"]}[g11]
    new = report(world["operator"], (IN_GRID11[0] + 0.002, IN_GRID11[1] + 0.002), case_categories["暴露垃圾"])
    # The test's transaction never commits: deliver the outbox as after a commit (or a replay).
    outbox.replay()
    grids2 = client.get("/api/onemap/grids/", HTTP_IF_NONE_MATCH=grids["ETag"])
    assert grids2.status_code == 200
    after = {f["properties"]["code"]: f["properties"]["open"] for f in grids2.json()["features"]}[g11]
    assert after == before + 1
    cases2 = client.get("/api/onemap/cases/", {"bbox": WHOLE, "zoom": 17}, HTTP_IF_NONE_MATCH=cases["ETag"])
    assert cases2.status_code == 200 and new.number in numbers(cases2)


def test_without_an_event_the_cache_answers(world):
    """The cache is used: a change that bypasses the services (and so publishes nothing) is not
    seen until the next event or the TTL — which is why every write goes through the services."""
    client = client_for(world["operator"])
    first = client.get("/api/onemap/cases/", {"bbox": WHOLE, "zoom": 17})
    Case.objects.filter(pk=world["open11"].pk).update(lon=IN_GRID11[0] + 0.0001)
    second = client.get("/api/onemap/cases/", {"bbox": WHOLE, "zoom": 17})
    assert second.content == first.content
    from shequ.onemap import cache as layer_cache

    layer_cache.bump()
    third = client.get("/api/onemap/cases/", {"bbox": WHOLE, "zoom": 17})
    assert third.content != first.content


def test_scopes_do_not_share_cache_entries(world, make_user):
    op = world["operator"]
    other = make_user(Role.COMMAND_OPERATOR, grids=(world["community2"],))
    assert len(numbers(get(op, "/api/onemap/cases/", zoom=17))) == 5
    assert numbers(get(other, "/api/onemap/cases/", zoom=17)) == {world["open21"].number}
