"""Background work of the video app (core.periodic, enqueued by `shequ serve`): the offline-alert
sweep every minute and the retention purge of alert media every hour; and, by import, the camera
import's job runner (video.imports)."""

from __future__ import annotations

import datetime as dt

from django.tasks import task

from shequ.core import periodic
from shequ.video import imports  # noqa: F401  (registers the import's job runner)
from shequ.video.services import purge_alert_media, sweep_offline

SWEEP_EVERY = dt.timedelta(minutes=1)
PURGE_EVERY = dt.timedelta(hours=1)


@periodic.every(SWEEP_EVERY)
@task(queue_name="default")
def sweep_offline_task() -> dict[str, int]:
    """One alert per outage of a camera offline for VISION_OFFLINE_ALERT_MINUTES."""
    return sweep_offline()


@periodic.every(PURGE_EVERY)
@task(queue_name="default")
def purge_alert_media_task() -> dict[str, int]:
    """Delete alert snapshots and clips older than VIDEO_RETENTION_DAYS (the alerts stay)."""
    return purge_alert_media()
