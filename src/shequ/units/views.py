"""Pages of units (docs/units.md): the mobile duty page of grid workers and department handlers.

The status buttons are a plain form (works without JavaScript); while on duty with consent,
frontend/src/duty.ts posts the phone's positions to /api/units/positions/.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from shequ.core.errors import DomainError
from shequ.units import services
from shequ.units.models import Status
from shequ.web import access


@access.require(services.is_field_user)
def duty(request: HttpRequest) -> HttpResponse:
    """上岗/位置: GET shows the status; POST `status` (and the consent box) sets it."""
    user: Any = request.user
    status = 200
    if request.method == "POST":
        wanted = request.POST.get("status", "")
        consent = request.POST.get("consent") == "on"
        try:
            services.set_status(user, wanted, consent=consent)
        except DomainError as exc:
            messages.error(request, exc.message)
            status = exc.status
        else:
            return redirect(reverse("web:units:duty"))
    duty_row = services.duty_of(user)
    context = {
        "nav": "duty",
        "duty": duty_row,
        "statuses": [(s.value, s.label) for s in Status],
        "min_interval_s": int(services.MIN_INTERVAL.total_seconds()),
    }
    return render(request, "units/duty.html", context, status=status)
