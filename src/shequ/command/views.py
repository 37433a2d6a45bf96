"""Pages of instructions under /command/ (docs/command.md): the command center's list with ages and
escalation, the recipient's inbox, one instruction with its acts, and sending one (also from the
case page's partial, over HTMX).

Thin: check the form, call one service, redirect; a refused act (DomainError) is shown with its
status. Every read goes through command.selectors: an instruction out of scope answers 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from shequ.accounts.models import Role
from shequ.cases import selectors as case_selectors
from shequ.command import selectors, services
from shequ.command.forms import ACT_FORMS, ACT_LABELS, STATE_TABS, SendForm
from shequ.command.models import InstructionState
from shequ.core.errors import DomainError
from shequ.web import access

PAGE_SIZE = 50


def may_command(user: Any) -> bool:
    return services.may_send(user)


def may_receive(user: Any) -> bool:
    role = access.role_of(user)
    return role is not None and role != Role.RESIDENT


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _pk(ref: str) -> int:
    if not (ref.isascii() and ref.isdigit() and len(ref) <= 18):
        raise Http404
    return int(ref)


# --- the command center ---------------------------------------------------------------------------


def _center_context(request: HttpRequest, form: SendForm | None = None) -> dict[str, Any]:
    user: Any = request.user
    state = request.GET.get("state", "")
    state = state if state in InstructionState.values else ""
    overdue = request.GET.get("overdue") == "1"
    qs = selectors.filter_instructions(
        selectors.command_list(user), state=state or None, overdue=True if overdue else None
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    return {
        "nav": "command",
        "page": page,
        "rows": selectors.rows(page, now),
        "tabs": STATE_TABS,
        "state": state,
        "overdue_only": overdue,
        "overdue_count": selectors.instructions_for(user).filter(selectors.overdue_q(now)).count(),
        "form": form or SendForm(user=user),
    }


@access.require(may_command)
def center(request: HttpRequest) -> HttpResponse:
    return render(request, "command/center.html", _center_context(request))


@require_POST
@access.require(may_command)
def send(request: HttpRequest) -> HttpResponse:
    """Send from the center's form, or (HTMX, with `case`) from a case page's partial."""
    user: Any = request.user
    form = SendForm(request.POST, user=user)
    error, status = "", 200
    instruction = None
    if form.is_valid():
        data = form.cleaned_data
        case = None
        if data["case"] is not None:
            case = case_selectors.cases_for(user).filter(pk=data["case"]).first()
            if case is None:
                raise Http404
        try:
            instruction, _created = services.send_instruction(
                actor=user,
                title=data["title"],
                text=data["text"],
                urgency=data["urgency"],
                department=data["department"],
                recipient=data["recipient"],
                grid=data["grid"],
                case=case,
                idempotency_key=data["idempotency_key"],
            )
        except DomainError as exc:
            error, status = exc.message, exc.status
            if exc.field in form.fields:
                form.add_error(exc.field, exc.message)
    else:
        error, status = _("请检查填写的内容"), 422
    case_pk = request.POST.get("case", "")
    if _is_htmx(request) and case_pk.isascii() and case_pk.isdigit() and len(case_pk) <= 18:
        case = case_selectors.cases_for(user).filter(pk=int(case_pk)).first()
        if case is None:
            raise Http404
        from shequ.command.templatetags.command_tags import case_instructions_context

        context = case_instructions_context(request, case, form=None if status == 200 else form)
        context |= {"error": error, "done": _("指令已下达") if status == 200 else ""}
        return render(request, "command/_case_instructions.html", context, status=status)
    if status == 200 and instruction is not None:
        messages.success(request, _("指令已下达: %(title)s") % {"title": instruction.title})
        if instruction.case is not None:
            return redirect("web:cases:detail", ref=instruction.case.number)
        return redirect("web:command:center")
    context = _center_context(request, form) | {"error": error}
    return render(request, "command/center.html", context, status=status)


# --- the recipient's inbox ------------------------------------------------------------------------


@access.require(may_receive)
def inbox(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    done = request.GET.get("tab") == "done"
    qs = selectors.inbox_for(user, include_done=done)
    if done:
        qs = qs.exclude(state__in=[InstructionState.SENT, InstructionState.ACKNOWLEDGED])
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "command_inbox",
        "page": page,
        "rows": selectors.rows(page),
        "tab": "done" if done else "open",
        "open_count": selectors.inbox_for(user).count(),
    }
    # The table refreshes itself (hx-trigger every few seconds): a new instruction shows up.
    template = "command/_inbox_rows.html" if _is_htmx(request) else "command/inbox.html"
    return render(request, template, context)


# --- one instruction ------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, pk: int, forms: dict[str, Any] | None = None) -> dict[str, Any]:
    user: Any = request.user
    qs = selectors.instructions_for(user).select_related(*selectors.RELATED, "closed_by")
    instruction = qs.prefetch_related("escalations__by").filter(pk=pk).first()
    if instruction is None:
        raise Http404
    forms = forms or {}
    now = timezone.now()
    acts = [
        {
            "act": act,
            "label": ACT_LABELS[act],
            "form": forms.get(act) or ACT_FORMS[act](prefix=act),
            "url": reverse("web:command:act", args=[instruction.pk, act]),
        }
        for act in services.allowed_acts(user, instruction)
    ]
    may_see_case = (
        instruction.case_id is not None
        and case_selectors.cases_for(user).filter(pk=instruction.case_id).exists()
    )
    return {
        "nav": "command" if may_command(user) else "command_inbox",
        "ins": instruction,
        "row": selectors.rows([instruction], now)[0],
        "acts": acts,
        "may_see_case": may_see_case,
        "escalations": list(instruction.escalations.all()),
    }


@access.require(may_receive)
def detail(request: HttpRequest, ref: str) -> HttpResponse:
    return render(request, "command/detail.html", _detail_context(request, _pk(ref)))


@require_POST
@access.require(may_receive)
def act(request: HttpRequest, ref: str, act: str) -> HttpResponse:
    """One act (acknowledge, report, escalate, close) from a list or the detail page."""
    user: Any = request.user
    pk = _pk(ref)
    if act not in ACT_FORMS:
        raise Http404
    form = ACT_FORMS[act](request.POST, prefix=act)
    error, status = "", 200
    if not form.is_valid():
        error, status = _("请检查填写的内容"), 422
    else:
        data = form.cleaned_data
        try:
            with transaction.atomic():
                instruction = selectors.access_instruction(user, pk, lock=True)
                if instruction is None:
                    raise Http404
                if act == "acknowledge":
                    services.acknowledge(instruction, actor=user, note=data.get("note", ""))
                elif act == "report":
                    services.report(instruction, actor=user, text=data["text"])
                elif act == "escalate":
                    services.escalate(instruction, actor=user, reason=data["reason"], level=data.get("level"))
                else:
                    services.close(instruction, actor=user, note=data.get("note", ""))
        except DomainError as exc:
            error, status = exc.message, exc.status
            if exc.field in form.fields:
                form.add_error(exc.field, exc.message)
    if status == 200:
        messages.success(request, _("已办理: %(act)s") % {"act": ACT_LABELS[act]})
        back = request.POST.get("next", "")
        if back and url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=False):
            return redirect(back)
        return redirect("web:command:detail", ref=pk)
    context = _detail_context(request, pk, {act: form}) | {"error": error}
    return render(request, "command/detail.html", context, status=status)
