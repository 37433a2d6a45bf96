"""The registers' REST API: data scope on every read (404, never a hint), masking, audited reveal,
clear errors for every client mistake, and a people page in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from shequ.accounts.models import Department, Role
from shequ.core.models import AuditEntry
from shequ.registry import services
from shequ.registry.identifiers import make_credit_code, make_resident_id
from shequ.registry.models import Asset, AssetCategory, Building, Household, Organization, Person, Tag

pytestmark = pytest.mark.django_db

ID_11 = make_resident_id("620171", dt.date(1950, 3, 1), 11)
ID_12 = make_resident_id("620171", dt.date(1990, 7, 9), 12)
ID_21 = make_resident_id("620171", dt.date(1985, 6, 1), 21)
PHONE_21 = "13912345678"


def client_for(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def world(system_user, two_communities) -> dict[str, Any]:
    """A household with one resident in grids 11, 12 and 21; an elderly tag and a sensitive one."""
    g = two_communities
    # default tags come with the registry's data migration
    elderly = Tag.objects.get(code="elderly_alone", is_sensitive=False)
    correction = Tag.objects.get(code="community_correction", is_sensitive=True)
    out = dict(g, elderly=elderly, correction=correction)
    for key, id_number, phone in (("11", ID_11, "13812345678"), ("12", ID_12, ""), ("21", ID_21, PHONE_21)):
        household = Household.objects.create(number=f"H{key}", grid=g[f"grid{key}"], address=f"{key}号楼")
        out[f"h{key}"] = household
        out[f"p{key}"] = services.create_person(
            {"name": f"居民{key}", "id_number": id_number, "phone": phone},
            actor=system_user,
            household=household,
            tags=[elderly, correction] if key == "11" else [],
        )
    return out


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_grid_worker_sees_nothing_outside_their_grids(make_user, world):
    worker = client_for(make_user(Role.GRID_WORKER, grids=(world["grid11"],)))
    p21 = world["p21"]
    assert ids(worker.get("/api/registry/people/")) == {world["p11"].pk}
    assert worker.get(f"/api/registry/people/{p21.pk}/").status_code == 404
    assert ids(worker.get("/api/registry/people/", {"q": "居民21"})) == set()
    assert ids(worker.get("/api/registry/people/", {"id_number": ID_21})) == set()
    assert ids(worker.get("/api/registry/people/", {"phone": PHONE_21})) == set()
    assert ids(worker.get("/api/registry/people/", {"grid": world["grid21"].code})) == set()
    assert worker.patch(f"/api/registry/people/{p21.pk}/", {"name": "改名"}, format="json").status_code == 404
    reveal = worker.post(f"/api/registry/people/{p21.pk}/reveal/", {"purpose": "走访"}, format="json")
    assert reveal.status_code == 404
    assert b"\xe5\xb1\x85\xe6\xb0\x9121" not in reveal.content  # 居民21
    assert not AuditEntry.objects.filter(action="person.reveal").exists()
    p21.refresh_from_db()
    assert p21.name == "居民21"
    # the other registers follow the same scope
    assert {h["number"] for h in worker.get("/api/registry/households/").json()["results"]} == {"H11"}
    assert worker.get(f"/api/registry/households/{world['h21'].pk}/").status_code == 404


def test_lookup_by_id_number_finds_a_person_inside_the_scope(make_user, world):
    worker = client_for(make_user(Role.GRID_WORKER, grids=(world["grid11"],)))
    assert ids(worker.get("/api/registry/people/", {"id_number": ID_11.lower()})) == {world["p11"].pk}
    bad = worker.get("/api/registry/people/", {"id_number": "123"})
    assert bad.status_code == 400 and bad.json()["field"] == "id_number"


def test_department_handler_sees_no_people(make_user, world):
    department = Department.objects.create(code="d1", name="城管执法中队")
    handler = client_for(make_user(Role.DEPARTMENT_HANDLER, department=department, grids=(world["street"],)))
    assert ids(handler.get("/api/registry/people/")) == set()
    assert ids(handler.get("/api/registry/people/", {"id_number": ID_11})) == set()
    assert handler.get(f"/api/registry/people/{world['p11'].pk}/").status_code == 404


def test_resident_sees_only_themself(make_user, world):
    user = make_user(Role.RESIDENT)
    user.person = world["p12"]
    user.save(update_fields=["person"])
    resident = client_for(user)
    assert ids(resident.get("/api/registry/people/")) == {world["p12"].pk}
    assert resident.get(f"/api/registry/people/{world['p12'].pk}/").status_code == 200
    assert resident.get(f"/api/registry/people/{world['p11'].pk}/").status_code == 404
    assert {h["number"] for h in resident.get("/api/registry/households/").json()["results"]} == {"H12"}
    # a resident does not write the register, and may not unmask even their own numbers here
    assert (
        resident.patch(f"/api/registry/people/{world['p12'].pk}/", {"note": "x"}, format="json").status_code
        == 403
    )
    resident_reveal = resident.post(
        f"/api/registry/people/{world['p12'].pk}/reveal/", {"purpose": "自查"}, format="json"
    )
    assert resident_reveal.status_code == 403


def test_operator_of_community_1_does_not_see_community_2(make_user, world):
    operator = client_for(make_user(Role.COMMAND_OPERATOR, grids=(world["community1"],)))
    assert ids(operator.get("/api/registry/people/")) == {world["p11"].pk, world["p12"].pk}
    assert operator.get(f"/api/registry/people/{world['p21'].pk}/").status_code == 404
    assert ids(operator.get("/api/registry/people/", {"grid": world["grid12"].code})) == {world["p12"].pk}


def test_identifiers_are_masked_by_default(system_user, world):
    response = client_for(system_user).get(f"/api/registry/people/{world['p11'].pk}/")
    body = response.json()
    assert body["id_number"] == ID_11[:3] + "*" * 11 + ID_11[-4:]
    assert body["phone"] == "+86138****5678"
    assert ID_11.encode() not in response.content and b"13812345678" not in response.content
    listed = client_for(system_user).get("/api/registry/people/")
    assert ID_11.encode() not in listed.content and b"12345678" not in listed.content


def test_reveal_is_audited_with_its_purpose(make_user, world):
    worker = make_user(Role.GRID_WORKER, grids=(world["grid11"],))
    response = client_for(worker).post(
        f"/api/registry/people/{world['p11'].pk}/reveal/", {"purpose": "入户走访核对身份"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"id": world["p11"].pk, "id_number": ID_11, "phone": "+8613812345678"}
    assert response["Cache-Control"] == "no-store"
    entry = AuditEntry.objects.get(action="person.reveal")
    assert (entry.actor_id, entry.target_id, entry.detail["purpose"]) == (
        worker.pk,
        str(world["p11"].pk),
        "入户走访核对身份",
    )


def test_reveal_is_refused_for_a_leader_and_needs_a_purpose(make_user, world):
    leader = client_for(make_user(Role.LEADER, grids=(world["street"],)))
    url = f"/api/registry/people/{world['p11'].pk}/reveal/"
    refused = leader.post(url, {"purpose": "想看看"}, format="json")
    assert refused.status_code == 403 and refused.json()["detail"]
    assert ID_11.encode() not in refused.content
    operator = client_for(make_user(Role.COMMAND_OPERATOR, grids=(world["street"],)))
    blank = operator.post(url, {"purpose": "  "}, format="json")
    assert blank.status_code == 422 and blank.json()["field"] == "purpose"
    missing = operator.post(url, {}, format="json")
    assert missing.status_code == 400 and missing.json()["field"] == "purpose"
    assert not AuditEntry.objects.filter(action="person.reveal").exists()


def test_sensitive_tags_are_shown_only_to_roles_allowed(make_user, world):
    leader = client_for(make_user(Role.LEADER, grids=(world["street"],)))
    worker = client_for(make_user(Role.GRID_WORKER, grids=(world["grid11"],)))
    url = f"/api/registry/people/{world['p11'].pk}/"
    assert [t["code"] for t in leader.get(url).json()["tags"]] == ["elderly_alone"]
    assert [t["code"] for t in worker.get(url).json()["tags"]] == ["community_correction", "elderly_alone"]
    assert ids(leader.get("/api/registry/people/", {"tag": "community_correction"})) == set()
    assert ids(worker.get("/api/registry/people/", {"tag": "community_correction"})) == {world["p11"].pk}
    leader_tags = leader.get("/api/registry/tags/", {"limit": 500}).json()["results"]
    assert "elderly_alone" in {t["code"] for t in leader_tags}
    assert not any(t["is_sensitive"] for t in leader_tags)
    assert leader.get("/api/registry/tags/community_correction/").status_code == 404
    assert worker.get("/api/registry/tags/community_correction/").status_code == 200


def test_filters_by_residence_and_age(system_user, world):
    admin = client_for(system_user)
    # born 1950-03-01, 1990-07-09, 1985-06-01
    assert ids(admin.get("/api/registry/people/", {"age_min": 60})) == {world["p11"].pk}
    assert ids(admin.get("/api/registry/people/", {"age_max": 36, "age_min": 30})) == {world["p12"].pk}
    assert len(ids(admin.get("/api/registry/people/", {"residence": "registered"}))) == 3
    assert ids(admin.get("/api/registry/people/", {"residence": "floating"})) == set()
    bad = admin.get("/api/registry/people/", {"age_min": 50, "age_max": 10})
    assert bad.status_code == 400 and bad.json()["field"] == "age_min"


def test_create_with_a_bad_id_number_is_422_and_writes_nothing(system_user, world):
    before = (Person.objects.count(), AuditEntry.objects.count())
    bad_id = ID_21[:-1] + ("0" if ID_21[-1] != "0" else "1")
    response = client_for(system_user).post(
        "/api/registry/people/", {"name": "张三", "id_number": bad_id}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["field"] == "id_number" and "身份证号无效" in response.json()["detail"]
    assert (Person.objects.count(), AuditEntry.objects.count()) == before


def test_create_with_a_registered_id_number_is_409(system_user, world):
    before = Person.objects.count()
    response = client_for(system_user).post(
        "/api/registry/people/", {"name": "冒名", "id_number": ID_21}, format="json"
    )
    assert response.status_code == 409 and response.json()["field"] == "id_number"
    assert Person.objects.count() == before


def test_grid_worker_registers_people_only_into_their_own_grids(make_user, world):
    worker = client_for(make_user(Role.GRID_WORKER, grids=(world["grid11"],)))
    outside = worker.post(
        "/api/registry/people/", {"name": "王五", "gender": "男", "household": world["h21"].pk}, format="json"
    )
    assert outside.status_code == 422 and outside.json()["field"] == "household"
    nowhere = worker.post("/api/registry/people/", {"name": "王五", "gender": "男"}, format="json")
    assert nowhere.status_code == 422 and nowhere.json()["field"] == "household"
    created = worker.post(
        "/api/registry/people/",
        {"name": "王五", "gender": "男", "household": world["h11"].pk, "tags": ["elderly_alone"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["grid"], body["household"]["number"], body["tags"]) == (
        world["grid11"].code,
        "H11",
        [{"code": "elderly_alone", "name": "独居老人"}],
    )
    assert AuditEntry.objects.filter(action="person.create", target_id=str(body["id"])).exists()


def test_roles_that_may_not_write_get_403_and_nothing_changes(make_user, world):
    leader = client_for(make_user(Role.LEADER, grids=(world["street"],)))
    before = Person.objects.count()
    response = leader.post("/api/registry/people/", {"name": "赵六", "gender": "女"}, format="json")
    assert response.status_code == 403
    patch = leader.patch(f"/api/registry/people/{world['p11'].pk}/", {"name": "改名"}, format="json")
    assert patch.status_code == 403
    assert Person.objects.count() == before
    world["p11"].refresh_from_db()
    assert world["p11"].name == "居民11"


def test_partial_update_goes_through_the_service(make_user, world):
    worker = client_for(make_user(Role.GRID_WORKER, grids=(world["grid11"],)))
    url = f"/api/registry/people/{world['p11'].pk}/"
    response = worker.patch(url, {"phone": "0931-8123456", "ethnicity": "回"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["ethnicity"] == "回族" and response.json()["phone"].endswith("3456")
    wrong = worker.patch(url, {"gender": "女"}, format="json")
    assert wrong.status_code == 422 and wrong.json()["field"] == "gender"
    clash = worker.patch(url, {"id_number": ID_21, "birth_date": "1985-06-01"}, format="json")
    assert clash.status_code == 409
    typo = worker.patch(url, {"nmae": "x"}, format="json")
    assert typo.status_code == 400 and typo.json()["field"] == "nmae"
    fields = AuditEntry.objects.filter(action="person.update").get().detail["fields"]
    assert fields == ["ethnicity", "phone"]


def test_people_page_of_50_takes_a_fixed_number_of_queries(
    make_user, world, system_user, django_assert_max_num_queries
):
    for i in range(60):
        services.create_person(
            {"name": f"批量{i}", "gender": "男" if i % 2 else "女", "phone": f"1381234{i:04d}"},
            actor=system_user,
            household=world["h11"],
            tags=[world["elderly"], world["correction"]],
        )
    client = client_for(make_user(Role.COMMAND_OPERATOR, grids=(world["community1"],)))
    # session, user, assignments, visible grid ids, count, page, tags of the page; and the idle
    # timeout saves the session on every request (a savepoint, an UPDATE, its release)
    with django_assert_max_num_queries(10):
        response = client.get("/api/registry/people/", {"limit": 50})
    assert len(response.json()["results"]) == 50
    with CaptureQueriesContext(connection) as small:
        client.get("/api/registry/people/", {"limit": 5})
    with CaptureQueriesContext(connection) as large:
        client.get("/api/registry/people/", {"limit": 50, "offset": 5})
    assert len(small.captured_queries) == len(large.captured_queries)
    batch = [row for row in response.json()["results"] if row["name"].startswith("批量")]
    assert len(batch) == 48 and all(len(row["tags"]) == 2 for row in batch)


# --- the other registers --------------------------------------------------------------------------


@pytest.fixture
def places(world, system_user) -> dict[str, Any]:
    g = world
    hydrant = AssetCategory.objects.get(code="0115", parent__code="01")  # 消防栓, from the data migration
    out = dict(g)
    for key, lon in (("11", 103.605), ("21", 103.625)):
        out[f"b{key}"] = Building.objects.create(
            code=f"B{key}", name=f"{key}号楼", address="x", lon=lon, lat=36.505, grid=g[f"grid{key}"]
        )
        out[f"a{key}"] = Asset.objects.create(
            code=f"A{key}", name=f"消防栓{key}", category=hydrant, lon=lon, lat=36.506, grid=g[f"grid{key}"]
        )
    return out


def test_buildings_and_assets_as_geojson_within_a_bbox(make_user, places):
    operator = client_for(make_user(Role.COMMAND_OPERATOR, grids=(places["street"],)))
    everything = operator.get("/api/registry/buildings/geojson/")
    assert everything["Content-Type"] == "application/geo+json"
    assert {f["properties"]["code"] for f in everything.json()["features"]} == {"B11", "B21"}
    west = operator.get("/api/registry/buildings/geojson/", {"bbox": "103.60,36.50,103.61,36.51"})
    assert [f["properties"]["code"] for f in west.json()["features"]] == ["B11"]
    assert west.json()["features"][0]["geometry"] == {"type": "Point", "coordinates": [103.605, 36.505]}
    assets = operator.get("/api/registry/assets/geojson/", {"bbox": "103.62,36.50,103.63,36.51"}).json()
    assert [f["properties"]["code"] for f in assets["features"]] == ["A21"]
    assert ids(operator.get("/api/registry/assets/", {"category": "01"})) == {
        places["a11"].pk,
        places["a21"].pk,
    }
    for bad in ("1,2,3", "a,b,c,d", "103.7,36.5,103.6,36.6", "0,0,200,10", "nan,0,1,1"):
        response = operator.get("/api/registry/buildings/geojson/", {"bbox": bad})
        assert response.status_code == 400 and response.json()["field"] == "bbox", bad


def test_places_outside_the_scope_are_not_listed(make_user, places):
    worker = client_for(make_user(Role.GRID_WORKER, grids=(places["grid11"],)))
    assert ids(worker.get("/api/registry/buildings/")) == {places["b11"].pk}
    assert worker.get(f"/api/registry/assets/{places['a21'].pk}/").status_code == 404
    features = worker.get("/api/registry/assets/geojson/").json()["features"]
    assert [f["properties"]["code"] for f in features] == ["A11"]


def test_create_organization_checks_code_and_location(make_user, world):
    worker = client_for(make_user(Role.GRID_WORKER, grids=(world["grid11"],)))
    code = make_credit_code("620171", "MA7K2L3Q")
    body = {
        "name": "兰州新区某公司",
        "kind": "enterprise",
        "credit_code": code,
        "lon": 103.605,
        "lat": 36.505,
    }
    created = worker.post("/api/registry/organizations/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["grid"] == world["grid11"].code
    assert worker.post("/api/registry/organizations/", body, format="json").status_code == 409
    elsewhere = dict(body, credit_code="", lon=103.625)
    assert worker.post("/api/registry/organizations/", elsewhere, format="json").status_code == 422
    bad = worker.post("/api/registry/organizations/", dict(body, credit_code="123"), format="json")
    assert bad.status_code == 422 and bad.json()["field"] == "credit_code"
    # The same phone check as the import (services.check_organization), not only a length.
    bad = worker.post("/api/registry/organizations/", dict(body, credit_code="", phone="++++"), format="json")
    assert bad.status_code == 422 and bad.json()["field"] == "phone"
    assert Organization.objects.count() == 1
    assert ids(worker.get("/api/registry/organizations/", {"kind": "enterprise"})) == {created.json()["id"]}


# --- junk: every client mistake is a 4xx with a message, never a 5xx -------------------------------

LIST_URLS = [
    "/api/registry/people/",
    "/api/registry/households/",
    "/api/registry/buildings/",
    "/api/registry/buildings/geojson/",
    "/api/registry/organizations/",
    "/api/registry/assets/",
    "/api/registry/assets/geojson/",
    "/api/registry/tags/",
    "/api/grids/",
    "/api/grids/geojson/",
    "/api/grids/locate/",
    "/api/accounts/me/",
]
DETAIL_URLS = [
    "/api/registry/people/{}/",
    "/api/registry/people/{}/reveal/",
    "/api/registry/households/{}/",
    "/api/registry/buildings/{}/",
    "/api/registry/organizations/{}/",
    "/api/registry/assets/{}/",
    "/api/registry/tags/{}/",
    "/api/grids/{}/",
    "/api/jobs/{}/",
]
JUNK_PARAMS: list[dict[str, str]] = [
    {"limit": "abc"},
    {"limit": "-1"},
    {"limit": "99999999999999999999999"},
    {"offset": "99999999999999999999999"},
    {"offset": "1e9"},
    {"limit": "0"},
    {"offset": "100000"},
    {"bbox": "1,2,3"},
    {"bbox": "x,y,z,w"},
    {"bbox": "inf,0,1,1"},
    {"bbox": "1,1,0,0"},
    {"bbox": ",,,,"},
    {"unknown": "filter", "ordering": "-password"},
    {"q": "社区" * 500},
    {"q": "a\x00b"},
    {"q": "'; DROP TABLE registry_person; --"},
    {"grid": "not-a-code"},
    {"grid": "9" * 30},
    {"tag": "🙂"},
    {"id_number": "X" * 100},
    {"id_number": "11010519491231002X"},
    {"phone": "++++"},
    {"residence": "mars"},
    {"gender": "other"},
    {"age_min": "old"},
    {"age_max": "1000"},
    {"household": "-5"},
    {"household": "99999999999999999999999"},
    {"level": "planet"},
    {"parent": "\u202e"},
    {"lon": "abc", "lat": "1"},
    {"lon": "nan", "lat": "nan"},
    {"lon": "1e400", "lat": "0"},
    {"lon": "103.6"},
    {"kind": "🙂"},
    {"status": "broken"},
    {"category": "\x00"},
    {"credit_code": "?"},
    {"use": "castle"},
    {"format": "xml"},
]
JUNK_IDS = ["abc", "-1", "0", "1.5", "99999999999999999999999", "%F0%9F%99%82", "1e3", "null", "a%00b"]
JUNK_BODIES: list[Any] = [
    {"name": ["a", "list"]},
    {"name": {"a": "dict"}},
    {"name": 12345, "gender": True},
    {"household": "abc"},
    {"household": 99999999999999999999999},
    {"household": -1},
    {"tags": "not-a-list"},
    {"tags": [1, {"x": 1}]},
    {"tags": ["no-such-tag"]},
    {"birth_date": "31/02/2000", "name": "x", "gender": "男"},
    {"birth_date": 12, "name": "x", "gender": "男"},
    {"lon": "east", "lat": None},
    {"lon": 1e400},
    {"purpose": ["x"]},
    {"purpose": "\x00"},
    {"name": "\u0000null"},
    {"name": "🙂" * 40, "gender": "🙂"},
    {"unexpected": "field"},
    [],
    ["a", "list"],
    "a string",
    12,
    None,
]


def assert_clean_4xx(response, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.content[:300])
    if response.status_code >= 400 and response["Content-Type"].startswith("application/json"):
        assert response.json().get("detail") or response.json(), what


def test_junk_never_gives_a_server_error(make_user, places):
    from shequ.core.jobs import job_runner, start_job

    job_runner("test.junk")(lambda job, progress: {})
    operator = make_user(Role.COMMAND_OPERATOR, grids=(places["community1"],))
    job = start_job("test.junk", actor=operator)
    clients = {
        "admin": client_for(make_user(Role.ADMINISTRATOR)),
        "operator": client_for(operator),
        "leader": client_for(make_user(Role.LEADER, grids=(places["street"],))),
        "anonymous": APIClient(raise_request_exception=False),
    }
    real_ids = [
        str(places["p11"].pk),
        str(places["p21"].pk),
        str(job.pk),
        "elderly_alone",
        places["grid11"].code,
    ]
    for name, client in clients.items():
        for url in LIST_URLS:
            for params in JUNK_PARAMS:
                assert_clean_4xx(client.get(url, params), f"{name} GET {url} {params}")
        for template in DETAIL_URLS:
            for pk in [*JUNK_IDS, *real_ids]:
                url = template.format(pk)
                assert_clean_4xx(client.get(url), f"{name} GET {url}")
                assert_clean_4xx(client.delete(url), f"{name} DELETE {url}")
        writes = [
            "/api/registry/people/",
            "/api/registry/organizations/",
            f"/api/registry/people/{places['p11'].pk}/",
            f"/api/registry/people/{places['p11'].pk}/reveal/",
        ]
        for url in writes:
            for body in JUNK_BODIES:
                for method in (client.post, client.patch, client.put):
                    response = method(url, json.dumps(body), content_type="application/json")
                    assert_clean_4xx(response, f"{name} {method.__name__} {url} {body!r}")
            for raw, content_type in (
                (b"{not json", "application/json"),
                (b"\xff\xfe\x00", "application/json"),
                (b'{"name": NaN}', "application/json"),
                (b"name=x&gender=%E7%94%B7", "application/x-www-form-urlencoded"),
                (b"<xml/>", "application/xml"),
            ):
                assert_clean_4xx(
                    client.post(url, raw, content_type=content_type), f"{name} POST {url} {raw!r}"
                )
    huge = json.dumps({"name": "长" * (10 * 1024 * 1024 // 3 + 10)})
    response = clients["admin"].post("/api/registry/people/", huge, content_type="application/json")
    assert response.status_code == 413 and "请求内容过大" in response.json()["detail"]
    assert Person.objects.filter(name__startswith="长").count() == 0
