"""The measures' own tables (docs/measures.md): one fact row per case, and the daily rollups.

Both are derived from `cases.Case` and only `analytics.rollups` writes them; `shequ rollups --rebuild`
recomputes them from the cases at any time. Keys are plain integers, 0 meaning "none" (a case
without a grid, department or category), so that a rollup row's key is never NULL and the upsert
that adds to it finds it on every database.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

# Handling time histogram: bucket i holds times in [BOUNDS[i-1], BOUNDS[i]) minutes; the last is
# open-ended. Percentiles are read from it (docs/measures.md); the bounds never change without a
# rebuild, since rows store counts per bucket.
HANDLING_BOUNDS_MINUTES: tuple[int, ...] = (
    30, 60, 120, 180, 240, 360, 480, 720, 1080, 1440, 2160, 2880,
    4320, 5760, 7200, 10080, 14400, 20160, 30240, 43200, 64800, 86400, 129600,
)  # fmt: skip
BUCKETS = len(HANDLING_BOUNDS_MINUTES) + 1
BUCKET_FIELDS = tuple(f"h{i:02d}" for i in range(BUCKETS))

# The counters a rollup row sums, in column order (the histogram after handling_minutes).
COUNTERS: tuple[str, ...] = (
    "reported",
    "proactive",
    "filed",
    "due",
    "due_closed",
    "due_on_time",
    "closed",
    "handling_count",
    "handling_minutes",
    *BUCKET_FIELDS,
    "handled",
    "reworked",
    "dispatches",
    "returns",
    "rated",
    "satisfied",
    "basically",
    "overdue",
    "supervised",
)


class Grain(models.IntegerChoices):
    """Which keys a rollup row keeps; the others are 0 / "". One table of daily counters per
    (day, grid, department, category, source) would hold about as many rows as there are cases
    (a day's cases rarely share all five keys), so a dashboard would gain nothing; each grain
    keeps only the keys one kind of question needs (docs/measures.md, "Rollups")."""

    GRID_DEPARTMENT = 0, _("网格×部门")
    GRID_CATEGORY = 1, _("网格×类别")
    GRID_SOURCE = 2, _("网格×来源")
    DEPARTMENT_CATEGORY = 3, _("部门×类别")
    DEPARTMENT_SOURCE = 4, _("部门×来源")


GRAIN_KEYS: dict[int, tuple[str, ...]] = {
    Grain.GRID_DEPARTMENT: ("grid_id", "department_id"),
    Grain.GRID_CATEGORY: ("grid_id", "category_id"),
    Grain.GRID_SOURCE: ("grid_id", "source"),
    Grain.DEPARTMENT_CATEGORY: ("department_id", "category_id"),
    Grain.DEPARTMENT_SOURCE: ("department_id", "source"),
}
KEYS = ("grid_id", "department_id", "category_id", "source")


class CaseFact(models.Model):
    """What one case counts for, as last rolled up: its keys, the day it counts on for each measure
    (NULL: it does not count) and the values it adds. Kept so that a change to the case moves its
    counts exactly: the rollups lose the old fact's and gain the new fact's."""

    case_id = models.BigIntegerField(primary_key=True)
    grid_id = models.BigIntegerField(default=0)
    department_id = models.BigIntegerField(default=0)
    category_id = models.BigIntegerField(default=0)
    source = models.CharField(max_length=16, default="")
    reported_on = models.DateField(null=True)
    filed_on = models.DateField(null=True)
    due_on = models.DateField(null=True)
    closed_on = models.DateField(null=True)
    handled_on = models.DateField(null=True)
    dispatched_on = models.DateField(null=True)
    rated_on = models.DateField(null=True)
    overdue_on = models.DateField(null=True)
    supervised_on = models.DateField(null=True)
    proactive = models.SmallIntegerField(default=0)
    is_closed = models.SmallIntegerField(default=0)
    on_time = models.SmallIntegerField(default=0)
    handling_minutes = models.BigIntegerField(null=True)
    reworked = models.SmallIntegerField(default=0)
    dispatches = models.IntegerField(default=0)
    returns = models.IntegerField(default=0)
    satisfied = models.SmallIntegerField(default=0)
    basically = models.SmallIntegerField(default=0)

    class Meta:
        verbose_name = _("案件统计事实")
        verbose_name_plural = _("案件统计事实")

    def __str__(self) -> str:
        return f"case {self.case_id}"


class Rollup(models.Model):
    """Daily counters (Asia/Shanghai days) of one grain, from which every measure is derived."""

    grain = models.PositiveSmallIntegerField(choices=Grain.choices)
    day = models.DateField()
    grid_id = models.BigIntegerField(default=0)
    department_id = models.BigIntegerField(default=0)
    category_id = models.BigIntegerField(default=0)
    source = models.CharField(max_length=16, default="")
    reported = models.IntegerField(default=0)
    proactive = models.IntegerField(default=0)
    filed = models.IntegerField(default=0)
    due = models.IntegerField(default=0)
    due_closed = models.IntegerField(default=0)
    due_on_time = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    handling_count = models.IntegerField(default=0)
    handling_minutes = models.BigIntegerField(default=0)
    h00 = models.IntegerField(default=0)
    h01 = models.IntegerField(default=0)
    h02 = models.IntegerField(default=0)
    h03 = models.IntegerField(default=0)
    h04 = models.IntegerField(default=0)
    h05 = models.IntegerField(default=0)
    h06 = models.IntegerField(default=0)
    h07 = models.IntegerField(default=0)
    h08 = models.IntegerField(default=0)
    h09 = models.IntegerField(default=0)
    h10 = models.IntegerField(default=0)
    h11 = models.IntegerField(default=0)
    h12 = models.IntegerField(default=0)
    h13 = models.IntegerField(default=0)
    h14 = models.IntegerField(default=0)
    h15 = models.IntegerField(default=0)
    h16 = models.IntegerField(default=0)
    h17 = models.IntegerField(default=0)
    h18 = models.IntegerField(default=0)
    h19 = models.IntegerField(default=0)
    h20 = models.IntegerField(default=0)
    h21 = models.IntegerField(default=0)
    h22 = models.IntegerField(default=0)
    h23 = models.IntegerField(default=0)
    handled = models.IntegerField(default=0)
    reworked = models.IntegerField(default=0)
    dispatches = models.IntegerField(default=0)
    returns = models.IntegerField(default=0)
    rated = models.IntegerField(default=0)
    satisfied = models.IntegerField(default=0)
    basically = models.IntegerField(default=0)
    overdue = models.IntegerField(default=0)
    supervised = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "day", "grid_id", "department_id", "category_id", "source"],
                name="rollup_key",
            )
        ]
        verbose_name = _("每日统计")
        verbose_name_plural = _("每日统计")

    def __str__(self) -> str:
        return f"{self.grain} {self.day} {self.grid_id}/{self.department_id}/{self.category_id}/{self.source}"
