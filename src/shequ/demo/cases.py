"""A year of cases for the demo community: what a command center's records look like after a year of
work, ending at the moment of generation, with the current backlog still open.

About 30 cases a day per model community (10,950 a year at scale 1), more on working days and in
summer, fewer in winter. Sources as a district's records show them: grid workers' patrols, cameras,
drones, sensors and safety inspections (主动发现, about half) and residents, the 12345 hotline and
referrals from above. Drone patrols, flying by day, find more than a quarter of the problems found
proactively (rubbish, street trading, spoil, building without a permit: what is seen from above).
Categories are weighted (rubbish, street trading, parking, small ads, manhole covers, street lamps,
illegal building, noise, ...) and placed where such problems are: a camera's
case a few dozen metres from the camera, a manhole cover's at a manhole cover asset, a noise
complaint at a building, street trading on a road.

Each case runs the state machine (`cases.services.machine.TRANSITIONS`) step by step, as the
services would move it: reported; filed and dispatched at once where a routing rule says so, else
by the command center; accepted, handled, verified, closed, called back. Some are rejected or merged
as duplicates, handled on the spot by a grid worker, returned and dispatched again, sent back for
rework, given (or refused) an extension, handled late and supervised (督办: the deadline sweep's
levels, sometimes a leader's), or reopened after an unhappy callback. Times follow the category's
stage time limits on the working-day calendar (`services.deadlines`); most stages end well inside
their limit, a few run over. Whatever would happen after the reference time has not happened yet,
so the newest cases are open, in every open state, warned or overdue as the sweep would mark them.

The history is written in bulk to the same shape the services produce (states, stages, due dates,
milestones, counters, routing rule, history lines with their from → to states, extensions,
supervisions): plain INSERTs (`bulk.insert`) with ids allocated here, as `loaddata` does, because
calling the services per case (or even Django's bulk_create) would take minutes for 11,000 cases and
70,000 transitions. Left out: an audit entry and a domain event per transition (one `demo.cases` audit
entry stands for them; nothing needs to hear of a year that has already happened) and photos.

Determinism: the same seed, scale and reference time give the same cases. The reference defaults
to the current hour, so that the demo's newest cases are recent; tests pass a fixed one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db import models
from django.utils import timezone
from shapely.geometry import shape

from shequ.accounts.models import Department, User
from shequ.cases.models import (
    Case,
    CaseState,
    Category,
    Extension,
    HistoryEntry,
    LimitUnit,
    RoutingRule,
    Source,
    Stage,
    Supervision,
    closed_on_time,
)
from shequ.cases.services.deadlines import (
    MAX_LEVEL,
    SYSTEM,
    Limits,
    add_limit,
    limit_minutes,
    supervision_at,
    warning_at,
)
from shequ.cases.services.intake import INTAKE, ROUTING
from shequ.cases.services.machine import STAGE_OF, TRANSITIONS, Action
from shequ.core import crypto
from shequ.core.audit import audit
from shequ.core.calendar import working_calendar
from shequ.core.geo import GridIndex, offset
from shequ.core.workdays import WorkCalendar
from shequ.demo import bulk, figures, names
from shequ.grids.models import Grid, Level
from shequ.registry.models import Asset, Building, Person
from shequ.registry.services import PHONE_KIND

S = CaseState
DAYS = 365  # figures.CASES of them in a model community's year: 30 a day, a given day 25–40
MIN_BACKLOG = 8  # per model community: at least so many open cases in each open state (3 at least)
NIGHT = (dt.time(22, 0), dt.time(6, 0))
OPEN = (S.REPORTED, S.FILED, S.DISPATCHED, S.IN_PROGRESS, S.HANDLED)
SUPERVISABLE = TRANSITIONS[Action.SUPERVISE][0]

G, C, D, SE, IN, R, H, F = (
    Source.GRID_WORKER,
    Source.CAMERA,
    Source.DRONE,
    Source.SENSOR,
    Source.INSPECTION,
    Source.RESIDENT,
    Source.HOTLINE,
    Source.REFERRAL,
)
STREET_SOURCES = {G: 10, C: 12, D: 85, R: 12, H: 12, F: 2}
PATROL_SOURCES = {G: 50, R: 20, H: 20, F: 3}
HOME_SOURCES = {R: 45, H: 45, G: 10}
FACILITY_SOURCES = {G: 45, SE: 20, R: 15, H: 15}
SAFETY_SOURCES = {IN: 40, G: 35, R: 10, H: 10}


@dataclass(frozen=True)
class Kind:
    """A kind of case the demo makes: its category, how often, from where, at what, who handles it."""

    kind: str  # Category.Kind
    code: str
    weight: float
    sources: Mapping[Source, float]
    where: str  # "road", "building", or "asset:<asset category code>"
    department: str  # the routing rule's department code ("committee": the community's residents' committee)
    issues: tuple[str, ...]
    months: tuple[int, ...] = ()  # only in these months (empty: all year)
    summer: float = 1.0  # weight in June–August relative to the rest of the year


E, K = Category.Kind.EVENT, Category.Kind.COMPONENT
KINDS: tuple[Kind, ...] = (
    Kind(E, "0102", 120, STREET_SOURCES, "road", "chengguan",
         ("有暴露垃圾散落, 约 {n} 袋未清运", "路边堆放生活垃圾, 有异味", "垃圾桶外散落垃圾"), summer=1.3),
    Kind(E, "0103", 35, {G: 15, D: 60, R: 10, H: 15}, "road", "chengguan",
         ("积存建筑垃圾渣土约 {n} 立方米", "渣土堆放多日未清运")),
    Kind(E, "0104", 35, STREET_SOURCES, "road", "chengguan", ("路面有大片油污和泥沙", "人行道污物未清扫")),
    Kind(E, "0107", 45, {G: 40, R: 30, H: 25, C: 5}, "building", "property",
         ("楼道内堆放杂物, 影响通行", "单元门口乱堆旧家具")),
    Kind(E, "0101", 22, {G: 30, D: 35, R: 20, H: 15}, "building", "chengguan",
         ("楼顶私自搭建彩钢房", "一楼住户私自圈占绿地搭建棚屋"), summer=1.2),
    Kind(E, "0302", 8, {G: 25, D: 50, H: 15, F: 10}, "building", "housing",
         ("未经许可加建一层", "院内新建砖混结构房屋, 无规划许可")),
    Kind(E, "0109", 12, HOME_SOURCES, "building", "environment", ("底商饭店油烟直排, 影响楼上住户",)),
    Kind(E, "0110", 35, {R: 45, H: 50, G: 5}, "building", "environment",
         ("商户外放音响噪声扰民", "广场舞音响声音过大", "夜间有人大声喧哗"), summer=1.4),
    Kind(E, "0111", 6, {G: 30, C: 25, D: 25, H: 20}, "road", "chengguan", ("路边有人焚烧垃圾树叶",)),
    Kind(E, "0112", 4, PATROL_SOURCES, "road", "chengguan", ("路面有动物尸体",)),
    Kind(E, "0201", 45, {G: 70, R: 10, H: 10, C: 10}, "building", "chengguan",
         ("单元门及墙面张贴小广告", "电线杆上喷涂办证小广告")),
    Kind(E, "0203", 12, STREET_SOURCES, "road", "chengguan", ("商户在人行道摆放广告展板",)),
    Kind(E, "0301", 10, {R: 40, H: 50, G: 10}, "building", "housing",
         ("工地夜间施工噪声扰民", "装修施工午休时间电钻噪声大")),
    Kind(E, "0303", 8, {G: 35, C: 15, D: 30, H: 20}, "road", "transport", ("施工围挡超范围占用车行道",)),
    Kind(E, "0304", 8, {G: 25, D: 45, C: 10, H: 20}, "road", "chengguan", ("施工废弃料随意倾倒在路边",)),
    Kind(E, "0305", 22, {G: 50, R: 20, H: 25, F: 5}, "road", "transport",
         ("人行道地砖松动破损", "车行道出现坑槽, 约 {n} 平方米")),
    Kind(E, "0402", 8, {G: 30, SE: 25, C: 15, H: 30}, "road", "water", ("降雨后路面积水约 {n}0 厘米",),
         months=(5, 6, 7, 8, 9)),
    Kind(E, "0403", 6, {G: 40, H: 40, R: 20}, "road", "chengguan", ("大风刮断树枝横在人行道上",)),
    Kind(E, "0404", 28, SAFETY_SOURCES, "building", "emergency",
         ("楼道内电动车充电, 飞线充电", "消防通道堆放易燃杂物")),
    Kind(E, "0405", 3, {SE: 40, H: 40, R: 20}, "building", "gas", ("住户报告楼道内有燃气异味",)),
    Kind(E, "0406", 1, {G: 40, H: 60}, "road", "transport", ("路面出现塌陷空洞",)),
    Kind(E, "0407", 5, {G: 30, H: 50, R: 20}, "road", "water", ("供水管道破裂, 路面冒水",)),
    Kind(E, "0501", 70, STREET_SOURCES, "road", "chengguan",
         ("人行道上摆摊卖水果", "早市摊点占用人行道"), summer=1.3),
    Kind(E, "0502", 55, {C: 25, D: 45, G: 10, R: 8, H: 12}, "road", "chengguan",
         ("流动商贩推车售卖, 影响通行", "三轮车游商沿路叫卖"), summer=1.4),
    Kind(E, "0503", 35, {C: 35, G: 45, H: 20}, "building", "chengguan", ("底商店外摆放商品和货架",)),
    Kind(E, "0504", 80, {C: 40, D: 25, G: 10, R: 10, H: 15}, "road", "police",
         ("机动车停放在人行道上", "车辆违停堵塞小区出入口")),
    Kind(E, "0505", 45, {C: 25, D: 30, G: 30, R: 5, H: 10}, "road", "chengguan",
         ("共享单车乱停放, 堵塞盲道",)),
    Kind(E, "0506", 22, {IN: 30, G: 30, C: 15, R: 10, H: 15}, "building", "emergency",
         ("私家车占用消防车通道", "消防通道被杂物堵塞")),
    Kind(E, "0507", 12, {C: 45, G: 25, H: 30}, "road", "chengguan", ("夜间露天烧烤, 油烟扰民",),
         months=(5, 6, 7, 8, 9)),
    Kind(E, "0508", 15, {G: 60, C: 10, R: 15, H: 15}, "building", "chengguan", ("在行道树间拉绳晾晒被褥",)),
    Kind(E, "0601", 25, {R: 35, H: 35, G: 30}, "building", "committee",
         ("楼上楼下因漏水发生纠纷", "邻居因停车位发生争执")),
    Kind(E, "0602", 4, {G: 50, C: 20, H: 30}, "road", "civil", ("流浪人员在公交站滞留",)),
    Kind(E, "0603", 12, HOME_SOURCES, "building", "police", ("犬只未拴绳, 吓到儿童", "宠物粪便未清理")),
    Kind(E, "0604", 12, SAFETY_SOURCES, "building", "emergency", ("外墙瓷砖松动, 有坠落风险",)),
    Kind(E, "0605", 15, HOME_SOURCES, "building", "committee", ("居民反映小区公共设施维护问题",)),
    Kind(K, "0118", 50, {G: 50, R: 20, H: 25, F: 5}, "asset:0118", "chengguan",
         ("路灯不亮", "路灯白天常亮", "路灯灯杆倾斜")),
    Kind(K, "0101", 12, FACILITY_SOURCES, "asset:0101", "water", ("上水井盖破损", "井盖松动有响声")),
    Kind(K, "0102", 12, FACILITY_SOURCES, "asset:0102", "water", ("污水井盖缺失", "污水井冒溢")),
    Kind(K, "0103", 12, FACILITY_SOURCES, "asset:0103", "water", ("雨水井盖移位",)),
    Kind(K, "0104", 8, FACILITY_SOURCES, "asset:0104", "water", ("雨水箅子堵塞", "雨水箅子缺失")),
    Kind(K, "0105", 6, FACILITY_SOURCES, "asset:0105", "power", ("电力井盖破损",)),
    Kind(K, "0107", 6, FACILITY_SOURCES, "asset:0107", "telecom", ("通讯井盖缺失",)),
    Kind(K, "0111", 4, FACILITY_SOURCES, "asset:0111", "gas", ("燃气井盖破损",)),
    Kind(K, "0115", 8, {IN: 40, G: 30, SE: 30}, "asset:0115", "emergency", ("消防栓漏水", "消防栓被遮挡")),
    Kind(K, "0305", 25, {G: 45, SE: 30, R: 15, H: 10}, "asset:0305", "chengguan",
         ("垃圾箱已满未清运", "垃圾箱破损")),
    Kind(K, "0203", 6, {G: 60, R: 20, H: 20}, "asset:0203", "transport", ("公交站亭玻璃破碎",)),
    Kind(K, "0209", 6, {G: 70, H: 30}, "asset:0209", "transport", ("交通标志牌倾斜",)),
    Kind(K, "0214", 4, {G: 80, H: 20}, "asset:0214", "transport", ("路名牌字迹脱落",)),
    Kind(K, "0301", 6, {G: 40, R: 30, H: 30}, "asset:0301", "chengguan", ("公共厕所无人保洁, 有异味",)),
    Kind(K, "0406", 5, {G: 70, R: 15, H: 15}, "asset:0406", "chengguan", ("街头座椅损坏",)),
    Kind(K, "0501", 4, {G: 80, H: 20}, "asset:0501", "civil", ("宣传栏玻璃破损",)),
    Kind(K, "0504", 6, {G: 50, R: 30, H: 20}, "asset:0504", "civil", ("健身器材损坏, 有安全隐患",)),
    Kind(K, "0121", 6, {SE: 70, G: 30}, "asset:0121", "police", ("摄像头离线, 无视频信号",)),
)  # fmt: skip

# Night-time public order goes to the police station (派出所), by rules with a time window.
NIGHT_POLICE = frozenset({"0110", "0301", "0507"})
# Rules that file and dispatch by themselves: a facility with one owner, nothing to weigh.
AUTO = frozenset({"0101", "0102", "0103", "0104", "0105", "0107", "0111", "0118", "0121", "0305"})
# Small things a grid worker sets right there and then (自行处置).
ON_THE_SPOT = frozenset({"0102", "0104", "0107", "0201", "0505", "0508"})
# Where a case lands by mistake before it is returned and dispatched right.
WRONG_GUESSES = ("chengguan", "housing", "environment", "transport", "civil")
# Sources with no one to call back.
NO_CALLBACK = frozenset({G, C, D, SE, IN})
MACHINES = {
    C: "视频智能分析",
    D: "无人机巡查",
    SE: "物联感知设备",
    IN: "安全检查",
    H: "12345 热线",
    F: "上级交办",
}
# When a report arrives, by hour of the local day (a city's day: quiet at night, busy mid-morning).
HOURS = (2, 1, 1, 1, 1, 2, 4, 7, 10, 11, 11, 9, 7, 8, 10, 10, 9, 8, 8, 8, 7, 6, 4, 3)


class Row(SimpleNamespace):
    """A row to insert, its attributes named as the model's columns (`category_id`, ...)."""


