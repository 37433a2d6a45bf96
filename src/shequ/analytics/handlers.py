"""What analytics does when the case loop's events arrive: keep the rollups fresh."""

from __future__ import annotations

from shequ.analytics.rollups import refresh_cases
from shequ.cases.events import CaseDeadline, CaseTransitioned
from shequ.core.models import Event
from shequ.core.outbox import handles


@handles(CaseTransitioned, CaseDeadline)
def roll_up_case(event: CaseTransitioned | CaseDeadline, row: Event) -> None:
    """A case changed (a transition, or the deadline sweep marked it overdue or supervised): move
    its counts in the rollups. A few small queries; idempotent, so a replay changes nothing."""
    refresh_cases([event.case_id])
