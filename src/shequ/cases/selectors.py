"""Reads of the case loop, always through the caller's data scope (ARCHITECTURE §7, docs/cases.md
"Reads"). A case outside the scope is simply not found: the caller answers 404, revealing nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shequ.accounts.models import Department, Role
from shequ.cases.models import (
    OPEN_STATES,
    STATE_KIND,
    Case,
    CaseState,
    Category,
    Evidence,
    HistoryEntry,
    Question,
    RoutingRule,
)
from shequ.cases.services.machine import COMMAND, Action
from shequ.core.audit import audit
from shequ.grids.models import Grid
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


def overdue_q(now: dt.datetime | None = None) -> Q:
    """超期: open cases past their running stage's due now (`Case.is_overdue` for one row). Lists
    do not wait for the deadline sweep's `overdue_at` to show it."""
    return Q(state__in=OPEN_STATES, due_at__lt=now or timezone.now())


def filter_cases(
    qs: QuerySet[Case],
    *,
    state: str | None = None,
    state_kind: str | None = None,
    source: str | None = None,
    category_id: int | None = None,
    grid: Grid | None = None,
    department_code: str | None = None,
    overdue: bool | None = None,
    supervised: bool | None = None,
    created_from: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
    text: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> QuerySet[Case]:
    """The list filters of the pages and the API, on a scoped queryset; None leaves a filter out.
    A major class matches its subclasses, a grid its subtree (the caller has checked the grid is
    visible), `text` the number, title, description or address."""
    if state:
        qs = qs.filter(state=state)
    if state_kind:
        qs = qs.filter(state__in=[s for s, k in STATE_KIND.items() if k == state_kind])
    if source:
        qs = qs.filter(source=source)
    if category_id is not None:
        qs = qs.filter(Q(category_id=category_id) | Q(category__parent_id=category_id))
    if grid is not None:
        qs = qs.filter(grid__path__startswith=grid.path)
    if department_code is not None:
        qs = qs.filter(department__code=department_code)
    if overdue is not None:
        qs = qs.filter(overdue_q()) if overdue else qs.exclude(overdue_q())
    if supervised is not None:
        qs = qs.filter(supervision_level__gt=0) if supervised else qs.filter(supervision_level=0)
    if created_from is not None:
        qs = qs.filter(created_at__gte=created_from)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    if text:
        qs = qs.filter(
            Q(number__icontains=text)
            | Q(title__icontains=text)
            | Q(description__icontains=text)
            | Q(address__icontains=text)
        )
    if bbox is not None:
        min_lon, min_lat, max_lon, max_lat = bbox
        qs = qs.filter(lon__gte=min_lon, lon__lte=max_lon, lat__gte=min_lat, lat__lte=max_lat)
    return qs


# A reporter sees their own photos and the result; not the verifier's or a camera's snapshots.
RESIDENT_PHOTOS = frozenset({Evidence.Kind.REPORT, Evidence.Kind.RESULT})


def photos_for(user: Any, case: Case) -> QuerySet[Evidence]:
    """The photos of a case (already in the user's scope) that this user may see, oldest first."""
    qs = Evidence.objects.filter(case=case)
    if _role(user) == Role.RESIDENT:
        qs = qs.filter(kind__in=RESIDENT_PHOTOS)
    return qs.order_by("uploaded_at", "pk")


def access_photo(user: Any, case_pk: int, evidence_pk: int) -> Evidence | None:
    """One photo of a case if the user may see the case and the photo, else None (404)."""
    case = access_case(user, case_pk)
    return None if case is None else photos_for(user, case).filter(pk=evidence_pk).first()


# What a reporter reads in their case's history: the acts that tell them where it stands, with no
# names of the people who worked on it (the department is named, the rest is "the community").
REPORTER_ACTS = frozenset(
    {
        Action.REPORT,
        Action.FILE,
        Action.REJECT,
        Action.DISPATCH,
        Action.ACCEPT,
        Action.FEEDBACK,
        Action.VERIFY_OK,
        Action.VERIFY_FAIL,
        Action.CALLBACK,
        Action.MERGE,
        Action.REOPEN,
        Action.HANDLE_ON_THE_SPOT,
    }
)
# Reasons a reporter reads: why it was not filed, what was done, their own words.
REPORTER_REASONS = frozenset({Action.REJECT, Action.FEEDBACK, Action.CALLBACK, Action.HANDLE_ON_THE_SPOT})
COMMUNITY = _("社区综合治理中心")


def history_for(user: Any, case: Case) -> list[HistoryEntry]:
    """A case's history (already in the user's scope) as this user may read it, oldest first,
    with the photos they may see attached: a resident reads `reporter_history`, others all of it."""
    if _role(user) == Role.RESIDENT:
        return reporter_history(case)
    photos = Prefetch("attachments", queryset=Evidence.objects.order_by("pk"))
    return list(HistoryEntry.objects.filter(case=case).prefetch_related(photos).order_by("at", "pk"))


def reporter_history(case: Case) -> list[HistoryEntry]:
    """The history as its reporter reads it (unsaved rows): the acts of REPORTER_ACTS; `actor_name`
    "您", the department (accept, feedback) or the community; `reason` only of REPORTER_REASONS;
    `detail` only the dispatched department's name (`department_name`); photos of RESIDENT_PHOTOS."""
    photos = Prefetch(
        "attachments", queryset=Evidence.objects.filter(kind__in=RESIDENT_PHOTOS).order_by("pk")
    )
    entries = list(HistoryEntry.objects.filter(case=case).prefetch_related(photos).order_by("at", "pk"))
    # The department of each dispatch, as it was (a case returned and sent elsewhere names both).
    ids = {e.detail.get("department") for e in entries if e.action == Action.DISPATCH.value}
    departments = dict(Department.objects.filter(pk__in=ids - {None}).values_list("pk", "name"))
    rows, department = [], ""
    for entry in entries:
        try:
            act = Action(entry.action)
        except ValueError:
            continue
        if act == Action.DISPATCH:
            department = departments.get(entry.detail.get("department"), "")
        if act not in REPORTER_ACTS:
            continue
        if entry.actor_id is not None and entry.actor_id == case.reporter_id:
            entry.actor_name = str(_("您"))
        elif act in {Action.ACCEPT, Action.FEEDBACK} and department:
            entry.actor_name = department
        else:
            entry.actor_name = str(COMMUNITY)
        entry.actor = None
        if act not in REPORTER_REASONS:
            entry.reason = ""
        entry.detail = {"department_name": department} if act == Action.DISPATCH and department else {}
        rows.append(entry)
    return rows


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
                mine.filter(overdue_q(), state__in=working).order_by("due_at", "pk"),
            ),
        ]
    if role == Role.GRID_WORKER:
        grids = visible_grid_ids(user)
        handled = Case.objects.filter(state=CaseState.HANDLED).select_related(*related)
        if grids is not None:
            handled = handled.filter(grid_id__in=grids)
        return [Inbox("to_verify", _("待核查"), handled.order_by("due_at", "pk"))]
    return []


