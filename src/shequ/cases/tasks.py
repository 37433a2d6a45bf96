"""Background work of the case loop: the deadline sweep, every few minutes (core.periodic, enqueued
by `shequ serve`); `shequ sweep-deadlines` runs it by hand."""

from __future__ import annotations

import datetime as dt

from django.tasks import task

from shequ.cases.services.deadlines import sweep_deadlines
from shequ.core import periodic

# Warnings and overdue marks are at most this late; the sweep is idempotent and cheap when nothing
# changed (one indexed query).
SWEEP_EVERY = dt.timedelta(minutes=5)


@periodic.every(SWEEP_EVERY)
@task(queue_name="default")
def sweep_deadlines_task() -> dict[str, int]:
    """Warn, mark overdue and supervise the cases past their time limits (services.deadlines)."""
    return sweep_deadlines()
