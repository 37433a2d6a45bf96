"""Events the grids app emits."""

from __future__ import annotations

import dataclasses

from shequ.core.outbox import DomainEvent, event_type


@event_type("grids.changed")
@dataclasses.dataclass(frozen=True, kw_only=True)
class GridsChanged(DomainEvent):
    """Grid polygons were created or changed: whatever is placed by location must be placed again."""

    codes: list[str]
