"""What the vision workers report of each camera (status, latest frame, metrics), the offline
alert, and the retention purge of alert media (docs/video.md "Health" and "Privacy and retention").

- `record_status` changes a camera's status only when it differs, keeping `status_since` (when the
  current status began) and emitting `CameraStatusChanged`; a repeat of the same status is cheap.
- `sweep_offline` (every minute) raises ONE offline alert for a camera that has been offline for
  VISION_OFFLINE_ALERT_MINUTES: its source id names the outage ("offline:<camera>:<since>"), so the
  sweep is idempotent and a later outage gets an alert of its own.
- `purge_alert_media` (hourly) deletes snapshots and clips of alerts older than
  VIDEO_RETENTION_DAYS; the alert rows stay (a case keeps its own blurred copy as evidence).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from shequ.core.audit import audit
from shequ.core.errors import Invalid
from shequ.core.outbox import publish
from shequ.video.events import CameraStatusChanged
from shequ.video.models import Alert, AlertKind, AlertOrigin, Camera, CameraStatus
from shequ.video.services import media
from shequ.video.services.alerts import SYSTEM, raise_alert

log = logging.getLogger(__name__)
REPORTED = frozenset({CameraStatus.ONLINE, CameraStatus.DEGRADED, CameraStatus.OFFLINE})
ERROR_MAX = 300
METRICS_MAX_BYTES = 4096
PURGE_CHUNK = 500


def _camera(camera_id: Any, *, lock: bool = False) -> Camera:
    qs = Camera.objects.select_for_update() if lock else Camera.objects
    camera = qs.filter(pk=camera_id).first() if isinstance(camera_id, int) else None
    if camera is None:
        raise Invalid("摄像头不存在", field="camera")
    return camera


@transaction.atomic
def record_status(camera_id: int, status: str, error: str = "", *, at: dt.datetime | None = None) -> Camera:
    """A worker's word on a camera: online, degraded or offline, with the error text if any."""
    if status not in REPORTED:
        raise Invalid("状态应为 online/degraded/offline 之一", field="status")
    at = at or timezone.now()
    error = str(error or "").replace("\x00", "").strip()[:ERROR_MAX]
    camera = _camera(camera_id, lock=True)
    fields = ["updated_at"]
    previous = camera.status
    if status != previous:
        camera.status, camera.status_since = status, at
        fields += ["status", "status_since"]
    if status == CameraStatus.ONLINE:
        camera.last_frame_at = at
        fields.append("last_frame_at")
        if camera.last_error and status != previous:
            camera.last_error = ""  # back online: the error is history (it is in the audit log)
            fields.append("last_error")
    if error and error != camera.last_error:
        camera.last_error = error
        fields.append("last_error")
    if len(fields) > 1:
        camera.save(update_fields=fields)
    if status != previous:
        audit(
            "video.camera_status",
            actor="vision",
            target=camera,
            code=camera.code,
            status=status,
            previous=previous,
            error=error,
        )
        publish(
            CameraStatusChanged(camera_id=camera.pk, status=status, previous=previous, grid_id=camera.grid_id)
        )
    return camera


def record_metrics(camera_id: int, metrics: dict[str, Any]) -> None:
    """The engine's counters of a camera (frames decoded and analysed, detector time, alerts, last
    error), as its worker last posted them; a small JSON object, replaced whole. Not audited: a
    counter is not a change anyone made."""
    if not isinstance(metrics, dict):
        raise Invalid("运行指标应为 JSON 对象", field="metrics")
    try:
        size = len(json.dumps(metrics, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        raise Invalid("运行指标含有无法保存的值", field="metrics") from None
    if size > METRICS_MAX_BYTES:
        raise Invalid("运行指标过大", field="metrics")
    if not Camera.objects.filter(pk=camera_id).update(metrics=metrics):
        raise Invalid("摄像头不存在", field="camera")


def latest_name(camera: Camera) -> str:
    return f"video/latest/{camera.pk}.jpg"


def store_latest_snapshot(camera_id: int, jpeg: bytes) -> Camera:
    """Keep a camera's latest frame under one name per camera (overwritten: the wall shows the
    last one only, and the disk holds one frame per camera). Not audited: a frame is no change."""
    camera = _camera(camera_id)
    shot = media.check_snapshot(jpeg)
    name = latest_name(camera)
    # The storage API has no "replace": delete, then save under the same name. A reader between the
    # two finds no frame for a moment (the wall asks again); two writers at once would leave a
    # second name, which the next frame's delete does not reach: each camera has one worker.
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(shot.data))
    now = timezone.now()
    Camera.objects.filter(pk=camera.pk).update(latest_snapshot=saved, last_frame_at=now)
    camera.latest_snapshot.name, camera.last_frame_at = saved, now
    return camera


def offline_after() -> dt.timedelta:
    return dt.timedelta(minutes=int(settings.VISION_OFFLINE_ALERT_MINUTES))


def sweep_offline(now: dt.datetime | None = None) -> dict[str, int]:
    """Raise the offline alert of every camera offline for VISION_OFFLINE_ALERT_MINUTES that has
    none for this outage yet. Idempotent (the alert's source id names the outage)."""
    now = now or timezone.now()
    minutes = int(settings.VISION_OFFLINE_ALERT_MINUTES)
    alerted = Alert.objects.filter(
        camera_id=OuterRef("pk"),
        origin=AlertOrigin.HEALTH,
        kind=AlertKind.OFFLINE,
        detected_at__gte=OuterRef("status_since"),
    )
    due = (
        Camera.objects.filter(status=CameraStatus.OFFLINE, status_since__lte=now - offline_after())
        .filter(~Exists(alerted))
        .order_by("pk")
    )
    raised = 0
    for camera in due:
        since = camera.status_since
        assert since is not None
        error = f": {camera.last_error}" if camera.last_error else ""
        _alert, created = raise_alert(
            camera,
            origin=AlertOrigin.HEALTH,
            source_id=f"offline:{camera.pk}:{since.isoformat()}",
            kind=AlertKind.OFFLINE,
            detected_at=since,
            description=f"摄像头离线已超过 {minutes} 分钟{error}"[:300],
        )
        raised += int(created)
    return {"raised": raised}


def retention_days() -> int:
    return int(settings.VIDEO_RETENTION_DAYS)


def purge_alert_media(now: dt.datetime | None = None) -> dict[str, int]:
    """Delete the snapshots and clips of alerts detected more than VIDEO_RETENTION_DAYS ago, in
    chunks; the alerts stay, without their media. Idempotent."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=retention_days())
    has_media = ~Q(snapshot="") | ~Q(clip="") | ~Q(snapshot_blurred="")
    alerts = files = 0
    while True:
        rows = list(
            Alert.objects.filter(has_media, detected_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", "snapshot", "clip", "snapshot_blurred")[:PURGE_CHUNK]
        )
        if not rows:
            break
        for _pk, *names in rows:
            for name in names:
                if name:
                    default_storage.delete(name)
                    files += 1
        Alert.objects.filter(pk__in=[r[0] for r in rows]).update(
            snapshot="", clip="", snapshot_blurred="", updated_at=now
        )
        alerts += len(rows)
    if alerts:
        with transaction.atomic():
            audit(
                "video.media_purged",
                actor=SYSTEM,
                alerts=alerts,
                files=files,
                days=retention_days(),
            )
    return {"alerts": alerts, "files": files}
