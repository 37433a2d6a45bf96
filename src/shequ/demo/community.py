"""Writes the demo community into the database: grids, roads, buildings, dwellings, households,
residents, organizations, assets, departments and one account per role.

The plans come from `layout` (geometry) and `people` (households); this module turns them into
rows. Everything happens in one transaction: a failure leaves nothing behind. The same seed and
scale give the same rows (codes, names, ID numbers, coordinates) on every run.

Registers are written in bulk (`bulk.insert`: plain INSERTs), not row by row through the
`create_*` services, which would take minutes for 82,000 people: people and organizations still
pass `services.check_person` / `check_organization` and `services.person_row`, so ID and phone
numbers are validated, encrypted and hashed exactly as on the normal path (the importer does the
same). Grids and accounts, a few
dozen rows, go through `grids.services.save_grid`, `assign_user` and `accounts.services.create_user`.
Each thing's grid is set from the layout, where it is known; it is what the grid index gives (the
demo tests check it), so no `GridsChanged` event is sent to place things again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from django.db import connection, reset_queries, transaction
from shapely.geometry import shape

from shequ.accounts.models import Department, User
from shequ.accounts.services import create_department
from shequ.core.audit import audit
from shequ.core.geo import GridIndex
from shequ.demo import bulk, cameras, cases, drones, figures, layout, names, things, users
from shequ.demo.figures import Scale
from shequ.demo.models import DemoCommunity
from shequ.demo.people import IdAllocator, PeopleMaker
from shequ.grids.models import Grid, Level
from shequ.grids.services import save_grid
from shequ.registry import identifiers
from shequ.registry.models import (
    Asset,
    AssetCategory,
    Building,
    Dwelling,
    Household,
    Organization,
    Person,
    Road,
    Tag,
)
from shequ.registry.services import check_organization, check_person, person_row

ACTOR = "shequ demo-community"  # the audit log's actor name for what the generator writes
SOURCE = "demo"
DEFAULT_SEED = 2026
REFERENCE_DATE = dt.date(2026, 1, 1)  # ages are counted to this day, so every run makes the same people
DISTRICT = ("620171", "兰州新区")
STREET = ("620171103", "西岔镇")
OCCUPANCY = 0.92  # share of flats lived in: a new town has empty ones
BATCH = 2000
PAGE_CACHE_KIB = 256 * 1024  # SQLite's page cache while generating
Out = Callable[[str], None]


# Departments (处置部门): code, name, kind.
DEPARTMENTS: tuple[tuple[str, str, Department.Kind], ...] = (
    ("chengguan", "城市管理综合执法局", Department.Kind.ENFORCEMENT),
    ("market", "市场监督管理局", Department.Kind.GOVERNMENT),
    ("police", "西岔派出所", Department.Kind.ENFORCEMENT),
    ("emergency", "应急管理局", Department.Kind.GOVERNMENT),
    ("housing", "住房和城乡建设局", Department.Kind.GOVERNMENT),
    ("civil", "民政局", Department.Kind.GOVERNMENT),
    ("environment", "生态环境局", Department.Kind.GOVERNMENT),
    ("transport", "交通运输局", Department.Kind.GOVERNMENT),
    ("water", "新区供排水公司", Department.Kind.UTILITY),
    ("power", "西岔供电所", Department.Kind.UTILITY),
    ("gas", "新区燃气公司", Department.Kind.UTILITY),
    ("telecom", "通信运营商联合维护中心", Department.Kind.UTILITY),
    ("property", "物业服务中心", Department.Kind.PROPERTY),
)

STATUS_RATES = ((Asset.Status.NORMAL, 97.5), (Asset.Status.DAMAGED, 2.0), (Asset.Status.MISSING, 0.5))
PUBLIC_KINDS = {"社区综合治理中心": "government", "派出所": "government"}  # others: public institutions
SCHOOL_STAFF = {"幼儿园": (25, 60), "小学": (60, 140), "中学": (90, 200), "学校": (80, 180)}


class DemoExists(Exception):
    """The database already holds a demo community, or other data the demo must not mix with."""


def demo_record() -> DemoCommunity | None:
    return DemoCommunity.objects.order_by("pk").first()


def other_data() -> list[str]:
    """What in the database would mix with a new demo: registers, grids, departments, demo usernames."""
    found = [
        str(model._meta.verbose_name)
        for model in (Grid, Person, Household, Building, Organization, Asset, Road, Department)
        if model.objects.exists()
    ]
    taken = sorted(User.objects.filter(username__in=users.USERNAMES).values_list("username", flat=True))
    if taken:
        found.append("用户名 " + ", ".join(taken))
    return found


def generate(
    seed: int, scale: Scale, *, out: Out = lambda _line: None, reference: dt.datetime | None = None
) -> DemoCommunity:
    """Write the demo community. Refuses (DemoExists) when a demo or other data is present. Its year
    of cases ends at `reference` (default: the current hour)."""
    with transaction.atomic(), _page_cache():
        record = demo_record()
        if record is not None:
            raise DemoExists(f"数据库中已有演示社区 (规模 {record.scale:g}, 种子 {record.seed})")
        present = other_data()
        if present:
            raise DemoExists("数据库中已有数据: " + "、".join(present))
        return _Writer(seed, scale, out, reference or cases.default_reference()).run()


@contextlib.contextmanager
def _page_cache() -> Iterator[None]:
    """On SQLite, a page cache to hold what the one transaction writes (100 MB at scale 1): with
    the default 2 MB, dirty index pages spill to the write-ahead log over and over. Restored after."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-PAGE_CACHE_KIB}")  # negative: KiB, taken as needed
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {before}")


