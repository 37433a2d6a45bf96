"""The events the drones app emits (registered by name; never rename one)."""

from __future__ import annotations

import dataclasses

from shequ.core.outbox import DomainEvent, event_type


@event_type("drones.flight_state")
@dataclasses.dataclass(frozen=True, kw_only=True)
class FlightStateChanged(DomainEvent):
    flight_id: int
    drone_id: int
    state: str
    previous: str


@event_type("drones.position")
@dataclasses.dataclass(frozen=True, kw_only=True)
class DronePosition(DomainEvent):
    """Throttled: at most one per drone every few seconds (the live map's moving marker)."""

    drone_id: int
    flight_id: int | None
    lon: float
    lat: float
    alt: float | None = None
    heading: float | None = None
    grid_id: int | None = None


@event_type("drones.finding_raised")
@dataclasses.dataclass(frozen=True, kw_only=True)
class FindingRaised(DomainEvent):
    finding_id: int
    photo_id: int
    kind: str
    grid_id: int | None = None


@event_type("drones.finding_handled")
@dataclasses.dataclass(frozen=True, kw_only=True)
class FindingHandled(DomainEvent):
    finding_id: int
    state: str
    case_id: int | None = None
    grid_id: int | None = None
