"""`{% nearest_units case %}`: the nearest available units beside a case, for the command center."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from shequ.cases.models import OPEN_STATES
from shequ.units import selectors

register = template.Library()


@register.inclusion_tag("units/_nearest.html", takes_context=True)
def nearest_units(context: template.Context, case: Any, limit: int = 5) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    show = user is not None and selectors.is_command_viewer(user) and case.state in OPEN_STATES
    units = selectors.nearest_units(user, case, limit) if show else []
    for unit in units:
        d = unit["distance_m"]
        unit["distance_label"] = (
            _("{n} 公里").format(n=f"{d / 1000:.1f}") if d >= 1000 else _("{n} 米").format(n=f"{d:.0f}")
        )
    return {"show": show, "located": case.lon is not None, "units": units}