@dataclass(frozen=True)
class Actor:
    user: User | None
    name: str


@dataclass(frozen=True)
class Anchor:
    lon: float
    lat: float
    grid_id: int
    address: str


@dataclass
class Plan:
    """One case as the services would have left it at the reference time."""

    index: int
    case: Row
    category: Category
    history: list[Row] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    supervisions: list[Supervision] = field(default_factory=list)
    held: bool = False
    master: int | None = None  # the index of the case a merged report joined
    reporter_pk: int | None = None  # the resident who reported it (name and phone filled in at the end)


class _Later(Exception):
    """The next step would come after the reference time, or the case is held in its state."""


@dataclass
class Context:
    seed: int
    reference: dt.datetime
    calendar: WorkCalendar
    limits: Limits
    categories: dict[tuple[str, str], Category]
    grid_codes: dict[int, str]
    parents: dict[int, int]  # unit grid pk → its community's grid pk
    rules: dict[str, RoutingRule]
    departments: dict[str, Department]
    operators: list[Actor]
    leader: Actor
    handlers: dict[int, Actor]  # department pk → who acts for it
    workers: dict[int, Actor]  # unit grid pk → its grid worker
    resident: User | None
    resident_grid: int | None

    def due(self, category: Category, stage: str, start: dt.datetime) -> dt.datetime:
        amount, unit = self.limits.get(category.pk, stage)
        return add_limit(start, amount, unit, self.calendar)

    def minutes(self, category: Category, stage: str) -> int:
        return limit_minutes(*self.limits.get(category.pk, stage), self.calendar)


