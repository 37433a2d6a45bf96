"""The demo community generator: a small scale, written once for the module and rolled back after.

Scale 0.02 keeps the whole map (2 communities, 25 grids, 14 schools, 15 enterprises) with 1,640
residents, so these tests see every kind of row in a few seconds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import time
from collections.abc import Iterator
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import F
from django.test import override_settings
from shapely.geometry import shape
from shapely.ops import unary_union

from shequ.accounts.models import Department, Role, User
from shequ.cases.models import Case, RoutingRule
from shequ.core import geo
from shequ.demo import community, figures, layout, things, users
from shequ.demo.figures import Scale, ScaleError
from shequ.demo.models import DemoCommunity
from shequ.grids import index as grid_index
from shequ.grids.models import Grid, Level
from shequ.grids.selectors import visible_grid_ids
from shequ.registry import identifiers
from shequ.registry.models import Asset, Building, Dwelling, Household, Organization, Person, Road
from shequ.registry.selectors import people_for

SCALE, SEED = "0.02", 7
# Password hashing is not under test here; PBKDF2 would spend seconds on the nine demo accounts.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def generate(**options: Any) -> str:
    out = StringIO()
    call_command(
        "demo_community",
        scale=options.pop("scale", SCALE),
        seed=options.pop("seed", SEED),
        stdout=out,
        **options,
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[SimpleNamespace]:
    """The demo at scale 0.02, in a transaction that is rolled back when the module is done."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS), transaction.atomic():
        started = time.monotonic()
        output = generate()
        seconds = time.monotonic() - started
        yield SimpleNamespace(output=output, seconds=seconds, digest=digest())
        transaction.set_rollback(True)


# django_db on every test also tells pytest-django to create the test database when only pure tests run.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo")]


def digest() -> dict[str, str]:
    """A digest per table of the demo's rows by their natural keys (codes, ID numbers), not pks."""

    def h(rows: Any) -> str:
        return hashlib.sha256(json.dumps(sorted(rows), ensure_ascii=False, default=str).encode()).hexdigest()

    tags: dict[int, list[str]] = {}
    for person_id, code in Person.tags.through.objects.values_list("person_id", "tag__code"):
        tags.setdefault(person_id, []).append(code)
    return {
        "grids": h(Grid.objects.values_list("code", "name", "level", "parent__code", "geometry")),
        "roads": h(Road.objects.values_list("name", "kind", "geometry")),
        "buildings": h(
            Building.objects.values_list(
                "code", "name", "address", "use", "floors", "footprint", "lon", "lat", "grid__code"
            )
        ),
        "dwellings": h(
            Dwelling.objects.values_list("building__code", "unit", "number", "area_m2", "is_shop")
        ),
        "households": h(
            Household.objects.values_list(
                "number", "address", "dwelling__building__code", "dwelling__number", "grid__code"
            )
        ),
        "people": h(_person_key(p, tags) for p in Person.objects.select_related("household", "grid")),
        "organizations": h(
            Organization.objects.values_list(
                "name", "kind", "credit_code", "legal_representative", "lon", "lat", "grid__code"
            )
        ),
        "assets": h(
            Asset.objects.values_list(
                "code", "name", "category__code", "status", "owner__code", "lon", "lat", "grid__code"
            )
        ),
        "accounts": h(
            (u.username, u.role, u.display_name, u.person.id_number if u.person else "")
            for u in User.objects.select_related("person")
        ),
    }


def _person_key(p: Person, tags: dict[int, list[str]]) -> tuple[Any, ...]:
    household = p.household.number if p.household else ""
    grid = p.grid.code if p.grid else ""
    fields = (p.id_number, p.name, p.phone, p.gender, p.birth_date, p.ethnicity, p.residence, p.relation)
    return (*fields, household, grid, sorted(tags.get(p.pk, [])))


def delete_demo() -> None:
    """Remove the demo's rows (audit entries stay: the log is append-only)."""
    from shequ.drones.models import Dock, Drone, Flight, Mission, Photo
    from shequ.video.models import Alert, Camera

    # Photos take their findings with them; flights hold their drones (PROTECT).
    for drone_model in (Photo, Flight, Mission, Drone, Dock):
        drone_model.objects.all().delete()
    Alert.objects.all().delete()  # alerts hold their cameras (PROTECT)
    Camera.objects.all().delete()
    Case.objects.all().delete()  # the year of cases and the routing rules hold departments (PROTECT)
    RoutingRule.objects.all().delete()
    User.objects.filter(username__in=[a.username for a in users.DEMO_ACCOUNTS]).delete()
    Person.objects.all().delete()
    for model in (Household, Organization, Building, Asset, Road, Department, DemoCommunity):
        model.objects.all().delete()
    for level in (Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT):
        Grid.objects.filter(level=level).delete()


