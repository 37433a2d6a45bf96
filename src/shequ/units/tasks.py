"""Background work of units: the purge of positions past their retention (core.periodic, enqueued by
`shequ serve`); `shequ purge-positions` runs it by hand."""

from __future__ import annotations

import datetime as dt

from django.tasks import task

from shequ.core import periodic
from shequ.units.services import purge_positions

PURGE_EVERY = dt.timedelta(hours=1)


@periodic.every(PURGE_EVERY)
@task(queue_name="default")
def purge_positions_task() -> dict[str, int]:
    """Delete positions older than UNITS_POSITION_RETENTION_DAYS (services.purge_positions)."""
    return purge_positions()