def write_cases(
    *,
    seed: int,
    clusters: int,
    share: float,
    reference: dt.datetime,
    departments: dict[str, Department],
    actor: Any,
) -> dict[str, int]:
    """Write the routing rules and a year of cases up to `reference`; returns counts for the demo's
    record. Run inside the generator's transaction, after the registers and the accounts."""
    context = _context(seed, reference, departments)
    places = _Places(seed)
    total = max(1, round(figures.CASES * share)) * clusters  # as figures.Scale.expected() counts them
    moments = _moments(seed, reference, context.calendar, total)
    maker = _Maker(context, places, moments)
    plans = [maker.plan(i) for i in range(len(moments))]
    _fill_backlog(maker, plans, max(3, round(MIN_BACKLOG * share * clusters)))
    counts = _save(plans)
    counts["routing_rules"] = len(context.rules)
    counts["rollup_rows"] = _rebuild_rollups()
    audit("demo.cases", actor=actor, seed=seed, reference=reference.isoformat(), counts=counts)
    return counts


def default_reference() -> dt.datetime:
    """The current hour: the demo's newest cases are from the last hour."""
    return timezone.now().replace(minute=0, second=0, microsecond=0)


# --- the set-up: routing rules, who acts, where things happen ------------------------------------


def _context(seed: int, reference: dt.datetime, departments: dict[str, Department]) -> Context:
    categories = {(c.kind, c.code): c for c in Category.objects.filter(parent__isnull=False)}
    missing = sorted(f"{k.kind} {k.code}" for k in KINDS if (k.kind, k.code) not in categories)
    if missing:
        raise RuntimeError(f"默认案件类别缺失 (请先 shequ migrate): {missing}")
    grids = list(
        Grid.objects.filter(level=Level.GRID).order_by("code").values_list("pk", "code", "parent_id")
    )
    users = {
        u.username: u
        for u in User.objects.filter(username__in=["operator", "gridworker", "handler", "leader", "resident"])
    }
    rng = random.Random(f"{seed}:case-actors")
    operators = [_actor(users.get("operator"))] if "operator" in users else []
    operators += [Actor(None, f"指挥中心坐席 {_person_name(rng)}") for _ in range(3)]
    handler = users.get("handler")
    handlers = {
        d.pk: _actor(handler)
        if handler is not None and handler.department_id == d.pk
        else Actor(None, f"{d.name} {_person_name(rng)}")
        for _, d in sorted(departments.items())
    }
    workers: dict[int, Actor] = {}
    if (worker := users.get("gridworker")) is not None:
        for grid_id in worker.assignments.values_list("grid_id", flat=True):
            workers[grid_id] = _actor(worker)
    for pk, _, _ in grids:
        workers.setdefault(pk, Actor(None, f"网格员 {_person_name(rng)}"))
    resident = users.get("resident")
    resident_grid = None
    if resident is not None and resident.person_id:
        resident_grid = Person.objects.filter(pk=resident.person_id).values_list("grid_id", flat=True).first()
    return Context(
        seed=seed,
        reference=reference,
        calendar=working_calendar(),
        limits=Limits(),
        categories=categories,
        grid_codes={pk: code for pk, code, _ in grids},
        parents={pk: parent for pk, _, parent in grids if parent is not None},
        rules=_routing_rules(categories, departments),
        departments=departments,
        operators=operators,
        leader=_actor(users["leader"]) if "leader" in users else Actor(None, "街道领导"),
        handlers=handlers,
        workers=workers,
        resident=resident,
        resident_grid=resident_grid,
    )


def _actor(user: User | None) -> Actor:
    assert user is not None
    return Actor(user, user.display_name or user.get_username())


def _person_name(rng: random.Random) -> str:
    surname = rng.choices([s for s, _ in names.SURNAMES], weights=[w for _, w in names.SURNAMES])[0]
    return surname + rng.choice(names.GIVEN_NAMES[(rng.choice(("male", "female")), 1)])


