"""Background work of the drones app: scheduled patrols, photo analysis, folder watch (docs/drones.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.tasks import task

from shequ.core import periodic
from shequ.drones.services import (
    missions,
    photos,  # registers the photo analysis's job runner
)

INBOX_EVERY = dt.timedelta(minutes=1)
SCHEDULE_EVERY = dt.timedelta(minutes=1)  # a routine patrol's flight appears within a minute of its time


@periodic.every(INBOX_EVERY)
@task(queue_name="default")
def scan_inbox_task() -> dict[str, Any] | None:
    """One pass over SHEQU_DRONE_INBOX (nothing when it is not set)."""
    return photos.scan_configured_inbox()


@periodic.every(SCHEDULE_EVERY)
@task(queue_name="default")
def start_scheduled_task() -> dict[str, int]:
    """A PLANNED flight for every routine patrol whose time has come (idempotent)."""
    return missions.start_scheduled()
