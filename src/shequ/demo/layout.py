"""The map of the demo community: clusters, communities, unit grids, roads, blocks and buildings.

Pure geometry (shapely and a seeded random.Random, no database). Everything is laid out in metres
on one local plane around Xicha (西岔镇) and turned into WGS-84 at the edge, so a cluster is
16.35 km² to a few parts per million.

One *cluster* is the model community at 1x: a 4.5 × 3.63 km rectangle cut by a slightly skewed
lattice of roads into ~120 blocks. The middle north-south road is an arterial that divides the two
neighbourhood communities; each community's blocks are grown into unit grids (13 and 12), so grid
borders run along roads and the grids tile the community exactly (neighbouring blocks share their
corner points bit for bit). At scale N, N clusters sit side by side.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import LineString, Point, Polygon, box, mapping
from shapely.prepared import prep

from shequ.core.geo import LocalProjection, local_projection
from shequ.demo import names

CLUSTER_AREA_M2 = 16.35e6
CLUSTER_W = 4500.0
CLUSTER_H = CLUSTER_AREA_M2 / CLUSTER_W
ANCHOR = (103.690, 36.505)  # centre of the first cluster, in Xicha (西岔镇), Lanzhou New Area
GRIDS_PER_COMMUNITY = (13, 12)
LATTICE = (12, 10)  # blocks east-west, north-south: ~375 × 363 m
ROAD_SETBACK_M = 18.0

# Residential towers: floors, share of compounds, row pitch (sunlight spacing grows with height).
TOWER_FLOORS: tuple[tuple[int, float, float], ...] = (
    (6, 0.18, 32.0),
    (11, 0.22, 45.0),
    (18, 0.30, 58.0),
    (26, 0.20, 72.0),
    (33, 0.10, 85.0),
)
TOWER_W, TOWER_D, TOWER_PITCH = 38.0, 14.0, 50.0
UNITS_PER_TOWER, FLATS_PER_UNIT_FLOOR = 2, 2
SHOP_W, SHOP_D, SHOP_PITCH, SHOPS_PER_BUILDING = 48.0, 12.0, 56.0, 8


@dataclass
class Block:
    index: int
    col: int
    row: int
    quad: Polygon  # metres on the plane
    community: int = 0
    grid: int = -1
    use: str = ""  # residential, school, industrial, public; "" is vacant land
    south_road: str = ""


@dataclass
class GridPlan:
    index: int
    community: int
    polygon: Polygon
    blocks: list[int]
    industrial: bool = False
    weight: float = 1.0


@dataclass
class RoadPlan:
    name: str
    kind: str  # registry.Road.Kind values
    line: LineString


@dataclass
class BuildingPlan:
    """One building to create: footprint in metres, what it is, and how many units it has."""

    grid: int
    block: int
    name: str
    use: str  # registry.Building.Use values
    floors: int
    footprint: Polygon
    address: str
    units: int = 0  # 单元 of a residential tower
    flats_per_unit_floor: int = 0
    shops: int = 0
    purpose: str = ""  # school kind, enterprise, public building kind


@dataclass
class ClusterPlan:
    k: int
    col: int
    row: int
    rect: Polygon
    communities: list[Polygon]
    grids: list[GridPlan]
    blocks: list[Block]
    roads: list[RoadPlan]
    lattice_points: list[list[tuple[float, float]]]
    buildings: list[BuildingPlan] = field(default_factory=list)


def projection() -> LocalProjection:
    return local_projection(*ANCHOR)


def layout_shape(clusters: int) -> tuple[int, int]:
    """Columns and rows of clusters, near square."""
    cols = max(1, math.ceil(math.sqrt(clusters)))
    return cols, math.ceil(clusters / cols)


def to_lonlat(proj: LocalProjection, geom: Any) -> Any:
    return proj.from_local(geom)


def geojson(proj: LocalProjection, geom: Any, digits: int | None = None) -> dict[str, Any]:
    """GeoJSON of a plane geometry in WGS-84; `digits` rounds (only where no tiling depends on it)."""
    out = to_lonlat(proj, geom)
    if digits is not None:
        out = shapely.transform(out, lambda xy: xy.round(digits))
    return dict(mapping(out))


# --- clusters, blocks, grids ---------------------------------------------------------------------


def plan_cluster(seed: int, k: int, clusters: int) -> ClusterPlan:
    """The roads, blocks, communities and unit grids of cluster k (deterministic in seed and k)."""
    rng = random.Random(f"{seed}:layout:{k}")
    cols, _rows = layout_shape(clusters)
    col, row = k % cols, k // cols
    x0, y0 = col * CLUSTER_W - CLUSTER_W / 2, row * CLUSTER_H - CLUSTER_H / 2
    nx, ny = LATTICE

    # Lines of the lattice: straight, slightly skewed; the outer four are the cluster's edges.
    # Each line is (position at one edge, position at the opposite edge).
    verticals = [(0.0, 0.0)]
    for i in range(1, nx):
        bottom = i * CLUSTER_W / nx + rng.uniform(-40, 40)
        verticals.append((bottom, bottom + rng.uniform(-30, 30)))
    verticals.append((CLUSTER_W, CLUSTER_W))
    horizontals = [(0.0, 0.0)]
    for j in range(1, ny):
        left = j * CLUSTER_H / ny + rng.uniform(-35, 35)
        horizontals.append((left, left + rng.uniform(-25, 25)))
    horizontals.append((CLUSTER_H, CLUSTER_H))

    def cross(i: int, j: int) -> tuple[float, float]:
        xb, xt = verticals[i]
        yl, yr = horizontals[j]
        a, b = (xt - xb) / CLUSTER_H, (yr - yl) / CLUSTER_W
        x = (xb + a * yl) / (1 - a * b)
        y = yl + b * x
        return (x0 + x, y0 + y)

    points = [[cross(i, j) for j in range(ny + 1)] for i in range(nx + 1)]
    split = nx // 2  # the arterial between the two communities
    blocks: list[Block] = []
    for c in range(nx):
        for r in range(ny):
            quad = Polygon([points[c][r], points[c + 1][r], points[c + 1][r + 1], points[c][r + 1]])
            blocks.append(Block(index=len(blocks), col=c, row=r, quad=quad, community=0 if c < split else 1))

    grids: list[GridPlan] = []
    communities: list[Polygon] = []
    for community, count in enumerate(GRIDS_PER_COMMUNITY):
        members = [b for b in blocks if b.community == community]
        for grid_blocks in _grow_grids(rng, members, count):
            polygon = shapely.union_all([blocks[i].quad for i in grid_blocks])
            if polygon.geom_type != "Polygon" or not polygon.is_valid:
                raise RuntimeError(f"cluster {k}: grid {len(grids)} is not one valid polygon")
            for i in grid_blocks:
                blocks[i].grid = len(grids)
            grids.append(GridPlan(index=len(grids), community=community, polygon=polygon, blocks=grid_blocks))
        communities.append(
            shapely.union_all(
                [blocks[i].quad for i in range(len(blocks)) if blocks[i].community == community]
            )
        )

    # The industrial park: the two grids nearest the south-east corner of the east community.
    corner = Point(x0 + CLUSTER_W, y0)
    east = sorted(
        (g for g in grids if g.community == 1), key=lambda g: (g.polygon.centroid.distance(corner), g.index)
    )
    for g in east[:2]:
        g.industrial = True
    for g in grids:
        g.weight = len(g.blocks) * (0.15 if g.industrial else rng.uniform(0.7, 1.3))

    roads = _roads(points, split, ny // 2, col, row, cols, clusters, k)
    rect = box(x0, y0, x0 + CLUSTER_W, y0 + CLUSTER_H)
    for b in blocks:
        b.south_road = _road_name_ew(row * ny + b.row, b.row == ny // 2, row)
    return ClusterPlan(k, col, row, rect, communities, grids, blocks, roads, points)


def _grow_grids(rng: random.Random, members: list[Block], count: int) -> list[list[int]]:
    """Split a community's blocks into `count` connected grids of similar area.

    Region growing from seeds spread by farthest-point sampling, then a few Lloyd-style rounds
    (re-seed at the block nearest each grid's centre); the most even split wins.
    """
    centroid = {b.index: b.quad.centroid for b in members}
    best: tuple[float, list[list[int]]] | None = None
    for _ in range(12):  # restarts: a seed boxed in by others leaves a one-block grid
        seeds = [rng.choice(members).index]
        while len(seeds) < count:
            seeds.append(
                max(
                    (b.index for b in members if b.index not in seeds),
                    key=lambda i: (min(centroid[i].distance(centroid[s]) for s in seeds), -i),
                )
            )
        for _ in range(4):
            groups = _grow(members, seeds)
            sizes = [sum(b.quad.area for b in members if b.index in g) for g in groups]
            spread = max(sizes) / min(sizes)
            if best is None or spread < best[0]:
                best = (spread, groups)
            centres = [shapely.union_all([centroid[i] for i in g]).centroid for g in groups]
            seeds = []
            for c in centres:
                seeds.append(
                    min(
                        (b.index for b in members if b.index not in seeds),
                        key=lambda i: (centroid[i].distance(c), i),
                    )
                )
    assert best is not None
    return best[1]


def _grow(members: list[Block], seeds: list[int]) -> list[list[int]]:
    """Grow grids from seed blocks: the smallest grid so far takes its nearest free neighbour."""
    by_pos = {(b.col, b.row): b for b in members}
    by_index = {b.index: b for b in members}
    centroid = {b.index: b.quad.centroid for b in members}
    owner = {s: n for n, s in enumerate(seeds)}
    groups = [[s] for s in seeds]
    area = [by_index[s].quad.area for s in seeds]
    stuck: set[int] = set()
    while len(owner) < len(members):
        candidates = [n for n in range(len(seeds)) if n not in stuck]
        if not candidates:
            raise RuntimeError("grid growth stalled")
        n = min(candidates, key=lambda m: (area[m], m))
        frontier = sorted(
            {
                by_pos[pos].index
                for i in groups[n]
                for pos in _neighbours(by_index[i])
                if pos in by_pos and by_pos[pos].index not in owner
            }
        )
        if not frontier:
            stuck.add(n)
            continue
        pick = min(frontier, key=lambda i: (centroid[i].distance(centroid[seeds[n]]), i))
        owner[pick] = n
        groups[n].append(pick)
        area[n] += by_index[pick].quad.area
    return [sorted(g) for g in groups]


def _neighbours(b: Block) -> Iterator[tuple[int, int]]:
    yield from ((b.col - 1, b.row), (b.col + 1, b.row), (b.col, b.row - 1), (b.col, b.row + 1))


def _road_name_ns(n: int, arterial: bool, col: int) -> str:
    return (
        names.ARTERIAL_NAMES[(2 * col) % len(names.ARTERIAL_NAMES)]
        if arterial
        else f"经{names.chinese_number(n + 1)}路"
    )


def _road_name_ew(n: int, arterial: bool, row: int) -> str:
    if arterial:
        return names.ARTERIAL_NAMES[(2 * row + 1) % len(names.ARTERIAL_NAMES)]
    return f"纬{names.chinese_number(n + 1)}路"


def lattice_road_names(plan: ClusterPlan) -> tuple[list[str], list[str]]:
    """Names of the north-south lattice lines (west to east) and east-west ones (south to north)."""
    nx, ny = len(plan.lattice_points) - 1, len(plan.lattice_points[0]) - 1
    ns = [_road_name_ns(plan.col * nx + i, i == nx // 2, plan.col) for i in range(nx + 1)]
    ew = [_road_name_ew(plan.row * ny + j, j == ny // 2, plan.row) for j in range(ny + 1)]
    return ns, ew


def _roads(
    points: list[list[tuple[float, float]]],
    split: int,
    middle: int,
    col: int,
    row: int,
    cols: int,
    clusters: int,
    k: int,
) -> list[RoadPlan]:
    """The lattice lines as roads. Edge lines shared with a neighbouring cluster belong to one side."""
    nx, ny = len(points) - 1, len(points[0]) - 1
    east_neighbour = col + 1 < cols and k + 1 < clusters
    north_neighbour = k + cols < clusters
    roads = []
    for i in range(nx + 1):
        if i == nx and east_neighbour:
            continue
        arterial = i == split
        kind = "arterial" if arterial else ("secondary" if i % 3 == 0 else "branch")
        roads.append(
            RoadPlan(
                _road_name_ns(col * nx + i, arterial, col), kind, LineString([points[i][0], points[i][ny]])
            )
        )
    for j in range(ny + 1):
        if j == ny and north_neighbour:
            continue
        arterial = j == middle
        kind = "arterial" if arterial else ("secondary" if j % 3 == 0 else "branch")
        roads.append(
            RoadPlan(
                _road_name_ew(row * ny + j, arterial, row), kind, LineString([points[0][j], points[nx][j]])
            )
        )
    return roads


# --- buildings -----------------------------------------------------------------------------------


def _weighted[T](rng: random.Random, items: tuple[tuple[T, float], ...] | list[tuple[T, float]]) -> T:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


class Namer:
    """Unique compound names across the whole run (a second 瑞岭家园 becomes 瑞岭家园二期)."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def compound(self, rng: random.Random) -> str:
        base = rng.choice(names.COMPOUND_STEMS) + rng.choice(names.COMPOUND_SUFFIXES)
        n = self.used.get(base, 0) + 1
        self.used[base] = n
        return base if n == 1 else f"{base}{names.chinese_number(n)}期"


def place_buildings(
    plan: ClusterPlan, seed: int, dwellings_needed: list[int], namer: Namer, school_no: list[int]
) -> None:
    """Fill the cluster's blocks: schools, public buildings, the industrial park, then residential
    compounds in each grid until it has the dwellings its households need."""
    rng = random.Random(f"{seed}:buildings:{plan.k}")
    blocks = plan.blocks
    free = {g.index: [b for b in g.blocks] for g in plan.grids}
    for g in plan.grids:
        rng.shuffle(free[g.index])
    numbers: dict[int, int] = {}  # house number per block, along its south road

    def take(grid: int) -> Block | None:
        return blocks[free[grid].pop()] if free[grid] else None

    def house_no(block: Block) -> int:
        numbers[block.index] = numbers.get(block.index, 0) + 1
        return block.col * 20 + numbers[block.index]

    # Public buildings: a service centre per community and, in the first, the governance centre.
    for community in (0, 1):
        grid = min(
            (
                g
                for g in plan.grids
                if g.community == community and not g.industrial and len(free[g.index]) > 1
            ),
            key=lambda g: (g.polygon.centroid.distance(plan.rect.centroid), g.index),
            default=None,
        )
        block = take(grid.index) if grid else None
        if block is None:
            continue
        block.use = "public"
        kinds = [
            ("社区服务中心", 4, 60.0, 24.0),
            ("社区卫生服务站", 2, 30.0, 16.0),
            ("日间照料中心", 2, 36.0, 16.0),
        ]
        if community == 0:
            kinds = [("社区综合治理中心", 5, 70.0, 26.0), ("派出所", 4, 50.0, 20.0), *kinds]
        footprints = _pack(block, [(w, d) for _, _, w, d in kinds], 30.0)
        for fp, (kind, floors, _, _) in zip(footprints, kinds, strict=True):
            plan.buildings.append(
                BuildingPlan(
                    block.grid,
                    block.index,
                    kind,
                    "public",
                    floors,
                    fp,
                    f"{block.south_road}{house_no(block)}号",
                    purpose=kind,
                )
            )

    # Fourteen schools, each in its own block of a residential grid, the biggest grids first.
    school_grids = sorted(
        (g for g in plan.grids if not g.industrial), key=lambda g: (-len(free[g.index]), g.index)
    )
    placed = 0
    for kind, floors, w, d in names.SCHOOL_KINDS:
        for _ in range(len(school_grids)):
            grid = school_grids[placed % len(school_grids)]
            placed += 1
            if len(free[grid.index]) > 1 or (free[grid.index] and not dwellings_needed[grid.index]):
                break
        else:
            grid = next(g for g in plan.grids if free[g.index])
        block = take(grid.index)
        if block is None:
            raise RuntimeError("no block left for a school")
        block.use = "school"
        school_no[0] += 1
        name = _school_name(kind, school_no[0])
        fp = _pack(block, [(w, d)], 40.0)[0]
        plan.buildings.append(
            BuildingPlan(
                block.grid,
                block.index,
                name,
                "school",
                floors,
                fp,
                f"{block.south_road}{house_no(block)}号",
                purpose=kind,
            )
        )

    # Fifteen enterprises, two factories a block, in the industrial grids (others if they run out).
    trades = list(names.ENTERPRISE_TRADES)
    rng.shuffle(trades)
    industrial = [g.index for g in plan.grids if g.industrial] + [
        g.index for g in plan.grids if not g.industrial
    ]
    block = None
    for n, (trade, _, _) in enumerate(trades):
        if n % 2 == 0:
            # Keep a block for the homes a grid needs (workers' dormitories in the park).
            grid_index = next(i for i in industrial if len(free[i]) > (1 if dwellings_needed[i] else 0))
            block = take(grid_index)
            assert block is not None
            block.use = "industrial"
            footprints = _pack(block, [(120.0, 60.0), (120.0, 60.0)], 50.0)
        assert block is not None
        plan.buildings.append(
            BuildingPlan(
                block.grid,
                block.index,
                f"{trade}厂区",
                "industrial",
                rng.choice((1, 2, 3, 4)),
                footprints[n % 2],
                f"{block.south_road}{house_no(block)}号",
                purpose=trade,
            )
        )

    # Residential compounds.
    for g in plan.grids:
        need = dwellings_needed[g.index]
        while need > 0:
            block = take(g.index)
            if block is None:
                raise RuntimeError(
                    f"grid {g.index} of cluster {plan.k} has no room for {need} more dwellings"
                )
            last = not free[g.index]
            block.use = "residential"
            compound = namer.compound(rng)
            floors, pitch = _tower_floors(rng, need, last)
            towers = _tower_slots(block, pitch)
            per_tower = floors * UNITS_PER_TOWER * FLATS_PER_UNIT_FLOOR
            if last and len(towers) * per_tower < need:
                raise RuntimeError(f"grid {g.index} of cluster {plan.k} cannot hold {need} dwellings")
            count = min(len(towers), math.ceil(need / per_tower))
            for n, fp in enumerate(towers[:count], start=1):
                plan.buildings.append(
                    BuildingPlan(
                        g.index,
                        block.index,
                        f"{compound}{n}号楼",
                        "residential",
                        floors,
                        fp,
                        f"{compound}{n}号楼",
                        units=UNITS_PER_TOWER,
                        flats_per_unit_floor=FLATS_PER_UNIT_FLOOR,
                        purpose=compound,
                    )
                )
            need -= count * per_tower
            for n, fp in enumerate(_shop_slots(block)[: max(1, count // 3)], start=1):
                plan.buildings.append(
                    BuildingPlan(
                        g.index,
                        block.index,
                        f"{compound}{n}号商业楼",
                        "commercial",
                        2,
                        fp,
                        f"{block.south_road}{house_no(block)}号",
                        shops=SHOPS_PER_BUILDING,
                        purpose=compound,
                    )
                )


def _tower_floors(rng: random.Random, need: int, last: bool) -> tuple[int, float]:
    if last:  # the grid's last free block must hold the rest: build high
        return TOWER_FLOORS[-1][0], TOWER_FLOORS[-1][2]
    floors = _weighted(rng, [(f, w) for f, w, _ in TOWER_FLOORS])
    return floors, next(p for f, _, p in TOWER_FLOORS if f == floors)


def _interior(block: Block) -> Polygon:
    return block.quad.buffer(-ROAD_SETBACK_M, join_style="mitre")


def _slots(
    area: Polygon, w: float, d: float, pitch_x: float, pitch_y: float, y_start: float | None = None
) -> list[Polygon]:
    """Axis-aligned footprints w × d on a lattice inside `area`, south rows first, west to east."""
    inside = prep(area)
    minx, miny, maxx, maxy = area.bounds
    out = []
    y = miny if y_start is None else y_start
    while y + d <= maxy:
        x = minx
        while x + w <= maxx:
            fp = box(x, y, x + w, y + d)
            if inside.contains(fp):
                out.append(fp)
            x += pitch_x
        y += pitch_y
    return out


def _shop_slots(block: Block) -> list[Polygon]:
    """A row of two-storey shops (底商) along the block's south road."""
    area = _interior(block)
    miny = area.bounds[1]
    return [fp for fp in _slots(area, SHOP_W, SHOP_D, SHOP_PITCH, 1e9, miny + 6) if fp.bounds[1] < miny + 40]


def _tower_slots(block: Block, pitch_y: float) -> list[Polygon]:
    area = _interior(block)
    return _slots(area, TOWER_W, TOWER_D, TOWER_PITCH, pitch_y, area.bounds[1] + SHOP_D + 30)


def _pack(block: Block, sizes: list[tuple[float, float]], gap: float) -> list[Polygon]:
    """Footprints of the given sizes placed south to north in a block, `gap` apart."""
    area = _interior(block)
    inside = prep(area)
    minx, miny, maxx, maxy = area.bounds
    out: list[Polygon] = []
    y = miny + 10
    for w, d in sizes:
        x = minx + max(10.0, (maxx - minx - w) / 2)
        while not inside.contains(fp := box(x, y, x + w, y + d)):
            y += 5
            if y + d > maxy:
                raise RuntimeError(f"block {block.index} is too small for a {w}×{d} m building")
        out.append(fp)
        y += d + gap
    return out


def _school_name(kind: str, n: int) -> str:
    if kind.startswith("中心"):
        return f"兰州新区西岔镇{kind}" if n <= 14 else f"兰州新区第{names.chinese_number(n)}{kind[2:]}"
    return f"兰州新区第{names.chinese_number(n)}{kind}"


# --- points for assets ---------------------------------------------------------------------------


def points_along(
    rng: random.Random, lines: list[LineString], count: int, offset_m: float
) -> list[tuple[float, float]]:
    """`count` points spread along the lines (by length), `offset_m` to either side of the centre line."""
    if not lines or count <= 0:
        return []
    lengths = [ln.length for ln in lines]
    total = sum(lengths)
    out = []
    for n in range(count):
        at = (n + rng.random()) * total / count
        i = 0
        while at > lengths[i] and i < len(lines) - 1:
            at -= lengths[i]
            i += 1
        out.append(_beside(lines[i], min(at, lengths[i]), offset_m * rng.choice((-1, 1))))
    return out


def _beside(line: LineString, at: float, offset_m: float) -> tuple[float, float]:
    p = line.interpolate(at)
    q = (
        line.interpolate(min(line.length, at + 1.0))
        if at + 1.0 <= line.length
        else line.interpolate(at - 1.0)
    )
    dx, dy = q.x - p.x, q.y - p.y
    if at + 1.0 > line.length:
        dx, dy = -dx, -dy
    norm = math.hypot(dx, dy) or 1.0
    return (p.x - dy / norm * offset_m, p.y + dx / norm * offset_m)