def _routing_rules(
    categories: dict[tuple[str, str], Category], departments: dict[str, Department]
) -> dict[str, RoutingRule]:
    """The demo's routing rules, as an administrator would enter them: each category to its
    department (facilities with one owner filed and dispatched automatically), neighbours' matters to
    each community's residents' committee, and night-time noise and street trading to the police.
    Keyed "kind:code", "kind:code:night" and "kind:code:<community grid pk>"."""
    rules: dict[str, RoutingRule] = {}
    communities = dict(Grid.objects.filter(level=Level.COMMUNITY).values_list("code", "pk"))
    for kind in KINDS:
        category = categories[kind.kind, kind.code]
        key = f"{kind.kind}:{kind.code}"
        if kind.department == "committee":
            for code, grid_id in sorted(communities.items()):
                if (committee := departments.get(f"committee-{code}")) is not None:
                    rules[f"{key}:{grid_id}"] = RoutingRule(
                        name=f"{category.name} → {committee.name}",
                        category=category,
                        grid_id=grid_id,
                        department=committee,
                    )
            continue
        department = departments[kind.department]
        auto = kind.kind == K and kind.code in AUTO
        rules[key] = RoutingRule(
            name=f"{category.name} → {department.name}",
            category=category,
            department=department,
            auto_file=auto,
            auto_dispatch=auto,
        )
        if kind.kind == E and kind.code in NIGHT_POLICE:
            police = departments["police"]
            rules[f"{key}:night"] = RoutingRule(
                name=f"{category.name} (夜间) → {police.name}",
                category=category,
                department=police,
                starts_at=NIGHT[0],
                ends_at=NIGHT[1],
            )
    RoutingRule.objects.bulk_create(rules.values())
    return rules


class _Places:
    """Where cases happen (buildings, assets by category, cameras) and who lives there to report."""

    def __init__(self, seed: int) -> None:
        self.buildings = [
            Anchor(lon, lat, grid, name if address == name else f"{address}{name}")
            for lon, lat, grid, address, name in Building.objects.order_by("code").values_list(
                "lon", "lat", "grid_id", "address", "name"
            )
            if lon is not None and lat is not None and grid is not None
        ]
        self.assets: dict[str, list[Anchor]] = {}
        rows = Asset.objects.order_by("code").values_list(
            "category__code", "lon", "lat", "grid_id", "address"
        )
        for code, lon, lat, grid, address in rows:
            if lon is not None and lat is not None and grid is not None:
                self.assets.setdefault(code, []).append(Anchor(lon, lat, grid, address))
        self.cameras = self.assets.get("0121", [])
        self.roads = [a for code, items in sorted(self.assets.items()) if code != "0121" for a in items]
        if not self.roads or not self.buildings:
            raise RuntimeError("演示社区还没有楼栋和部件, 无法生成案件")
        self.index = GridIndex(
            (pk, shape(geometry))
            for pk, geometry in Grid.objects.filter(level=Level.GRID, is_active=True)
            .order_by("code")
            .values_list("pk", "geometry")
        )
        self.people: dict[int, list[int]] = {}
        for pk, grid in Person.objects.exclude(phone_hash="").order_by("pk").values_list("pk", "grid_id"):
            if grid is not None:
                self.people.setdefault(grid, []).append(pk)

    def pick(self, rng: random.Random, kind: Kind, source: Source) -> tuple[Anchor, float, float]:
        """An anchor and a point near it: (anchor, lon, lat)."""
        if source == C and self.cameras:
            anchor, spread = rng.choice(self.cameras), 35.0  # within the camera's sight
        elif kind.where.startswith("asset:"):
            anchor, spread = rng.choice(self.assets.get(kind.where.removeprefix("asset:")) or self.roads), 1.0
        elif kind.where == "building":
            anchor, spread = rng.choice(self.buildings), 6.0
        else:
            anchor, spread = rng.choice(self.roads), 12.0
        lon, lat = offset(anchor.lon, anchor.lat, rng.uniform(-spread, spread), rng.uniform(-spread, spread))
        return anchor, round(lon, 7), round(lat, 7)


def _moments(seed: int, reference: dt.datetime, calendar: WorkCalendar, total: int) -> list[dt.datetime]:
    """When each case is reported, oldest first: `total` spread over the DAYS 24-hour windows before
    `reference`, more on working days and in summer, by the hour profile within a day."""
    local = reference.astimezone(calendar.tz)
    weights = []
    for d in range(DAYS):
        day = (local - dt.timedelta(days=DAYS - d - 1)).date()
        season = 1.0 + 0.2 * math.cos((day.timetuple().tm_yday - 200) / 365 * 2 * math.pi)
        weights.append(season * (1.15 if calendar.is_working_day(day) else 0.8))
    rng = random.Random(f"{seed}:case-moments")
    moments = []
    for d, count in enumerate(_apportion(total, weights)):
        start = local - dt.timedelta(days=DAYS - d)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(count):
            # A local time of day from the profile, in this window (each time of day occurs once in it).
            minute = rng.choices(range(24), weights=HOURS)[0] * 60 + rng.randrange(60)
            at = midnight + dt.timedelta(minutes=minute, seconds=rng.randrange(60))
            moments.append(at if at > start else at + dt.timedelta(days=1))
    moments.sort()
    return moments


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    out = [math.floor(s) for s in shares]
    for i in sorted(range(len(weights)), key=lambda i: (out[i] - shares[i], i))[: total - sum(out)]:
        out[i] += 1
    return out


def _numbers(moments: Sequence[dt.datetime], calendar: WorkCalendar) -> list[str]:
    """Case numbers as intake gives them: the Asia/Shanghai date and the day's sequence."""
    seen: dict[str, int] = {}
    out = []
    for at in moments:
        day = at.astimezone(calendar.tz).strftime("%Y%m%d")
        seen[day] = seen.get(day, 0) + 1
        out.append(f"{day}{seen[day]:05d}")
    return out


# --- one case ------------------------------------------------------------------------------------


