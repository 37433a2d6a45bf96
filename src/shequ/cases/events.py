"""Events the case loop emits. Small and JSON-safe: a listener that needs more reads the case."""

from __future__ import annotations

import dataclasses

from shequ.core.outbox import DomainEvent, event_type


@event_type("cases.transitioned")
@dataclasses.dataclass(frozen=True, kw_only=True)
class CaseTransitioned(DomainEvent):
    """A case changed state (reported, filed, dispatched, accepted, returned, handled, closed, ...).
    `action` is the act (services.machine.Action); a report has `from_state` ""."""

    case_id: int
    number: str
    action: str
    from_state: str
    to_state: str
    grid_id: int | None
    department_id: int | None
    urgency: str
    at: str  # ISO 8601


@event_type("cases.deadline")
@dataclasses.dataclass(frozen=True, kw_only=True)
class CaseDeadline(DomainEvent):
    """The deadline sweep found a case near (`warning`) or past (`overdue`) its stage's time limit,
    or raised its supervision (`supervised`, with the new `level`)."""

    case_id: int
    number: str
    what: str  # warning | overdue | supervised
    stage: str
    due_at: str
    level: int
    grid_id: int | None
    department_id: int | None
