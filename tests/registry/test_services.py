"""The register rules, once, in services: checked input, duplicates, grids by location, reveal."""

from __future__ import annotations

import datetime as dt

import pytest

from shequ.accounts.models import Role
from shequ.core.errors import Conflict, Forbidden, Invalid
from shequ.core.models import AuditEntry
from shequ.registry import services
from shequ.registry.identifiers import make_resident_id
from shequ.registry.models import Asset, AssetCategory, Building, Household, Organization, Person

pytestmark = pytest.mark.django_db
VALID_ID = make_resident_id("620171", dt.date(1985, 6, 1), 123)  # odd sequence: male


@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        ({"name": "", "gender": "男"}, "name", "姓名不能为空"),
        (
            {"name": "张三", "id_number": VALID_ID[:-1] + ("0" if VALID_ID[-1] != "0" else "1")},
            "id_number",
            "身份证号无效",
        ),
        ({"name": "张三", "id_number": VALID_ID, "gender": "女"}, "gender", "性别与身份证号不符"),
        (
            {"name": "张三", "id_number": VALID_ID, "birth_date": "1985-06-02"},
            "birth_date",
            "出生日期与身份证号不符",
        ),
        ({"name": "张三", "gender": "男", "phone": "12345"}, "phone", "电话号码无效"),
        ({"name": "张三", "gender": "男", "ethnicity": "火星族"}, "ethnicity", "GB/T 3304"),
        ({"name": "张三", "gender": "男", "birth_date": "1985-13-01"}, "birth_date", "YYYY-MM-DD"),
        ({"name": "张三"}, "gender", "性别不能为空"),
    ],
)
def test_check_person_names_the_field_and_the_problem(raw, field, says):
    checked = services.check_person(raw)
    assert not checked.ok
    assert any(f == field and says in m for f, m in checked.errors), checked.errors


def test_gender_and_birth_date_come_from_the_id_number():
    checked = services.check_person({"name": "张三", "id_number": VALID_ID, "ethnicity": "回"})
    assert checked.ok, checked.errors
    assert checked.values["gender"] == "male" and checked.values["birth_date"] == dt.date(1985, 6, 1)
    assert checked.values["ethnicity"] == "回族"


def test_duplicate_id_number_is_a_conflict_and_writes_nothing(system_user):
    services.create_person({"name": "张三", "id_number": VALID_ID}, actor=system_user)
    before = (Person.objects.count(), AuditEntry.objects.count())
    with pytest.raises(Conflict):
        services.create_person({"name": "李四", "id_number": VALID_ID}, actor=system_user)
    assert (Person.objects.count(), AuditEntry.objects.count()) == before


def test_invalid_person_is_refused_and_writes_nothing(system_user):
    with pytest.raises(Invalid) as err:
        services.create_person({"name": "张三", "id_number": "620171198506011230"}, actor=system_user)
    assert err.value.field == "id_number" and Person.objects.count() == 0


def test_update_keeps_hashes_in_step(system_user):
    person = services.create_person(
        {"name": "张三", "gender": "男", "phone": "13812345678"}, actor=system_user
    )
    services.update_person(person, {"id_number": VALID_ID, "phone": "0931-8123456"}, actor=system_user)
    assert services.find_person_by_id_number(VALID_ID) == person
    assert AuditEntry.objects.filter(action="person.update", target_id=str(person.pk)).get().detail[
        "fields"
    ] == [
        "birth_date",
        "id_number",
        "phone",
    ]


def test_reveal_is_audited_with_its_purpose_and_refused_to_leaders(system_user, make_user, two_communities):
    person = services.create_person({"name": "张三", "id_number": VALID_ID}, actor=system_user)
    operator = make_user(Role.COMMAND_OPERATOR, grids=(two_communities["community1"],))
    assert services.reveal_person(person, actor=operator, purpose="联系核实")["id_number"] == VALID_ID
    entry = AuditEntry.objects.get(action="person.reveal")
    assert (entry.actor_id, entry.detail) == (operator.pk, {"purpose": "联系核实"})
    with pytest.raises(Forbidden):
        services.reveal_person(person, actor=make_user(Role.LEADER), purpose="看看")
    with pytest.raises(Invalid):
        services.reveal_person(person, actor=operator, purpose="  ")


def test_place_in_grids_follows_locations(system_user, two_communities):
    g = two_communities
    building = Building.objects.create(code="B1", name="1号楼", address="x", lon=103.605, lat=36.505)
    outside = Building.objects.create(code="B2", name="2号楼", address="x", lon=100.0, lat=30.0)
    household = Household.objects.create(number="H1")
    from shequ.registry.models import Dwelling

    household.dwelling = Dwelling.objects.create(building=building, number="101")
    household.save()
    person = services.create_person({"name": "张三", "gender": "男"}, actor=system_user, household=household)
    category = AssetCategory.objects.create(code="0199", name="测试部件")
    asset = Asset.objects.create(code="A1", name="井盖", category=category, lon=103.615, lat=36.505)
    org = services.create_organization(
        {"name": "西岔小学", "kind": "学校", "lon": "103.625", "lat": "36.505"}, actor=system_user
    )
    assert org.grid == g["grid21"]
    moved = services.place_in_grids(actor=system_user)
    assert moved == {"building": 1, "organization": 0, "asset": 1, "household": 1, "person": 1}
    for obj, grid in (
        (building, g["grid11"]),
        (asset, g["grid12"]),
        (household, g["grid11"]),
        (person, g["grid11"]),
    ):
        obj.refresh_from_db()
        assert obj.grid == grid
    outside.refresh_from_db()
    assert outside.grid is None
    assert services.place_in_grids(actor=system_user)["person"] == 0  # idempotent


def test_organization_credit_code_is_checked(system_user):
    with pytest.raises(Invalid) as err:
        services.create_organization(
            {"name": "某公司", "credit_code": "914403001922038217"}, actor=system_user
        )
    assert err.value.field == "credit_code"
    services.create_organization({"name": "华为", "credit_code": "914403001922038216"}, actor=system_user)
    with pytest.raises(Conflict):
        services.create_organization(
            {"name": "华为2", "credit_code": "914403001922038216"}, actor=system_user
        )
    assert Organization.objects.count() == 1
