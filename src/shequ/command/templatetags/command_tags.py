"""`{% case_instructions case %}`: the instructions about a case, for the case page (cases/
case_detail.html includes it), with a form to send one for those who may. The case page needs
pass nothing: the tag reads through command.selectors with the request's user."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from shequ.command import selectors, services
from shequ.command.forms import SendForm

register = template.Library()


def case_instructions_context(
    request: HttpRequest, case: Any, *, form: SendForm | None = None
) -> dict[str, Any]:
    user: Any = request.user
    sender = services.may_send(user)
    if sender and form is None:
        form = SendForm(user=user, initial={"case": case.pk, "title": case.title or case.number})
    return {
        "case": case,
        "rows": selectors.rows(selectors.for_case(user, case)),
        "form": form if sender else None,
    }


@register.simple_tag(takes_context=True)
def case_instructions(context: template.Context, case: Any) -> SafeString:
    request = context.get("request")
    if request is None or case is None:
        return SafeString("")
    html = render_to_string(
        "command/_case_instructions.html", case_instructions_context(request, case), request=request
    )
    return SafeString(html)
