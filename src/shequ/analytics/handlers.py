"""What analytics does when the case loop's events arrive: keep the rollups fresh."""

from __future__ import annotations

from shequ.analytics.rollups import CHUNK, refresh_cases
from shequ.cases.events import CaseDeadline, CaseTransitioned
from shequ.core.models import Event
from shequ.core.outbox import handles_batch


@handles_batch(CaseTransitioned, CaseDeadline)
def roll_up_cases(events: list[CaseTransitioned | CaseDeadline], rows: list[Event]) -> None:
    """Cases changed (transitions, or the deadline sweep marked them overdue or supervised): move
    their counts in the rollups, once per case however many events it had. Idempotent, so a
    replay changes nothing."""
    ids = sorted({event.case_id for event in events})
    for i in range(0, len(ids), CHUNK):
        refresh_cases(ids[i : i + CHUNK])