# --- the public's view (Open311 GeoReport v2, docs/open311.md) -----------------------------------
# What anyone may read without an account: cases of the sources the deployment publishes, once the
# command center has accepted or answered them (a report not yet filed is known to its sender only,
# by its Open311 token). Never the reporter, never a person's name, never internal notes.


def public_cases(sources: Iterable[str]) -> QuerySet[Case]:
    """Cases the public may read: of `sources`, past the report (filed, or rejected or merged)."""
    return (
        Case.objects.filter(source__in=list(sources))
        .exclude(state=CaseState.REPORTED)
        .select_related("category", "category__parent", "department", "duplicate_of")
    )


@dataclasses.dataclass(frozen=True)
class PublicUpdate:
    """One step of a case as the public reads it: the state after it and a fixed sentence."""

    id: int
    case_id: int
    number: str
    state: str
    at: dt.datetime
    action: str
    text: str


def _public_text(entry: HistoryEntry, departments: dict[int, str], public_numbers: set[str]) -> str:
    act = Action(entry.action)
    if act == Action.DISPATCH:
        name = departments.get(entry.detail.get("department"), "")
        return str(_("已派遣至{department}")).format(department=name) if name else str(act.label)
    if act == Action.MERGE and entry.detail.get("into"):
        if entry.detail["into"] not in public_numbers:  # a camera's case, say: not named to the public
            return str(_("与其他案件重复, 已合并"))
        return str(_("与 {number} 重复, 已合并")).format(number=entry.detail["into"])
    if act == Action.VERIFY_FAIL:
        return str(_("核查未通过, 返回处置"))
    if entry.to_state:
        return f"{act.label}: {CaseState(entry.to_state).label}"
    return str(act.label)


