"""The append-only audit log: every write and every sensitive read (ARCHITECTURE §7).

Call `audit()` inside the same transaction as the change it records, so one never lands without
the other. The request's client address and id come from `RequestContextMiddleware`.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from django.db import models

from shequ.core.models import AuditEntry


@dataclass(frozen=True)
class RequestContext:
    ip: str | None
    request_id: str


current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "shequ_request", default=None
)


def audit(action: str, *, actor: Any, target: models.Model | None = None, **detail: Any) -> AuditEntry:
    ctx = current_request.get()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry.objects.create(
        actor=actor if is_user else None,
        actor_name=actor.get_username() if is_user else str(actor or "system"),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        detail=detail,
        ip=ctx.ip if ctx else None,
        request_id=ctx.request_id if ctx else "",
    )
