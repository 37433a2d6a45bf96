"""The figures of the model community, what a scale makes of them, and what the database holds.

The model community (ARCHITECTURE): 16.35 km², 2 neighbourhood communities, 25 unit grids, 82,000
residents, 14 schools, 15 enterprises, 256 party members, 500 cameras. Scale N (an integer) lays N
such clusters side by side. A scale below 1 (for tests) keeps one cluster's map, communities,
grids, schools and enterprises, and shrinks what is counted by the head: residents, party
members, cameras and the other assets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Sum

RESIDENTS = 82_000
COMMUNITIES = 2
GRIDS = 25
AREA_KM2 = 16.35
SCHOOLS = 14
ENTERPRISES = 15
PARTY_MEMBERS = 256
CAMERAS = 500
CASES = 10_950  # the demo's year of cases (30 a day); shown, not checked: every report since adds one
CAMERA_CATEGORY = "0121"  # 监控电子眼
PARTY_TAG = "party_member"

RESIDENTS_TOLERANCE = 0.01  # the generator makes the exact count; imports or edits may move it a little
AREA_TOLERANCE = 0.005
MAX_SCALE = 1000


class ScaleError(ValueError):
    pass


@dataclass(frozen=True)
class Scale:
    """`value` ≥ 1 must be a whole number of clusters; 0 < value < 1 shrinks one cluster's population."""

    value: float

    @classmethod
    def parse(cls, text: str | float) -> Scale:
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise ScaleError(f"规模应为数字, 不是 {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise ScaleError(f"规模应大于 0, 不是 {text}")
        if value > MAX_SCALE:
            raise ScaleError(f"规模最大为 {MAX_SCALE}")
        if value > 1 and not value.is_integer():
            raise ScaleError(f"大于 1 的规模须为整数 (几个示范社区并排), 不是 {text}")
        return cls(value)

    @property
    def clusters(self) -> int:
        return max(1, int(self.value))

    @property
    def share(self) -> float:
        """The share of one cluster's population that each cluster gets (1 unless scale < 1)."""
        return min(1.0, self.value)

    def per_cluster(self, count: int) -> int:
        return max(1, round(count * self.share)) if count else 0

    def expected(self) -> dict[str, float]:
        n = self.clusters
        return {
            "residents": self.per_cluster(RESIDENTS) * n,
            "communities": COMMUNITIES * n,
            "grids": GRIDS * n,
            "grid_area_km2": AREA_KM2 * n,
            "schools": SCHOOLS * n,
            "enterprises": ENTERPRISES * n,
            "party_members": self.per_cluster(PARTY_MEMBERS) * n,
            "cameras": self.per_cluster(CAMERAS) * n,
        }

    def __str__(self) -> str:
        return str(int(self.value)) if self.value.is_integer() else f"{self.value:g}"


# What `demo-figures` shows, in this order: key, zh-Hans label, unit.
LABELS: tuple[tuple[str, str, str], ...] = (
    ("residents", "居民", "人"),
    ("households", "户", "户"),
    ("buildings", "楼栋", "栋"),
    ("dwellings", "房屋", "套"),
    ("communities", "社区", "个"),
    ("grids", "网格", "个"),
    ("grid_area_km2", "网格总面积", "平方公里"),
    ("schools", "学校", "所"),
    ("enterprises", "企业", "家"),
    ("party_members", "党员", "名"),
    ("cameras", "摄像头点位", "个"),
    ("other_assets", "其他部件", "个"),
    ("roads", "道路", "条"),
    ("departments", "部门", "个"),
    ("accounts", "账号", "个"),
    ("cases", "案件", "件"),
)


def actual() -> dict[str, float]:
    """The figures as the database holds them now (all rows, not only the demo's)."""
    from shequ.accounts.models import Department, User
    from shequ.cases.models import Case
    from shequ.grids.models import Grid, Level
    from shequ.registry.models import Asset, Building, Dwelling, Household, Organization, Person, Road

    grids = Grid.objects.filter(level=Level.GRID, is_active=True)
    area = grids.aggregate(total=Sum("area_m2"))["total"] or 0.0
    cameras = Asset.objects.filter(category__code=CAMERA_CATEGORY).count()
    return {
        "residents": Person.objects.filter(is_active=True).count(),
        "households": Household.objects.count(),
        "buildings": Building.objects.count(),
        "dwellings": Dwelling.objects.count(),
        "communities": Grid.objects.filter(level=Level.COMMUNITY, is_active=True).count(),
        "grids": grids.count(),
        "grid_area_km2": round(area / 1e6, 4),
        "schools": Organization.objects.filter(kind=Organization.Kind.SCHOOL).count(),
        "enterprises": Organization.objects.filter(kind=Organization.Kind.ENTERPRISE).count(),
        "party_members": Person.objects.filter(is_active=True, tags__code=PARTY_TAG).count(),
        "cameras": cameras,
        "other_assets": Asset.objects.count() - cameras,
        "roads": Road.objects.count(),
        "departments": Department.objects.count(),
        "accounts": User.objects.filter(is_active=True).count(),
        "cases": Case.objects.count(),
    }


@dataclass(frozen=True)
class Difference:
    key: str
    expected: float
    actual: float
    rule: str

    def __str__(self) -> str:
        label = next((label for k, label, _ in LABELS if k == self.key), self.key)
        return f"{label}: 应为 {_fmt(self.expected)} ({self.rule}), 实为 {_fmt(self.actual)}"


def compare(expected: dict[str, float], found: dict[str, Any]) -> list[Difference]:
    """What differs from the model community times the scale (residents ±1 %, area ±0.5 %, the rest exact)."""
    out = []
    for key, want in expected.items():
        got = found.get(key, 0)
        if key == "residents":
            ok, rule = abs(got - want) <= RESIDENTS_TOLERANCE * want, "±1%"
        elif key == "grid_area_km2":
            ok, rule = abs(got - want) <= AREA_TOLERANCE * want, "±0.5%"
        else:
            ok, rule = got == want, "精确"
        if not ok:
            out.append(Difference(key, want, got, rule))
    return out


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if isinstance(value, float) and not value.is_integer() else f"{int(value):,}"