def public_updates(
    cases: QuerySet[Case], *, since: dt.datetime, until: dt.datetime
) -> QuerySet[HistoryEntry]:
    """The history lines of `cases` (from `public_cases`) that the public reads, oldest first:
    the acts that tell where a case stands (REPORTER_ACTS) that changed its state, and callbacks."""
    acts = [a.value for a in REPORTER_ACTS]
    return (
        HistoryEntry.objects.filter(case__in=cases, action__in=acts, at__gte=since, at__lte=until)
        .filter(~Q(to_state="") | Q(action=Action.CALLBACK.value))
        .select_related("case")
        .order_by("at", "pk")
    )


def public_update_rows(entries: Iterable[HistoryEntry], sources: Iterable[str]) -> list[PublicUpdate]:
    """History lines (from `public_updates`) as the public reads them; a merge names the case
    merged into only when the public may read it (of `sources`, as `public_cases`)."""
    entries = list(entries)
    ids = {e.detail.get("department") for e in entries if e.action == Action.DISPATCH.value}
    departments = dict(Department.objects.filter(pk__in=ids - {None}).values_list("pk", "name"))
    into = {str(e.detail["into"]) for e in entries if e.action == Action.MERGE.value and e.detail.get("into")}
    public_numbers = (
        set(public_cases(sources).filter(number__in=into).values_list("number", flat=True)) if into else set()
    )
    return [
        PublicUpdate(
            id=e.pk,
            case_id=e.case_id,
            number=e.case.number,
            state=e.to_state or e.from_state,
            at=e.at,
            action=e.action,
            text=_public_text(e, departments, public_numbers),
        )
        for e in entries
    ]


def files_on_report(category: Category) -> bool:
    """Whether every report of the category is filed at once by a routing rule (one for the
    category or for all, with no grid and no time window): Open311 calls such a service realtime."""
    return RoutingRule.objects.filter(
        Q(category=category) | Q(category__isnull=True),
        is_active=True,
        auto_file=True,
        grid__isnull=True,
        starts_at__isnull=True,
        department__is_active=True,
    ).exists()


@dataclasses.dataclass(frozen=True)
class Answer:
    """An answer to a category's extra question, as the case page shows it."""

    prompt: str
    value: str


def answers_for(case: Case) -> list[Answer]:
    """The case's answers to its category's extra questions (asked by Open311 clients), in the
    questions' order, a choice shown by its name; an answer whose question has since gone is shown
    under its code."""
    if not case.answers:
        return []
    questions = {q.code: q for q in Question.objects.filter(category=case.category)} if case.category else {}
    rows: list[tuple[int, str, Answer]] = []
    for code, raw in case.answers.items():
        question = questions.get(code)
        names = {str(c.get("key")): str(c.get("name")) for c in question.choices} if question else {}
        values = raw if isinstance(raw, list) else [raw]
        text = "、".join(names.get(str(v), str(v)) for v in values)
        order = question.order if question else 10**6
        rows.append((order, code, Answer(question.prompt if question else code, text)))
    return [answer for _order, _code, answer in sorted(rows, key=lambda r: (r[0], r[1]))]