def community_name(index: int) -> str:
    stems = names.COMMUNITY_STEMS
    round_ = index // len(stems)
    return stems[index % len(stems)] + (names.chinese_number(round_ + 1) if round_ else "") + "社区"


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder), summing exactly to `total`."""
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    out = [math.floor(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (out[i] - shares[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def _weighted[T](rng: random.Random, items: Iterable[tuple[T, float]]) -> T:
    pairs = list(items)
    return rng.choices([i for i, _ in pairs], weights=[w for _, w in pairs])[0]


def _adult_name(rng: random.Random) -> str:
    gender = rng.choice(("male", "female"))
    return _weighted(rng, names.SURNAMES) + rng.choice(names.GIVEN_NAMES[(gender, 1)])


def _landline(rng: random.Random) -> str:
    return f"0931-8{rng.randrange(10**6):06d}"


class _Writer:
    def __init__(self, seed: int, scale: Scale, out: Out, reference: dt.datetime) -> None:
        self.seed, self.scale, self.out, self.reference = seed, scale, out, reference
        self.started = time.monotonic()
        self.counts: Counter[str] = Counter()
        self.proj = layout.projection()
        self.ids = IdAllocator(REFERENCE_DATE)
        self.namer = layout.Namer()
        self.school_no = [0]
        self.credit_codes: set[str] = set()
        self.enterprise_names: set[str] = set()
        self.tags = dict(Tag.objects.values_list("code", "pk"))
        self.categories = {c.code: c for c in AssetCategory.objects.all()}
        missing = ({figures.PARTY_TAG} - set(self.tags)) | (things.CATEGORIES - set(self.categories))
        if missing:
            raise RuntimeError(f"默认标签/部件类别缺失 (请先 shequ migrate): {sorted(missing)}")

    def say(self, stage: str, **counts: int) -> None:
        detail = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        self.out(f"[{time.monotonic() - self.started:6.1f}s] {stage}" + (f": {detail}" if detail else ""))

    def run(self) -> DemoCommunity:
        clusters = self.scale.clusters
        self.say(f"生成演示社区: 规模 {self.scale}, 种子 {self.seed}, {clusters} 个示范社区单元")
        district = save_grid(code=DISTRICT[0], name=DISTRICT[1], level=Level.DISTRICT, actor=ACTOR)
        self.street = save_grid(code=STREET[0], name=STREET[1], parent=district, actor=ACTOR)
        self.departments = {
            code: create_department(code=code, name=name, kind=kind, actor=ACTOR)
            for code, name, kind in DEPARTMENTS
        }
        for k in range(clusters):
            self.cluster(k, clusters)
        self.counts["accounts"] = users.create_accounts(
            street=self.street,
            first_community=Grid.objects.get(code=f"{STREET[0]}001"),
            departments=self.departments,
            actor=ACTOR,
        )
        self.say("账号", accounts=self.counts["accounts"])
        self.counts.update(
            cases.write_cases(
                seed=self.seed,
                clusters=clusters,
                share=self.scale.share,
                reference=self.reference,
                departments=self.departments,
                actor=ACTOR,
            )
        )
        self.say("案件", cases=self.counts["cases"], case_history=self.counts["case_history"])
        self.counts.update(cameras.write_cameras(seed=self.seed, reference=self.reference, actor=ACTOR))
        self.say("摄像头", cameras=self.counts["video_cameras"], alerts=self.counts["video_alerts"])
        self.counts.update(drones.write_drones(seed=self.seed, reference=self.reference, actor=ACTOR))
        self.counts["departments"] = Department.objects.count()
        record = DemoCommunity.objects.create(
            seed=self.seed,
            scale=self.scale.value,
            seconds=round(time.monotonic() - self.started, 1),
            counts=dict(self.counts),
        )
        audit("demo.generate", actor=ACTOR, target=record, seed=self.seed, scale=self.scale.value)
        self.say("完成", **self.counts)
        return record

    # --- one cluster: the model community ------------------------------------------------------

    def cluster(self, k: int, clusters: int) -> None:
        reset_queries()
        plan = layout.plan_cluster(self.seed, k, clusters)
        grids = self.grids(plan, k)
        self.say(f"单元 {k + 1}/{clusters}: 网格", communities=2, grids=len(grids))
        roads = [
            Road(name=r.name, kind=r.kind, geometry=layout.geojson(self.proj, r.line, 7), source=SOURCE)
            for r in plan.roads
        ]
        bulk.insert(Road, roads)
        self.counts["roads"] += len(roads)

        residents = self.scale.per_cluster(figures.RESIDENTS)
        maker = PeopleMaker(
            self.seed, REFERENCE_DATE, residents, self.scale.per_cluster(figures.PARTY_MEMBERS), ids=self.ids
        )
        sizes = []
        for g, target in zip(plan.grids, apportion(residents, [g.weight for g in plan.grids]), strict=True):
            rng = random.Random(f"{self.seed}:households:{k}:{g.index}")
            grid_sizes: list[int] = []
            while sum(grid_sizes) < target:
                grid_sizes.append(maker.household_size(rng))
            if grid_sizes:
                grid_sizes[-1] -= sum(grid_sizes) - target  # exactly the target: trim the last household
            sizes.append(grid_sizes)
        layout.place_buildings(
            plan, self.seed, [math.ceil(len(s) / OCCUPANCY) for s in sizes], self.namer, self.school_no
        )
        buildings = self.buildings(plan, grids)
        homes, dwellings = self.dwellings(plan, buildings, k)
        self.say(
            f"单元 {k + 1}/{clusters}: 楼栋与房屋",
            roads=len(roads),
            buildings=len(buildings),
            dwellings=dwellings,
        )
        households = self.households(plan, grids, homes, sizes, k)
        self.people(plan, households, maker, k, clusters)
        self.organizations(plan, grids, buildings, k)
        self.assets(plan, grids, k)
        self.say(
            f"单元 {k + 1}/{clusters}: 组织与部件",
            organizations=self.counts["organizations"],
            assets=self.counts["assets"],
        )

    def grids(self, plan: layout.ClusterPlan, k: int) -> list[Grid]:
        communities = []
        for c, polygon in enumerate(plan.communities):
            index = 2 * k + c
            communities.append(
                save_grid(
                    code=f"{STREET[0]}{index + 1:03d}",
                    name=community_name(index),
                    parent=self.street,
                    geometry=layout.geojson(self.proj, polygon),
                    actor=ACTOR,
                )
            )
            department = create_department(
                code=f"committee-{communities[-1].code}",
                name=f"{communities[-1].name}居民委员会",
                kind=Department.Kind.COMMUNITY,
                actor=ACTOR,
            )
            self.departments[department.code] = department
        numbers = [0] * len(communities)
        out = []
        for g in plan.grids:  # community by community, so codes follow the plan's order
            parent = communities[g.community]
            numbers[g.community] += 1
            out.append(
                save_grid(
                    code=f"{parent.code}{numbers[g.community]:02d}",
                    name=f"{parent.name}第{numbers[g.community]}网格",
                    parent=parent,
                    geometry=layout.geojson(self.proj, g.polygon),
                    actor=ACTOR,
                )
            )
        self.counts["communities"] += len(communities)
        self.counts["grids"] += len(out)
        return out

    def lonlat(self, xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
        """Plane metres to WGS-84, rounded to 1e-7° (about a centimetre)."""
        lon, lat = self.proj.inverse(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        return np.round(lon, 7).tolist(), np.round(lat, 7).tolist()

    def buildings(self, plan: layout.ClusterPlan, grids: list[Grid]) -> list[Building]:
        centres = [b.footprint.centroid for b in plan.buildings]
        lons, lats = self.lonlat([c.x for c in centres], [c.y for c in centres])
        numbers: Counter[int] = Counter()
        rows = []
        for b, lon, lat in zip(plan.buildings, lons, lats, strict=True):
            grid = grids[b.grid]
            numbers[b.grid] += 1
            code = f"{grid.code}{numbers[b.grid]:04d}"
            name = b.name
            if b.use == "public":  # one per community: name it after its community
                name = f"{grid.parent.name}{b.name}" if grid.parent else b.name
            rows.append(
                Building(
                    code=code,
                    name=name,
                    address=b.address,
                    use=b.use,
                    floors=b.floors,
                    footprint=layout.geojson(self.proj, b.footprint, 7),
                    lon=lon,
                    lat=lat,
                    grid_id=grid.pk,
                    source=SOURCE,
                    source_id=code,
                )
            )
        bulk.insert(Building, rows)
        self.counts["buildings"] += len(rows)
        return rows

    def dwellings(
        self, plan: layout.ClusterPlan, buildings: list[Building], k: int
    ) -> tuple[list[list[Dwelling]], int]:
        """Flats and shops; returns the flats of each grid, in building order, and the number written."""
        rng = random.Random(f"{self.seed}:dwellings:{k}")
        homes: list[list[Dwelling]] = [[] for _ in plan.grids]
        rows = []
        for b, row in zip(plan.buildings, buildings, strict=True):
            if b.use == "residential":
                sizes = (68.0, 89.0, 98.0, 105.0, 120.0, 138.0)
                for unit in range(1, b.units + 1):
                    for floor in range(1, b.floors + 1):
                        for flat in range(1, b.flats_per_unit_floor + 1):
                            d = Dwelling(
                                building_id=row.pk,
                                unit=str(unit),
                                number=f"{floor}{flat:02d}",
                                area_m2=rng.choice(sizes),
                            )
                            d.building = row
                            rows.append(d)
                            homes[b.grid].append(d)
            for n in range(1, b.shops + 1):
                rows.append(
                    Dwelling(
                        building_id=row.pk,
                        number=f"1{n:02d}",
                        is_shop=True,
                        area_m2=rng.choice((60.0, 90.0, 150.0)),
                    )
                )
        bulk.insert(Dwelling, rows)
        self.counts["dwellings"] += len(rows)
        return homes, len(rows)

    def households(
        self,
        plan: layout.ClusterPlan,
        grids: list[Grid],
        homes: list[list[Dwelling]],
        sizes: list[list[int]],
        k: int,
    ) -> list[tuple[Household, int]]:
        out: list[tuple[Household, int]] = []
        for g in plan.grids:
            rng = random.Random(f"{self.seed}:homes:{k}:{g.index}")
            grid = grids[g.index]
            flats = homes[g.index]
            taken = sorted(rng.sample(range(len(flats)), len(sizes[g.index])))
            for n, (i, size) in enumerate(zip(taken, sizes[g.index], strict=True), start=1):
                flat = flats[i]
                number = f"{grid.code}{n:05d}"
                household = Household(
                    number=number,
                    dwelling_id=flat.pk,
                    address=f"{flat.building.address}{flat.unit}单元{flat.number}室",
                    grid_id=grid.pk,
                    source=SOURCE,
                    source_id=number,
                )
                out.append((household, size))
        bulk.insert(Household, [h for h, _ in out])
        self.counts["households"] += len(out)
        return out

    def people(
        self,
        plan: layout.ClusterPlan,
        households: list[tuple[Household, int]],
        maker: PeopleMaker,
        k: int,
        clusters: int,
    ) -> None:
        rng = random.Random(f"{self.seed}:people:{k}")
        batch: list[tuple[Person, list[str]]] = []
        total = sum(size for _, size in households)
        made = 0
        for household, size in households:
            for draft in maker.household(rng, size):
                checked = check_person(draft.raw)
                if not checked.ok:  # a generator bug, not bad input: stop, the transaction rolls back
                    raise RuntimeError(f"demo person fails the register's checks: {checked.errors}")
                person = person_row(checked.values)
                person.household_id, person.grid_id = household.pk, household.grid_id
                person.source = SOURCE
                batch.append((person, draft.tags))
            if len(batch) >= BATCH:
                made += self.write_people(batch)
                batch = []
                if made // BATCH % 10 == 0:  # a line every ~20,000 people
                    self.say(f"单元 {k + 1}/{clusters}: 居民", residents=made, of=total)
        made += self.write_people(batch)
        self.say(f"单元 {k + 1}/{clusters}: 居民", households=len(households), residents=made)

    def write_people(self, batch: list[tuple[Person, list[str]]]) -> int:
        if not batch:
            return 0
        bulk.insert(Person, [p for p, _ in batch])
        through = Person.tags.through
        links = [through(person_id=p.pk, tag_id=self.tags[t]) for p, tags in batch for t in tags]
        bulk.insert(through, links)
        self.counts["residents"] += len(batch)
        self.counts["person_tags"] += len(links)
        return len(batch)

    def credit_code(self, rng: random.Random, *, school: bool) -> str:
        while True:
            if school:  # a public institution registered by the establishment office (机构编制, 事业单位)
                code = identifiers.make_credit_code(
                    DISTRICT[0],
                    f"{rng.randrange(10**8):08d}",
                    registration_authority="1",
                    organization_type="2",
                )
            else:  # an enterprise registered by market regulation since 2015 (organization code MA...)
                tail = "".join(rng.choice(identifiers.CREDIT_CODE_ALPHABET) for _ in range(6))
                code = identifiers.make_credit_code(DISTRICT[0], "MA" + tail)
            if code not in self.credit_codes:
                self.credit_codes.add(code)
                return code

    def organizations(
        self, plan: layout.ClusterPlan, grids: list[Grid], buildings: list[Building], k: int
    ) -> None:
        rng = random.Random(f"{self.seed}:organizations:{k}")
        rows = []
        for b, building in zip(plan.buildings, buildings, strict=True):
            raw: dict[str, Any] = {
                "legal_representative": _adult_name(rng),
                "phone": _landline(rng),
                "address": building.address,
                "lon": building.lon,
                "lat": building.lat,
            }
            staff = None
            if b.use == "school":
                raw |= {"name": b.name, "kind": "school", "credit_code": self.credit_code(rng, school=True)}
                low, high = next(v for kind, v in SCHOOL_STAFF.items() if b.purpose.endswith(kind))
                staff = rng.randint(low, high)
            elif b.use == "industrial":
                raw |= {"name": self.enterprise_name(rng, b.purpose), "kind": "enterprise"}
                raw["credit_code"] = self.credit_code(rng, school=False)
                low, high = next((lo, hi) for t, lo, hi in names.ENTERPRISE_TRADES if t == b.purpose)
                staff = rng.randint(low, high)
            elif b.use == "public":
                raw |= {"name": building.name, "kind": PUBLIC_KINDS.get(b.purpose, "public_institution")}
                staff = rng.randint(8, 40)
            else:
                continue
            checked = check_organization(raw)
            if not checked.ok:
                raise RuntimeError(f"demo organization fails the register's checks: {checked.errors}")
            rows.append(
                Organization(
                    **checked.values,
                    building_id=building.pk,
                    grid_id=building.grid_id,
                    staff_count=staff,
                    source=SOURCE,
                    source_id=building.code,
                )
            )
        bulk.insert(Organization, rows)
        self.counts["organizations"] += len(rows)

    def enterprise_name(self, rng: random.Random, trade: str) -> str:
        for _ in range(100):
            name = f"兰州新区{rng.choice(names.ENTERPRISE_STEMS)}{trade}有限公司"
            if name not in self.enterprise_names:
                break
        else:
            name = f"兰州新区{trade}{len(self.enterprise_names) + 1}号有限公司"
        self.enterprise_names.add(name)
        return name

    # --- assets --------------------------------------------------------------------------------

    def assets(self, plan: layout.ClusterPlan, grids: list[Grid], k: int) -> None:
        rng = random.Random(f"{self.seed}:assets:{k}")
        names_ = {code: c.name for code, c in self.categories.items()}
        placed = things.plan_assets(rng, plan, self.scale, names_)
        lons, lats = self.lonlat([p.x for p in placed], [p.y for p in placed])
        index = GridIndex((g.pk, shape(g.geometry)) for g in grids)  # as grids.index builds it, in code order
        found = index.locate_many(lons, lats)
        code_of = {g.pk: g.code for g in grids}
        numbers: Counter[tuple[int, str]] = Counter()
        rows = []
        for p, lon, lat, grid_id in zip(placed, lons, lats, found, strict=True):
            if grid_id is None:  # cannot happen: points are turned into the cluster; keep the data honest
                raise RuntimeError(f"demo asset {p.name} at {lon}, {lat} is outside every grid")
            numbers[grid_id, p.category] += 1
            rows.append(
                Asset(
                    code=f"{code_of[grid_id]}{p.category}{numbers[grid_id, p.category]:04d}",
                    name=p.name[:100],
                    category=self.categories[p.category],
                    status=_weighted(rng, STATUS_RATES),
                    owner=self.departments[things.OWNERS[p.category]],
                    address=p.address,
                    lon=lon,
                    lat=lat,
                    grid_id=grid_id,
                    source=SOURCE,
                )
            )
        bulk.insert(Asset, rows)
        self.counts["assets"] += len(rows)
        self.counts["cameras"] += sum(1 for p in placed if p.category == figures.CAMERA_CATEGORY)
