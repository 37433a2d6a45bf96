"""Cases for the workflow tests, made as the application makes them: reported through
`intake.report_case`, then moved by the workflow services up to the state a test needs.

`Flow` holds the actors (from the `case_users` fixture), a test category with known time limits,
and `report()` / `to_state()`. The `flow` fixture (conftest.py) builds one.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from django.db.models import Model

from shequ.accounts.models import Department
from shequ.cases.models import (
    Case,
    CaseState,
    Category,
    Evidence,
    Extension,
    HistoryEntry,
    LimitUnit,
    Source,
    Stage,
    Supervision,
    TimeLimit,
)
from shequ.cases.services import intake, workflow
from shequ.core.models import AuditEntry, Event

# The test category's limits: 2 working hours to file, 5 working days to handle, ...
LIMITS = {
    Stage.FILE: (2, LimitUnit.HOURS),
    Stage.DISPATCH: (1, LimitUnit.HOURS),
    Stage.ACCEPT: (2, LimitUnit.HOURS),
    Stage.HANDLE: (5, LimitUnit.DAYS),
    Stage.VERIFY: (1, LimitUnit.DAYS),
    Stage.CALLBACK: (3, LimitUnit.DAYS),
}
# South-west corners of the unit grids of `two_communities` (each 0.01° square).
CORNERS = {"grid11": (103.60, 36.50), "grid12": (103.61, 36.50), "grid21": (103.62, 36.50)}


def make_category(code: str = "9001", name: str = "测试堆物", limits: dict[str, Any] = LIMITS) -> Category:
    """A subclass with known limits; duplicates only within 1 m, so test reports never merge."""
    major, _ = Category.objects.get_or_create(
        kind=Category.Kind.EVENT, code=code[:2], defaults={"name": "测试大类"}
    )
    category = Category.objects.create(
        kind=Category.Kind.EVENT, code=code, name=name, parent=major, duplicate_radius_m=1
    )
    TimeLimit.objects.bulk_create(
        TimeLimit(category=category, stage=stage, amount=amount, unit=unit)
        for stage, (amount, unit) in limits.items()
    )
    return category


@dataclasses.dataclass
class Flow:
    users: dict[str, Any]
    departments: dict[str, Department]
    category: Category
    _spot: itertools.count[int] = dataclasses.field(default_factory=itertools.count)

    @property
    def operator(self) -> Any:
        return self.users["operator"]

    @property
    def handler(self) -> Any:
        return self.users["handler"]

    @property
    def department(self) -> Department:
        return self.departments["enforcement"]

    def report(self, *, grid: str = "grid11", actor: Any = None, **kwargs: Any) -> Case:
        """A resident's report in the grid, at a point of its own (no duplicate of another)."""
        i = next(self._spot)
        lon, lat = CORNERS[grid]
        kwargs.setdefault("category", self.category)
        case, created = intake.report_case(
            actor=actor or self.users["resident"],
            source=Source.RESIDENT,
            description=f"楼道堆放杂物 {i}",
            lon=lon + 0.0005 + (i % 18) * 0.0005,
            lat=lat + 0.0005 + (i // 18 % 18) * 0.0005,
            **kwargs,
        )
        assert created and case.state == CaseState.REPORTED
        return case

    def to_state(self, state: str, case: Case | None = None, **report: Any) -> Case:
        """A case brought to `state` by the services, the way a real one gets there."""
        case = case or self.report(**report)
        op = self.operator
        if state == CaseState.REJECTED:
            return workflow.reject_case(case, actor=op, reason="invalid")
        if state == CaseState.MERGED:
            return workflow.merge_case(case, self.report(), actor=op)
        steps = [
            (CaseState.FILED, lambda: workflow.file_case(case, actor=op)),
            (CaseState.DISPATCHED, lambda: workflow.dispatch_case(case, self.department, actor=op)),
            (CaseState.IN_PROGRESS, lambda: workflow.accept_case(case, actor=self.handler)),
            (CaseState.HANDLED, lambda: workflow.feedback_case(case, actor=self.handler, result="已清理")),
            (CaseState.CLOSED, lambda: workflow.verify_case(case, actor=op, ok=True)),
        ]
        for reached, step in steps:
            if case.state == state:
                break
            step()
            assert case.state == reached
        assert case.state == state, (case.state, state)
        return case

    def pending_extension(self, case: Case) -> Extension:
        """The case's pending request for more time, asked by its handler."""
        return workflow.request_extension(case, actor=self.handler, amount=2, unit="days", reason="材料未到")


def snapshot(case: Case) -> dict[str, Any]:
    """Everything an act could change: the case's row and what hangs off it, and the logs."""

    def rows(model: type[Model], **filters: Any) -> list[dict[str, Any]]:
        return list(model._default_manager.filter(**filters).order_by("pk").values())

    return {
        "case": Case.objects.filter(pk=case.pk).values().get(),
        "history": rows(HistoryEntry, case=case),
        "extensions": rows(Extension, case=case),
        "supervisions": rows(Supervision, case=case),
        "evidence": rows(Evidence, case=case),
        "events": Event.objects.count(),
        "audit": AuditEntry.objects.count(),
    }