class _Maker:
    def __init__(self, context: Context, places: _Places, moments: list[dt.datetime]) -> None:
        self.ctx, self.places, self.moments = context, places, moments
        self.numbers = _numbers(moments, context.calendar)
        defaults = {f.attname: f.get_default() for f in Case._meta.concrete_fields}
        self.defaults = defaults | {"duplicate_of_id": None, "created_by_id": None}
        self.points = self._points()
        self.recent: dict[int, list[Plan]] = {}  # open cases a duplicate may join, by category pk
        self.resident_reports = 0

    def _draft(self, index: int) -> tuple[Kind, Source, Anchor, float, float]:
        rng = random.Random(f"{self.ctx.seed}:case-place:{index}")
        local = self.moments[index].astimezone(self.ctx.calendar.tz)
        kind = self._kind(rng, local)
        source = self._source(rng, kind, local)
        return (kind, source, *self.places.pick(rng, kind, source))

    def _points(self) -> list[tuple[Kind, Source, Anchor, float, float, int]]:
        """Every case's kind, source and place, with its grid (one vectorised lookup for all)."""
        drafts = [self._draft(i) for i in range(len(self.moments))]
        found = self.places.index.locate_many([d[3] for d in drafts], [d[4] for d in drafts])
        out = []
        for (kind, source, anchor, lon, lat), grid in zip(drafts, found, strict=True):
            if grid is None:  # just over the community's edge: the anchor itself, which is inside
                lon, lat, grid = anchor.lon, anchor.lat, anchor.grid_id
            out.append((kind, source, anchor, lon, lat, int(grid)))
        return out

    def plan(self, index: int, hold: CaseState | None = None) -> Plan:
        ctx = self.ctx
        at = self.moments[index]
        kind, source, anchor, lon, lat, grid_id = self.points[index]
        rng = random.Random(f"{ctx.seed}:case:{index}")
        category = ctx.categories[kind.kind, kind.code]
        issue = rng.choice(kind.issues).format(n=rng.randint(2, 9))
        case = Row(**self.defaults)
        case.id = None
        case.number = self.numbers[index]
        case.source = source.value
        case.category_id = category.pk
        case.title = f"{anchor.address}{category.name}"[:100]
        case.description = f"{anchor.address}{issue}。"
        case.urgency = category.urgency
        case.lon, case.lat, case.address, case.grid_id = lon, lat, anchor.address[:200], grid_id
        case.created_at = case.updated_at = at
        plan = Plan(index, case, category)
        self._reporter(rng, plan, source)
        track = _Track(ctx, plan, hold)
        with contextlib.suppress(_Later):
            self._run(track, rng, kind, source, at)
        track.finish()
        return plan

    def _kind(self, rng: random.Random, local: dt.datetime) -> Kind:
        kinds = [k for k in KINDS if not k.months or local.month in k.months]
        weights = [k.weight * (k.summer if local.month in (6, 7, 8) else 1.0) for k in kinds]
        return rng.choices(kinds, weights=weights)[0]

    def _source(self, rng: random.Random, kind: Kind, local: dt.datetime) -> Source:
        on_duty = self.ctx.calendar.is_working_day(local.date()) and 8 <= local.hour < 18
        weights = {}
        for source, weight in kind.sources.items():
            if source in (G, IN, F) and not on_duty:
                weight *= 0.05 if source == G and 7 <= local.hour < 21 else 0.0  # few rounds off duty
            elif source == D and not 9 <= local.hour < 17:
                weight = 0.0  # drones fly by day
            weights[source] = weight
        if not any(weights.values()):
            weights = {R: 1.0, H: 1.0}
        return rng.choices(list(weights), weights=list(weights.values()))[0]

    def _reporter(self, rng: random.Random, plan: Plan, source: Source) -> None:
        case, ctx = plan.case, self.ctx
        if source == G:
            worker = ctx.workers[case.grid_id]
            case.reporter_id = case.created_by_id = worker.user.pk if worker.user else None
            case.reporter_name = worker.name.removeprefix("网格员 ")
        elif source == F:
            case.reporter_name = "新区 12345 政务服务热线转办"
        elif source in (R, H):
            mine = ctx.resident is not None and case.grid_id == ctx.resident_grid and source == R
            if mine and rng.random() < 0.25 and self.resident_reports < 24:
                assert ctx.resident is not None
                self.resident_reports += 1  # the demo resident's own reports, for their pages
                case.reporter_id = case.created_by_id = ctx.resident.pk
                case.reporter_name = ctx.resident.display_name
            elif people := self.places.people.get(case.grid_id):
                plan.reporter_pk = rng.choice(people)
                case.reporter_confidential = source == H and rng.random() < 0.05

    def _reporting_actor(self, plan: Plan, source: Source) -> Actor:
        case = plan.case
        if source == G:
            return self.ctx.workers[case.grid_id]
        if case.reporter_id is not None and self.ctx.resident is not None:
            return _actor(self.ctx.resident)
        return Actor(None, MACHINES.get(source, "居民"))

    # The case's life, step by step; `track` stops it (raises _Later) at the reference time.

    def _run(self, track: _Track, rng: random.Random, kind: Kind, source: Source, at: dt.datetime) -> None:
        ctx, case, category = self.ctx, track.case, track.plan.category
        urgent = case.urgency != "normal"
        reporter = self._reporting_actor(track.plan, source)
        rule = self._rule(kind, case, at)
        master = self._master(track.plan, at) if source in (R, H) and rng.random() < 0.06 else None
        track.report(at, reporter, rule, master)
        if master is not None and category.merge_duplicates:
            track.merge(at, Actor(None, INTAKE), master, f"与 {master.case.number} 重复, 自动合并")
            return
        operator = rng.choice(ctx.operators)
        if master is not None:  # offered as a duplicate: the operator merges it
            later = track.within(at, Stage.FILE, rng, 0.3)
            track.merge(later, operator, master, f"与 {master.case.number} 重复, 合并")
            return
        if source == G and kind.code in ON_THE_SPOT and rng.random() < 0.3:
            track.on_the_spot(at, reporter)
            return
        if source in (R, H) and rng.random() < 0.05:
            code = rng.choice(("out_of_scope", "invalid"))
            why = (
                "不属于受理范围: 已告知来电人向物业反映"
                if code == "out_of_scope"
                else "信息无效: 现场核实无此问题"
            )
            track.step(Action.REJECT, track.within(at, Stage.FILE, rng, 0.3), operator, why, reason_code=code)
            return
        auto = rule is not None and rule.auto_file
        self.recent.setdefault(category.pk, []).append(track.plan)
        if auto:
            assert rule is not None
            track.step(Action.FILE, at, Actor(None, ROUTING), f"派遣规则“{rule.name}”自动立案", rule=rule.pk)
        else:
            filed = track.within(at, Stage.FILE, rng, 0.25, late=0.01)
            track.step(Action.FILE, filed, operator, "", category=category.pk)
        right = rule.department if rule is not None else ctx.departments["chengguan"]
        first = right
        if rng.random() < 0.05:  # sent to the wrong department first: it will give the case back
            others = [ctx.departments[c] for c in WRONG_GUESSES if ctx.departments[c] != right]
            first = rng.choice(others)
        when = case.filed_at
        if auto and rule is not None and rule.auto_dispatch and first == right:
            reason = f"派遣规则“{rule.name}”自动派遣至{right.name}"
            track.dispatch(when, Actor(None, ROUTING), right, reason, rule=rule.pk)
        else:
            when = track.within(when, Stage.DISPATCH, rng, 0.25, late=0.01)
            track.dispatch(when, operator, first, "")
        if first != right:
            handler = ctx.handlers[first.pk]
            back = track.within(when, Stage.ACCEPT, rng, 0.3)
            if rng.random() < 0.5:
                track.accept(back, handler)
                back = track.within(back, Stage.ACCEPT, rng, 0.3)
            track.return_case(back, handler, "非本部门职责, 请改派")
            when = track.within(back, Stage.DISPATCH, rng, 0.3)
            track.dispatch(when, operator, right, "")
        self._handle(track, rng, right, when, urgent, operator)

    def _handle(
        self,
        track: _Track,
        rng: random.Random,
        department: Department,
        dispatched: dt.datetime,
        urgent: bool,
        operator: Actor,
    ) -> None:
        ctx, case, category = self.ctx, track.case, track.plan.category
        handler = ctx.handlers[department.pk]
        accepted = track.within(dispatched, Stage.ACCEPT, rng, 0.25, late=0.015)
        track.accept(accepted, handler)
        limit = ctx.minutes(category, Stage.HANDLE)
        # Most finish inside the limit, leaving time to verify; about one in twenty runs over it.
        late = rng.random() < 0.045
        share = rng.uniform(1.05, 2.5) if late else 0.03 + 0.82 * rng.betavariate(2.2, 2.5)
        done = track.after(accepted, max(5, round(limit * share)), urgent)
        if limit >= 2 * ctx.calendar.minutes_per_day and rng.random() < (0.5 if late else 0.03):
            ask = track.after(accepted, round(limit * rng.uniform(0.4, 0.8)), urgent)
            done = self._extension(track, rng, ask, operator, handler, late)
        if late and rng.random() < 0.3 and case.handle_due_at is not None:
            pressed = track.after(case.handle_due_at, 60, False)
            if pressed < done:  # a leader presses the late case (领导督办)
                track.supervise(pressed, ctx.leader, "请加快处置, 尽快办结")
        track.step(Action.FEEDBACK, done, handler, "已按要求处置完毕")
        verifier = ctx.workers[case.grid_id] if rng.random() < 0.7 else operator
        checked = track.within(done, Stage.VERIFY, rng, 0.12, late=0.01)
        if rng.random() < 0.05:  # not solved: back to the handler (返工)
            track.verify_fail(checked, verifier, "现场核查问题仍未解决, 请返工")
            done = track.after(checked, max(10, round(limit * rng.uniform(0.1, 0.5))), urgent)
            track.step(Action.FEEDBACK, done, handler, "已返工处置完毕")
            checked = track.within(done, Stage.VERIFY, rng, 0.12)
        track.verify_ok(checked, verifier)
        if case.source in NO_CALLBACK or not (
            case.reporter_id or case.reporter_name or track.plan.reporter_pk
        ):
            return
        called = track.within(checked, Stage.CALLBACK, rng, 0.25)
        satisfaction = rng.choices(list(Case.Satisfaction), weights=[86, 10, 4])[0]
        note = {
            Case.Satisfaction.SATISFIED: "对处置结果满意",
            Case.Satisfaction.BASICALLY: "基本满意, 希望加强日常巡查",
        }.get(satisfaction, "问题反复出现, 不满意")
        own = (
            case.reporter_id is not None and ctx.resident is not None and case.reporter_id == ctx.resident.pk
        )
        track.callback(called, _actor(ctx.resident) if own else operator, satisfaction.value, note)
        if satisfaction == Case.Satisfaction.DISSATISFIED and rng.random() < 0.4:
            again = track.within(called, Stage.FILE, rng, 0.5)
            track.reopen(again, operator, "回访不满意, 重新办理")
            when = track.within(again, Stage.DISPATCH, rng, 0.3)
            track.dispatch(when, operator, department, "")
            self._handle(track, rng, department, when, urgent, operator)

    def _extension(
        self, track: _Track, rng: random.Random, ask: dt.datetime, operator: Actor, handler: Actor, late: bool
    ) -> dt.datetime:
        """A request for more days, decided by the command center; returns when handling ends."""
        case, calendar = track.case, self.ctx.calendar
        amount = rng.randint(2, 5)
        reason = rng.choice(("需协调产权单位共同处置", "材料采购需要时间", "需等待天气条件允许施工"))
        request = track.request_extension(ask, handler, amount, reason)
        decided = track.after(ask, _minutes(rng, 60), False)
        if rng.random() < 0.8:
            track.grant_extension(decided, operator, request)
            # With the extra days it mostly finishes in time.
            share = rng.uniform(1.05, 1.5) if late and rng.random() < 0.3 else rng.uniform(0.3, 0.95)
        else:
            track.refuse_extension(decided, operator, request, "时限内可以完成, 不同意延期")
            share = rng.uniform(0.6, 1.5)
        span = max(60, calendar.working_minutes_between(decided, case.due_at))
        return track.after(decided, round(span * share), False)

    def _rule(self, kind: Kind, case: Row, at: dt.datetime) -> RoutingRule | None:
        """What `services.intake.route` finds for this case (the demo's rules, without a query)."""
        key = f"{kind.kind}:{kind.code}"
        if kind.department == "committee":
            return self.ctx.rules.get(f"{key}:{self.ctx.parents.get(case.grid_id)}")
        local = at.astimezone(self.ctx.calendar.tz).time()
        if f"{key}:night" in self.ctx.rules and (local >= NIGHT[0] or local < NIGHT[1]):
            return self.ctx.rules[f"{key}:night"]
        return self.ctx.rules.get(key)

    def _master(self, plan: Plan, at: dt.datetime) -> Plan | None:
        """An open case of the same category in the same grid, reported within the category's
        duplicate window, that this report repeats: it is placed a few metres from it."""
        case, category = plan.case, plan.category
        window = dt.timedelta(hours=category.duplicate_window_hours)
        for other in reversed(self.recent.get(category.pk, [])[-40:]):
            row = other.case
            if row.created_at >= at:  # planned again for the backlog: only earlier cases count
                continue
            if row.created_at < at - window:
                break
            closed = row.closed_at is not None and row.closed_at <= at
            if row.grid_id == case.grid_id and not closed and row.state in OPEN_OR_LATER:
                lon, lat = offset(row.lon, row.lat, 3.0, -2.0)
                if self.places.index.locate(lon, lat) == case.grid_id:
                    case.lon, case.lat, case.address = round(lon, 7), round(lat, 7), row.address
                    return other
        return None


