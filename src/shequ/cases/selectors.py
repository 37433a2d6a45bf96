"""Reads of the case loop, always through the caller's data scope (ARCHITECTURE §7, docs/cases.md
"Reads"). A case outside the scope is simply not found: the caller answers 404, revealing nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shequ.accounts.models import Role
from shequ.cases.models import Case, CaseState, HistoryEntry
from shequ.cases.services.machine import COMMAND, Action
from shequ.core.audit import audit
from shequ.grids.selectors import visible_grid_ids
from shequ.registry import identifiers

# Roles that see cases by their grids. The other area roles (emergency, services, party) work in
# their own apps and see no case here.
GRID_ROLES = frozenset({Role.ADMINISTRATOR, Role.COMMAND_OPERATOR, Role.LEADER, Role.GRID_WORKER})


def _role(user: Any) -> Role | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return Role(user.role)


def department_cases(department_id: int) -> Q:
    """Cases dispatched to a department, now or before (a case it returned stays in its sight)."""
    dispatched = HistoryEntry.objects.filter(
        action=Action.DISPATCH.value, detail__department=department_id
    ).values("case_id")
    return Q(department_id=department_id) | Q(pk__in=dispatched)


def cases_for(user: Any) -> QuerySet[Case]:
    """The cases a user may see: by their grids (administrators all; the command operator also the
    reports not located yet, which only the command center can place), a department's handlers
    those dispatched to it, a resident their own reports."""
    qs = Case.objects.all()
    role = _role(user)
    if role is None:
        return qs.none()
    if role == Role.DEPARTMENT_HANDLER:
        return qs.filter(department_cases(user.department_id)) if user.department_id else qs.none()
    if role == Role.RESIDENT:
        return qs.filter(reporter=user)
    if role not in GRID_ROLES:
        return qs.none()
    grids = visible_grid_ids(user)
    if grids is None:
        return qs
    scope = Q(grid_id__in=grids)
    if role == Role.COMMAND_OPERATOR:
        scope |= Q(grid__isnull=True)
    return qs.filter(scope)


def access_case(user: Any, pk: int, *, lock: bool = False) -> Case | None:
    """The case if the user may see it, else None (the caller answers 404). With `lock`, its row
    is locked for the caller's transaction (an act follows)."""
    qs = cases_for(user)
    if lock:
        # Lock only the case's own row (a join to lock would lock grid or department rows too).
        qs = qs.select_for_update(of=("self",))
    return qs.filter(pk=pk).first()


def reporter_view(user: Any, case: Case) -> dict[str, Any]:
    """The reporter as this user may see them: `name`, `phone`, `account` (id), `confidential`.

    A confidential reporter (举报人保密) is shown to the command center only; a phone is masked
    unless the user's role may reveal personal data, and each unmasked view is audited. The reporter
    sees their own report in full.
    """
    role = _role(user)
    own = role is not None and case.reporter_id is not None and case.reporter_id == user.pk
    hidden = case.reporter_confidential and not own and role not in COMMAND
    if hidden:
        return {"name": "", "phone": "", "account": None, "confidential": True}
    name = case.reporter_name
    if not name and case.reporter_id is not None:
        account = case.reporter
        name = (account.display_name or account.get_username()) if account else ""
    phone = case.reporter_phone
    if phone and not own:
        if role is not None and role.may_reveal_personal_data:
            audit("case.reporter_phone_view", actor=user, target=case, number=case.number)
        else:
            phone = identifiers.mask_phone(phone)
    return {
        "name": name,
        "phone": phone,
        "account": case.reporter_id,
        "confidential": case.reporter_confidential,
    }


@dataclasses.dataclass(frozen=True)
class Inbox:
    """One list of a user's inbox: `key` (to_accept, in_progress, overdue, to_verify), its title
    and the cases in it, most urgent first."""

    key: str
    label: Any  # a lazy translation
    cases: QuerySet[Case]


def inbox_for(user: Any) -> list[Inbox]:
    """What waits for a user: a department handler the department's cases to accept, in progress,
    and overdue; a grid worker the handled cases in their grids, to verify. Others: none."""
    role = _role(user)
    related = ("category", "grid", "department", "assignee")
    if role == Role.DEPARTMENT_HANDLER and user.department_id:
        mine = Case.objects.filter(department_id=user.department_id).select_related(*related)
        working = (CaseState.DISPATCHED, CaseState.IN_PROGRESS)
        return [
            Inbox("to_accept", _("待签收"), mine.filter(state=CaseState.DISPATCHED).order_by("due_at", "pk")),
            Inbox(
                "in_progress", _("处置中"), mine.filter(state=CaseState.IN_PROGRESS).order_by("due_at", "pk")
            ),
            Inbox(
                "overdue",
                _("已超期"),
                mine.filter(state__in=working, due_at__lt=timezone.now()).order_by("due_at", "pk"),
            ),
        ]
    if role == Role.GRID_WORKER:
        grids = visible_grid_ids(user)
        handled = Case.objects.filter(state=CaseState.HANDLED).select_related(*related)
        if grids is not None:
            handled = handled.filter(grid_id__in=grids)
        return [Inbox("to_verify", _("待核查"), handled.order_by("due_at", "pk"))]
    return []