# --- figures -----------------------------------------------------------------------------------


def test_generation_reports_progress_accounts_and_is_quick(demo: SimpleNamespace) -> None:
    assert "居民" in demo.output and "完成" in demo.output
    assert users.PASSWORD in demo.output
    for account in users.DEMO_ACCOUNTS:
        assert account.username in demo.output
    assert demo.seconds < 8


def test_figures_check_passes_on_the_demo(db: None) -> None:
    out = StringIO()
    call_command("demo_figures", check=True, stdout=out)
    assert "相符" in out.getvalue()
    out = StringIO()
    call_command("demo_figures", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["demo"] == {"seed": SEED, "scale": 0.02}
    found = data["figures"]
    assert found["residents"] == 1640 and found["grids"] == 25 and found["communities"] == 2
    assert found["schools"] == 14 and found["enterprises"] == 15
    assert found["party_members"] == 5 and found["cameras"] == 10
    assert found["grid_area_km2"] == pytest.approx(16.35, rel=1e-4)
    assert found["households"] > 500 and found["buildings"] > 50 and found["roads"] > 20
    assert found["other_assets"] > 100 and found["dwellings"] > found["households"]


def test_figures_check_fails_when_a_figure_is_wrong(db: None) -> None:
    Organization.objects.filter(kind=Organization.Kind.SCHOOL).first().delete()  # type: ignore[union-attr]
    Person.objects.filter(tags__code=figures.PARTY_TAG).first().tags.clear()  # type: ignore[union-attr]
    with pytest.raises(CommandError) as failed:
        call_command("demo_figures", check=True, stdout=StringIO())
    message = str(failed.value)
    assert "学校: 应为 14" in message and "实为 13" in message
    assert "党员: 应为 5" in message
    assert "居民" not in message  # what still agrees is not listed


def test_figures_check_fails_without_a_demo(db: None) -> None:
    DemoCommunity.objects.all().delete()
    with pytest.raises(CommandError, match="没有演示社区"):
        call_command("demo_figures", check=True, stdout=StringIO())


# --- geometry ----------------------------------------------------------------------------------


def test_grids_tile_each_community(db: None) -> None:
    communities = Grid.objects.filter(level=Level.COMMUNITY)
    assert [c.code for c in communities] == ["620171103001", "620171103002"]
    for c in communities:
        area = shape(c.geometry)
        grids = [shape(g.geometry) for g in Grid.objects.filter(parent=c)]
        assert all(g.is_valid and g.geom_type == "Polygon" for g in grids)
        assert geo.area_m2(unary_union(grids).symmetric_difference(area)) < 1.0  # union is the community
        assert sum(geo.area_m2(g) for g in grids) == pytest.approx(geo.area_m2(area), abs=1.0)  # no overlaps
        for a, b in itertools.combinations(grids, 2):
            assert geo.area_m2(a.intersection(b)) < 0.01
    codes = list(Grid.objects.filter(level=Level.GRID).values_list("code", flat=True))
    assert len(codes) == 25 and all(len(code) == 14 and code.startswith("620171103") for code in codes)


def test_every_thing_lies_in_its_grid(db: None) -> None:
    index = grid_index.grid_index()  # the application's own point-in-grid index
    for model in (Building, Asset, Organization):
        rows = list(model.objects.values_list("lon", "lat", "grid_id"))
        assert rows and all(g is not None for _, _, g in rows)
        found = index.locate_many([r[0] for r in rows], [r[1] for r in rows])
        assert found == [g for _, _, g in rows], model.__name__
    assert not Household.objects.exclude(grid_id=F("dwelling__building__grid_id")).exists()
    assert not Person.objects.exclude(grid_id=F("household__grid_id")).exists()
    assert not Person.objects.filter(household__isnull=True).exists()


# --- registers ---------------------------------------------------------------------------------


def test_identifiers_are_valid_and_unique(db: None) -> None:
    people = list(Person.objects.all())
    assert len(people) == 1640
    for p in people:
        rid = identifiers.parse_resident_id(p.id_number)
        assert (rid.gender, rid.birth_date) == (p.gender, p.birth_date)
        if p.phone:
            assert identifiers.parse_phone(p.phone).kind == "mobile"
    assert len({p.id_number_hash for p in people}) == len(people)
    assert sum(1 for p in people if p.phone) > len(people) * 0.7
    # Stored encrypted, found through the keyed hash like any registered person.
    from shequ.registry.services import find_person_by_id_number

    assert find_person_by_id_number(people[100].id_number) == people[100]
    codes = list(Organization.objects.exclude(credit_code=None).values_list("credit_code", flat=True))
    assert len(codes) == 29
    for code in codes:
        identifiers.parse_credit_code(code)  # type: ignore[arg-type]


def test_same_seed_gives_the_same_rows(demo: SimpleNamespace, db: None) -> None:
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        delete_demo()
        generate()
        assert digest() == demo.digest
        delete_demo()
        generate(seed=SEED + 1)
        other = digest()
    assert other["people"] != demo.digest["people"] and other["grids"] != demo.digest["grids"]


def test_a_failure_leaves_nothing_behind(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    delete_demo()

    def broken(*args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(community._Writer, "assets", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        community.generate(SEED, Scale.parse(SCALE))
    assert not Grid.objects.exists() and not Person.objects.exists() and not Building.objects.exists()
    assert not DemoCommunity.objects.exists()


# --- the command -------------------------------------------------------------------------------


def test_if_absent_is_a_quick_no_op(db: None) -> None:
    before = (Person.objects.count(), Grid.objects.count(), User.objects.count())
    started = time.monotonic()
    output = generate(if_absent=True)
    assert time.monotonic() - started < 0.5
    assert "已存在" in output and users.PASSWORD in output
    assert (Person.objects.count(), Grid.objects.count(), User.objects.count()) == before
    with pytest.raises(CommandError, match="已有演示社区"):
        generate()
    assert Person.objects.count() == before[0]


def test_refuses_to_mix_with_other_data(db: None) -> None:
    DemoCommunity.objects.all().delete()  # the registers remain, as if someone else had loaded them
    with pytest.raises(CommandError, match=r"已有非演示数据.*网格"):
        generate()
    assert "未生成" in generate(if_absent=True)
    assert Person.objects.count() == 1640


def test_scale_is_checked() -> None:
    for bad in ("0", "-1", "2.5", "x", "1001"):
        with pytest.raises(ScaleError):
            Scale.parse(bad)
    assert Scale.parse("10").expected() | {"grid_area_km2": 0} == {
        "residents": 820_000,
        "communities": 20,
        "grids": 250,
        "grid_area_km2": 0,
        "schools": 140,
        "enterprises": 150,
        "party_members": 2560,
        "cameras": 5000,
    }
    assert Scale.parse("10").expected()["grid_area_km2"] == pytest.approx(163.5)
    assert Scale.parse("0.5").expected()["residents"] == 41_000


# --- accounts ----------------------------------------------------------------------------------


def test_demo_accounts_log_in_with_the_printed_password(db: None, client: Any) -> None:
    validate_password(users.PASSWORD)  # the project's own password policy
    for account in users.DEMO_ACCOUNTS:
        assert client.login(username=account.username, password=users.PASSWORD), account.username
        assert client.get("/").status_code == 200
        client.logout()
    assert {User.objects.get(username=a.username).role for a in users.DEMO_ACCOUNTS} == set(Role)


def test_grid_worker_sees_only_their_grids(db: None) -> None:
    worker = User.objects.get(username="gridworker")
    grids = set(worker.assignments.values_list("grid__code", flat=True))
    assert grids == {"62017110300101", "62017110300102"}
    seen = people_for(worker)
    assert 0 < seen.count() < Person.objects.count()
    assert seen.count() == Person.objects.filter(grid__code__in=grids).count()
    assert set(seen.values_list("grid__code", flat=True)) == grids
    operator = User.objects.get(username="operator")
    assert people_for(operator).count() == Person.objects.count()
    assert len(visible_grid_ids(operator) or ()) == Grid.objects.count() - 1  # all but the district


def test_handler_and_resident_are_linked(db: None) -> None:
    handler = User.objects.get(username="handler")
    assert handler.department is not None and handler.department.code == users.HANDLER_DEPARTMENT
    resident = User.objects.get(username="resident")
    assert resident.person is not None and resident.display_name == resident.person.name
    assert list(people_for(resident)) == [resident.person]


def test_assets_stand_inside_their_cluster_at_scale_ten() -> None:
    """Regression: a camera at the corner crossing of a cluster was once placed outside every grid."""
    for k in (1, 9):
        plan = layout.plan_cluster(SEED, k, 10)
        placed = things.plan_assets(
            random.Random(k), plan, Scale.parse("10"), dict.fromkeys(things.CATEGORIES, "部件")
        )
        assert len(placed) == figures.CAMERAS + sum(n for _, n, _, _ in things.OTHER_ASSETS)
        index = geo.GridIndex((g.index, g.polygon) for g in plan.grids)
        assert None not in index.locate_many([p.x for p in placed], [p.y for p in placed])
