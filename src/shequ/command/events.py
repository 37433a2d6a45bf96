"""Events the instructions emit (the live feed shows them; docs/command.md). Small and JSON-safe."""

from __future__ import annotations

import dataclasses

from shequ.core.outbox import DomainEvent, event_type


@event_type("command.instruction")
@dataclasses.dataclass(frozen=True, kw_only=True)
class InstructionEvent(DomainEvent):
    """An instruction was sent, acknowledged, reported on, escalated or closed (`what`).

    Scope fields as every event of the feed has them: `grid_id`, `department_id` (the recipient
    department) and `user_id` (the recipient person)."""

    instruction_id: int
    what: str  # sent | acknowledged | reported | escalated | closed
    case_id: int | None
    grid_id: int | None
    department_id: int | None
    user_id: int | None
    title: str
    level: int
    urgency: str
    at: str  # ISO 8601