OPEN_OR_LATER = frozenset({*OPEN, S.CLOSED})


def _minutes(rng: random.Random, median: float, late: float = 0.0) -> int:
    """A delay in minutes around `median` (log-normal); with chance `late`, several times longer."""
    if late and rng.random() < late:
        return round(median * rng.uniform(4, 12))
    return max(1, round(rng.lognormvariate(math.log(median), 0.6)))


class _Track:
    """Moves one case through TRANSITIONS, setting its fields as `machine.transition` and the
    services do, with the deadline sweep's supervision in between. Each act first calls `due_now`,
    then sets its own fields, then `step`s."""

    def __init__(self, ctx: Context, plan: Plan, hold: CaseState | None) -> None:
        self.ctx, self.plan, self.case, self.hold = ctx, plan, plan.case, hold
        self.state = ""
        self.stopped = False  # held in its state: nothing more happens to it
        self.urgent = plan.case.urgency != "normal"
        self.automatic: frozenset[CaseState] = frozenset()  # states routing moves on from at once

    def after(self, start: dt.datetime, minutes: int, urgent: bool) -> dt.datetime:
        """`minutes` later: wall-clock for urgent cases (someone is on duty), else working time."""
        if urgent:
            return start + dt.timedelta(minutes=minutes)
        return self.ctx.calendar.add_working_minutes(start, minutes)

    def within(
        self, start: dt.datetime, stage: Stage, rng: random.Random, share: float, late: float = 0.0
    ) -> dt.datetime:
        """When a stage step begun at `start` is done: around `share` of the stage's time limit,
        now and then (`late`) past it."""
        limit = self.ctx.minutes(self.plan.category, stage)
        return self.after(start, _minutes(rng, max(1.0, limit * share), late), self.urgent)

    def due_now(self, at: dt.datetime) -> None:
        """Stop here when an act at `at` has not happened by the reference time (or the case is held)."""
        if self.stopped or at > self.ctx.reference:
            raise _Later

    # -- acts ----------------------------------------------------------------------------------

    def report(self, at: dt.datetime, actor: Actor, rule: RoutingRule | None, master: Plan | None) -> None:
        case = self.case
        detail: dict[str, Any] = {"source": case.source, "grid": self.ctx.grid_codes[case.grid_id]}
        if rule is not None:
            case.routing_rule_id = rule.pk
            detail |= {"routing_rule": rule.pk, "routing_rule_name": rule.name}
        if master is not None:
            detail["duplicate_of"] = master.case.number
            self.plan.master = master.index  # offered or merged: `duplicate_of` points to it either way
        # Routing files (and dispatches) in the same transaction as the report: no holding there.
        self.automatic = frozenset()
        if rule is not None and rule.auto_file and master is None:
            self.automatic = frozenset({S.REPORTED, S.FILED} if rule.auto_dispatch else {S.REPORTED})
        self.state = S.REPORTED
        self._enter(S.REPORTED, at)
        self._line(at, Action.REPORT, actor, "", S.REPORTED, "", detail)
        self._hold(S.REPORTED)

    def step(self, action: Action, at: dt.datetime, actor: Actor, reason: str, **detail: Any) -> None:
        """One act of TRANSITIONS at `at`, after what the sweep did up to then."""
        self.due_now(at)
        self.sweep(at)
        sources, to = TRANSITIONS[action]
        if self.state not in sources:  # a mistake in this module, never in the data
            raise RuntimeError(f"demo case {self.case.number}: {action} from {self.state}")
        before = self.state
        if to is not None:
            self.state = to
            self._enter(to, at)
        self._line(at, action, actor, before, to or "", reason, detail)
        if to is not None:
            self._hold(to)

    def merge(self, at: dt.datetime, actor: Actor, master: Plan, reason: str) -> None:
        self.step(Action.MERGE, at, actor, reason, into=master.case.number)
        note = f"重复上报 {self.case.number} 已合并到本案"
        master.history.append(
            _history_row(at, Action.NOTE, actor, "", "", note, {"merged": self.case.number})
        )

    def on_the_spot(self, at: dt.datetime, actor: Actor) -> None:
        self.due_now(at)
        case = self.case
        case.self_handled = case.closed_on_time = True
        case.filed_at = case.handled_at = at
        self.step(Action.HANDLE_ON_THE_SPOT, at, actor, "现场劝导整改, 问题已解决")
        case.stage, case.stage_started_at, case.due_at = "", None, None  # nobody to call back

    def dispatch(
        self, at: dt.datetime, actor: Actor, department: Department, reason: str, **extra: Any
    ) -> None:
        self.due_now(at)
        self.case.department_id, self.case.assignee_id = department.pk, None
        self.case.dispatch_count += 1
        self.step(Action.DISPATCH, at, actor, reason, department=department.pk, **extra)

    def accept(self, at: dt.datetime, actor: Actor) -> None:
        self.due_now(at)
        if self.case.assignee_id is None and actor.user is not None:
            self.case.assignee_id = actor.user.pk
        self.step(Action.ACCEPT, at, actor, "")

    def return_case(self, at: dt.datetime, actor: Actor, reason: str) -> None:
        self.due_now(at)
        department = self.case.department_id
        self.case.department_id = self.case.assignee_id = None
        self.case.return_count += 1
        self.step(Action.RETURN, at, actor, reason, department=department)

    def request_extension(self, at: dt.datetime, actor: Actor, amount: int, reason: str) -> Extension:
        self.due_now(at)
        request = Extension(
            amount=amount,
            unit=LimitUnit.DAYS,
            reason=reason,
            requested_by=actor.user,
            requested_at=at,
            old_due_at=self.case.due_at,
        )
        self.plan.extensions.append(request)
        self.step(Action.REQUEST_EXTENSION, at, actor, reason, amount=amount, unit=LimitUnit.DAYS.value)
        return request

    def grant_extension(self, at: dt.datetime, actor: Actor, request: Extension) -> None:
        self.due_now(at)  # not decided by the reference time: the request is pending
        self.sweep(at)  # up to now by the old due
        case = self.case
        new_due = add_limit(case.due_at, request.amount, request.unit, self.ctx.calendar)
        request.decision = Extension.Decision.GRANTED
        request.decided_by, request.decided_at, request.note = actor.user, at, "同意延期"
        request.old_due_at, request.new_due_at = case.due_at, new_due
        case.due_at = case.handle_due_at = new_due
        case.warned_at = case.overdue_at = None
        detail = {"decision": request.decision.value, "due_at": new_due.isoformat()}
        self.step(Action.DECIDE_EXTENSION, at, actor, request.note, **detail)

    def refuse_extension(self, at: dt.datetime, actor: Actor, request: Extension, note: str) -> None:
        self.due_now(at)
        request.decision = Extension.Decision.REFUSED
        request.decided_by, request.decided_at, request.note = actor.user, at, note
        self.step(Action.DECIDE_EXTENSION, at, actor, note, decision=request.decision.value)

    def verify_fail(self, at: dt.datetime, actor: Actor, reason: str) -> None:
        self.due_now(at)
        self.case.rework_count += 1
        self.step(Action.VERIFY_FAIL, at, actor, reason)

    def verify_ok(self, at: dt.datetime, actor: Actor) -> None:
        self.due_now(at)
        case = self.case
        case.closed_on_time = closed_on_time(case.handle_due_at, at)
        self.step(Action.VERIFY_OK, at, actor, "现场核查, 问题已解决")

    def callback(self, at: dt.datetime, actor: Actor, satisfaction: str, note: str) -> None:
        self.due_now(at)
        case = self.case
        case.satisfaction, case.satisfaction_note, case.callback_at = satisfaction, note, at
        self.step(Action.CALLBACK, at, actor, note, satisfaction=satisfaction)
        case.stage, case.stage_started_at, case.due_at = "", None, None  # the callback stage ends

    def reopen(self, at: dt.datetime, actor: Actor, reason: str) -> None:
        self.due_now(at)
        case = self.case
        case.closed_at = case.closed_on_time = case.callback_at = None
        case.satisfaction = case.satisfaction_note = ""
        case.department_id = case.assignee_id = None
        case.reopen_count += 1
        self.step(Action.REOPEN, at, actor, reason)

    def supervise(self, at: dt.datetime, actor: Actor, reason: str) -> None:
        """A person raises the level by one (supervise_case), where the sweep has not gone higher."""
        if self.stopped or at > self.ctx.reference:
            return
        self.sweep(at)
        level = self.case.supervision_level + 1
        if level <= MAX_LEVEL:
            self._supervision(at, actor, level, reason, automatic=False)

    # -- what happens between acts -------------------------------------------------------------

    def sweep(self, until: dt.datetime) -> None:
        """The deadline sweep while the current stage ran, up to `until`: level 1 once overdue, one
        more per further full stage limit, up to 3 (where a person could supervise)."""
        case = self.case
        if self.state not in SUPERVISABLE or case.due_at is None or case.supervision_level >= MAX_LEVEL:
            return
        if until <= case.due_at:
            return
        amount, unit = self.ctx.limits.get(self.plan.category.pk, case.stage)
        for level in range(1, MAX_LEVEL + 1):
            at = supervision_at(case.due_at, level, amount, unit, self.ctx.calendar)
            if at >= until:
                break
            if level > case.supervision_level:
                local = timezone.localtime(case.due_at, self.ctx.calendar.tz).strftime("%Y-%m-%d %H:%M")
                reason = f"超过{Stage(case.stage).label}时限({local}), 自动{level}级督办"
                self._supervision(at, Actor(None, SYSTEM), level, reason, automatic=True)

    def _supervision(
        self, at: dt.datetime, actor: Actor, level: int, reason: str, *, automatic: bool
    ) -> None:
        case = self.case
        case.supervision_level = level
        self.plan.supervisions.append(Supervision(level=level, at=at, by=actor.user, reason=reason[:200]))
        if automatic:  # the sweep writes a plain history line; a person's supervision is an act
            self._line(at, Action.SUPERVISE, actor, "", "", reason, {"level": level, "automatic": True})
        else:
            self._line(at, Action.SUPERVISE, actor, self.state, "", reason, {"level": level})

    def finish(self) -> None:
        """At the reference time: the sweep's marks on a case still open (warned, overdue, supervised)."""
        case, ctx = self.case, self.ctx
        if self.state not in OPEN or case.due_at is None or case.stage_started_at is None:
            return
        self.sweep(ctx.reference)
        _amount, unit = ctx.limits.get(self.plan.category.pk, case.stage)
        warn = warning_at(case.stage_started_at, case.due_at, unit, ctx.calendar)
        if case.due_at < ctx.reference:
            case.overdue_at = case.due_at
            case.warned_at = min(warn, case.due_at)
        elif warn <= ctx.reference:
            case.warned_at = warn

    def _enter(self, state: CaseState, at: dt.datetime) -> None:
        """What `machine.transition` sets on entering a state."""
        case = self.case
        milestone = MILESTONE.get(state)
        if milestone and not (milestone == "filed_at" and case.filed_at):
            setattr(case, milestone, at)
        stage = STAGE_OF[state]
        case.state = state.value
        case.stage = stage.value if stage else ""
        case.stage_started_at = at if stage else None
        case.due_at = self.ctx.due(self.plan.category, stage, at) if stage else None
        case.warned_at = case.overdue_at = None
        if stage == Stage.HANDLE:
            case.handle_due_at = case.due_at

    def _hold(self, state: CaseState) -> None:
        if self.hold == state and state not in self.automatic:
            self.plan.held = self.stopped = True

    def _line(
        self,
        at: dt.datetime,
        action: Action,
        actor: Actor,
        before: str,
        after: str,
        reason: str,
        detail: dict,
    ) -> None:
        self.plan.history.append(_history_row(at, action, actor, before, after, reason, detail))
        self.case.updated_at = max(self.case.updated_at, at)


