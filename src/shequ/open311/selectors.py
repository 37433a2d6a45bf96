"""Reads of the Open311 API: the services (case categories), keys, tokens, and the public's cases
and their history through `cases.selectors` (what anyone may read, docs/open311.md "Privacy")."""

from __future__ import annotations

import hashlib
import re

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from shequ.cases import selectors as case_selectors
from shequ.cases.models import Case, CaseState, Category, Question
from shequ.open311.models import ApiKey, Submission

SERVICE_CODE = re.compile(r"(event|component)-([0-9A-Za-z]{1,12})")


def service_code(category: Category) -> str:
    """A category's service_code: kind and code, since 部件 and 事件 codes overlap (0101)."""
    return f"{category.kind}-{category.code}"


def services() -> QuerySet[Category]:
    """The services offered: the active subclasses, with their active questions."""
    questions = Prefetch(
        "questions", queryset=Question.objects.filter(is_active=True).order_by("order", "pk")
    )
    return (
        Category.objects.filter(parent__isnull=False, parent__is_active=True, is_active=True)
        .select_related("parent")
        .prefetch_related(questions)
        .order_by("kind", "code")
    )


def service(code: str) -> Category | None:
    """The service of a service_code, or None."""
    match = SERVICE_CODE.fullmatch(code)
    if match is None:
        return None
    return services().filter(kind=match.group(1), code=match.group(2)).first()


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def key_for(raw: str) -> ApiKey | None:
    """The key a client sent (active or revoked), or None."""
    if not raw or len(raw) > 200:
        return None
    return ApiKey.objects.filter(key_hash=hash_key(raw)).first()


def submission(token: str) -> Submission | None:
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,40}", token):
        return None
    return Submission.objects.select_related("case", "case__duplicate_of").filter(token=token).first()


def public_cases() -> QuerySet[Case]:
    """The cases anyone may read through Open311 (SHEQU_OPEN311_PUBLIC_SOURCES)."""
    return case_selectors.public_cases(settings.OPEN311_PUBLIC_SOURCES)


def public_number(case: Case) -> str | None:
    """The service_request_id a client follows: the case's number once the command center has
    taken it up (None while it is only reported); a report merged into another follows that one."""
    master = public_master(case) if case.state == CaseState.MERGED else None
    if master is not None:
        case = master  # the master may itself be waiting to be filed
    if case.state == CaseState.REPORTED:
        return None
    return case.number


def public_master(case: Case) -> Case | None:
    """The case a merged report joined, when the public may read it: a report merged into a
    camera's case must not name that case (GET would answer 404 for it anyway)."""
    master = case.duplicate_of
    if master is None or master.source not in settings.OPEN311_PUBLIC_SOURCES:
        return None
    return master


def media_urls(case_ids: list[int]) -> dict[int, str]:
    """The media_url each case was posted with (Open311 submissions only)."""
    rows = Submission.objects.filter(case_id__in=case_ids).exclude(media_url="")
    return dict(rows.values_list("case_id", "media_url"))
