"""Background work of analytics: rebuilding the rollups (`shequ rollups --rebuild` runs it inline)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.tasks import task

from shequ.analytics.rollups import rebuild_rollups


@task(queue_name="default")
def rebuild_rollups_task(since: str | None = None) -> dict[str, Any]:
    """Recompute the rollups: all (`since` None) or the cases changed since an ISO date."""
    return rebuild_rollups(dt.date.fromisoformat(since) if since else None)
