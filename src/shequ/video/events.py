"""The events the video app emits (registered by name; never rename one)."""

from __future__ import annotations

import dataclasses

from shequ.core.outbox import DomainEvent, event_type


@event_type("video.camera_status")
@dataclasses.dataclass(frozen=True, kw_only=True)
class CameraStatusChanged(DomainEvent):
    camera_id: int
    status: str
    previous: str
    grid_id: int | None = None


@event_type("video.alert_raised")
@dataclasses.dataclass(frozen=True, kw_only=True)
class AlertRaised(DomainEvent):
    alert_id: int
    camera_id: int
    kind: str
    grid_id: int | None = None


@event_type("video.alert_handled")
@dataclasses.dataclass(frozen=True, kw_only=True)
class AlertHandled(DomainEvent):
    alert_id: int
    camera_id: int
    state: str
    case_id: int | None = None
    grid_id: int | None = None