MILESTONE = {
    S.FILED: "filed_at",
    S.DISPATCHED: "dispatched_at",
    S.IN_PROGRESS: "accepted_at",
    S.HANDLED: "handled_at",
    S.CLOSED: "closed_at",
    S.REJECTED: "closed_at",
    S.MERGED: "closed_at",
}


def _history_row(
    at: dt.datetime, action: Action, actor: Actor, before: str, after: str, reason: str, detail: dict
) -> Row:
    return Row(
        id=None,
        case_id=None,
        at=at,
        actor_id=actor.user.pk if actor.user is not None else None,
        actor_name=actor.name[:80],
        action=action.value,
        from_state=str(before),
        to_state=str(after),
        reason=reason,
        detail=detail,
    )


def _fill_backlog(maker: _Maker, plans: list[Plan], minimum: int) -> None:
    """Every open state gets a few of the newest cases (a small scale may have none in some): such a
    case simply has not moved on yet at the reference time."""
    for state in OPEN:
        have = sum(1 for p in plans if p.case.state == state)
        for plan in reversed(plans):
            if have >= minimum:
                break
            if plan.held or plan.case.state in OPEN[: OPEN.index(state) + 1]:
                continue
            again = maker.plan(plan.index, hold=state)
            if again.held and again.case.state == state and again.master is None:
                plans[plan.index] = again
                have += 1


