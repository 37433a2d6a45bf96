"""Where the demo's assets (部件) stand: cameras at road crossings and along the roads, street
lamps, manhole covers, hydrants and the rest spread along the roads. Pure geometry, seeded.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString, Point

from shequ.demo import figures, layout
from shequ.demo.figures import Scale

# Other assets per cluster along the roads: category, count, metres from the centre line, owner.
OTHER_ASSETS: tuple[tuple[str, int, float, str], ...] = (
    ("0118", 2400, 9.0, "chengguan"),  # 路灯
    ("0101", 500, 4.0, "water"),  # 上水井盖
    ("0102", 500, 2.0, "water"),  # 污水井盖
    ("0103", 600, 5.0, "water"),  # 雨水井盖
    ("0104", 500, 7.5, "water"),  # 雨水箅子
    ("0105", 300, 6.0, "power"),  # 电力井盖
    ("0107", 300, 6.5, "telecom"),  # 通讯井盖
    ("0111", 200, 3.0, "gas"),  # 燃气井盖
    ("0115", 400, 10.0, "emergency"),  # 消防栓
    ("0305", 600, 11.0, "chengguan"),  # 垃圾箱
    ("0203", 60, 10.0, "transport"),  # 公交站亭
    ("0209", 200, 10.0, "transport"),  # 交通标志牌
    ("0214", 150, 10.5, "transport"),  # 路名牌
    ("0301", 24, 24.0, "chengguan"),  # 公共厕所
    ("0406", 200, 13.0, "chengguan"),  # 街头座椅
    ("0501", 80, 14.0, "civil"),  # 宣传栏
    ("0504", 60, 26.0, "civil"),  # 公共健身设施
)
CAMERA_OWNER = "police"
CAMERA_AT_CROSSINGS = 0.3  # the rest watch the roads between crossings
OWNERS = {figures.CAMERA_CATEGORY: CAMERA_OWNER} | {c: owner for c, _, _, owner in OTHER_ASSETS}
CATEGORIES = frozenset(OWNERS)


@dataclass(frozen=True)
class AssetPlan:
    category: str
    x: float  # metres on the layout plane
    y: float
    name: str
    address: str


def plan_assets(
    rng: random.Random, plan: layout.ClusterPlan, scale: Scale, category_names: dict[str, str]
) -> list[AssetPlan]:
    """The cluster's cameras and other assets, all inside the cluster (never on a grid border)."""
    ns_names, ew_names = layout.lattice_road_names(plan)
    points = plan.lattice_points
    lines = [(r.line, r.name) for r in plan.roads]
    out: list[AssetPlan] = []

    cameras = scale.per_cluster(figures.CAMERAS)
    crossings = [(i, j) for i in range(len(points)) for j in range(len(points[0]))]
    for i, j in rng.sample(crossings, min(round(cameras * CAMERA_AT_CROSSINGS), len(crossings))):
        x, y = points[i][j]
        dx, dy = rng.choice((-1, 1)) * 12.0, rng.choice((-1, 1)) * 12.0
        minx, miny, maxx, maxy = plan.rect.bounds
        if not minx < x + dx < maxx:  # a crossing on the cluster's edge: the camera stands inside
            dx = -dx
        if not miny < y + dy < maxy:
            dy = -dy
        where = f"{ns_names[i]}与{ew_names[j]}交叉口"
        out.append(AssetPlan(figures.CAMERA_CATEGORY, x + dx, y + dy, f"{where}高清摄像头", where))
    for x, y, road in along(rng, plan, lines, cameras - len(out), 8.0):
        out.append(AssetPlan(figures.CAMERA_CATEGORY, x, y, f"{road}高清摄像头", road))
    for category, count, offset_m, _ in OTHER_ASSETS:
        name = category_names[category]
        for x, y, road in along(rng, plan, lines, scale.per_cluster(count), offset_m):
            out.append(AssetPlan(category, x, y, f"{road}{name}", road))
    return out


def along(
    rng: random.Random,
    plan: layout.ClusterPlan,
    lines: list[tuple[LineString, str]],
    count: int,
    offset_m: float,
) -> list[tuple[float, float, str]]:
    """`count` points spread along the roads by length, `offset_m` to one side, inside the cluster."""
    if count <= 0:
        return []
    lengths = [line.length for line, _ in lines]
    total = sum(lengths)
    starts = np.cumsum([0.0, *lengths[:-1]])
    out = []
    for n in range(count):
        at = (n + rng.random()) * total / count
        i = min(int(np.searchsorted(starts, at, side="right")) - 1, len(lines) - 1)
        line, road = lines[i]
        s = min(max(at - starts[i], 1.0), lengths[i] - 1.0)
        p, q = line.interpolate(s - 1.0), line.interpolate(s + 1.0)
        dx, dy = q.x - p.x, q.y - p.y
        norm = math.hypot(dx, dy) or 1.0
        side = rng.choice((-1.0, 1.0)) * offset_m
        mid = line.interpolate(s)
        x, y = mid.x - dy / norm * side, mid.y + dx / norm * side
        if not plan.rect.contains(Point(x, y)):  # an edge road: the other side is inside
            x, y = mid.x + dy / norm * side, mid.y - dx / norm * side
        out.append((x, y, road))
    return out
