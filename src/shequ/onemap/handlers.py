"""What the one map does when events arrive: its cached layers are stale (cache.py)."""

from __future__ import annotations

from typing import Any

from shequ.cases.events import CaseDeadline, CaseTransitioned
from shequ.core.models import Event
from shequ.core.outbox import handles_batch
from shequ.grids.events import GridsChanged
from shequ.onemap import cache


@handles_batch(CaseTransitioned, CaseDeadline, GridsChanged)
def bump_layer_version(events: list[Any], rows: list[Event]) -> None:
    """One bump per delivered batch, however many cases it moved (idempotent: a replay bumps again,
    which only makes the cache miss once more)."""
    cache.bump()
