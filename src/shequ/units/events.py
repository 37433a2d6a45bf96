"""Events units emit (docs/units.md)."""

from __future__ import annotations

import dataclasses

from shequ.core.outbox import DomainEvent, event_type


@event_type("units.position")
@dataclasses.dataclass(frozen=True, kw_only=True)
class UnitPosition(DomainEvent):
    """A unit's status changed, or it moved more than 20 m, or a minute passed since its last event
    (not every post). `grid_id` is the grid of the point, else the unit's home grid, so that the
    feed can scope it; `lon`/`lat` are null when the unit shares no position (off duty)."""

    user_id: int
    grid_id: int | None
    department_id: int | None
    lon: float | None
    lat: float | None
    status: str
    at: str  # ISO 8601, Asia/Shanghai