# --- writing -------------------------------------------------------------------------------------


def _save(plans: list[Plan]) -> dict[str, int]:
    """Insert cases, history, extensions and supervisions, ids allocated here (as loaddata does)."""
    _fill_reporters(plans)
    first = bulk.next_id(Case)
    by_index = {}
    for n, plan in enumerate(plans):
        plan.case.id = first + n
        by_index[plan.index] = plan.case.id
    for plan in plans:
        if plan.master is not None:
            plan.case.duplicate_of_id = by_index[plan.master]
    history = []
    for plan in plans:
        plan.history.sort(key=lambda h: h.at)  # a merge's note on its master came in later
        for entry in plan.history:
            entry.case_id = plan.case.id
            history.append(entry)
    bulk.insert(Case, [p.case for p in plans])
    bulk.insert(HistoryEntry, history)
    extensions = [_with_case(e, p) for p in plans for e in p.extensions]
    supervisions = [_with_case(s, p) for p in plans for s in p.supervisions]
    bulk.insert(Extension, extensions)
    bulk.insert(Supervision, supervisions)
    return {
        "cases": len(plans),
        "case_history": len(history),
        "case_extensions": len(extensions),
        "case_supervisions": len(supervisions),
    }


def _with_case[T: models.Model](row: T, plan: Plan) -> T:
    row.case_id = plan.case.id  # type: ignore[attr-defined]
    return row


def _fill_reporters(plans: list[Plan]) -> None:
    """The reporting residents' names and phones, read once; the phone is stored encrypted with
    its keyed hash, as intake stores it."""
    wanted = sorted({p.reporter_pk for p in plans if p.reporter_pk is not None})
    people = Person.objects.only("name", "phone").in_bulk(wanted)
    for plan in plans:
        if plan.reporter_pk is not None and (person := people.get(plan.reporter_pk)) is not None:
            plan.case.reporter_name, plan.case.reporter_phone = person.name, person.phone or ""
            plan.case.reporter_phone_hash = (
                crypto.keyed_hash(PHONE_KIND, person.phone) if person.phone else ""
            )


def _rebuild_rollups() -> int:
    """The measures' facts and daily rollups, rebuilt once from the cases just written (the bulk
    path sends no events, so the per-case refresh never ran). Returns the rollup rows."""
    from shequ.analytics.rollups import rebuild_rollups  # analytics reads cases: imported late

    return int(rebuild_rollups()["rollup_rows"])
