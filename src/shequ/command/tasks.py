"""Background work of instructions: the escalation sweep, every minute (core.periodic, enqueued by
`shequ serve`); `shequ sweep-instructions` runs it by hand."""

from __future__ import annotations

import datetime as dt

from django.tasks import task

from shequ.command.services import sweep_instructions
from shequ.core import periodic

# Acknowledgement limits are minutes long (5 for 特急): an escalation is at most this late. The
# sweep is idempotent and one indexed query when nothing is late.
SWEEP_EVERY = dt.timedelta(minutes=1)


@periodic.every(SWEEP_EVERY)
@task(queue_name="default")
def sweep_instructions_task() -> dict[str, int]:
    """Escalate the instructions left unacknowledged past their limit (services.sweep_instructions)."""
    return sweep_instructions()
