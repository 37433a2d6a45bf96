"""Every write of the video app (docs/video.md): the camera register, the analytics settings, what
the vision workers report, alerts and the path from an alert to a case, imports and retention.

One module per subject; the names others call are all here.
"""

from shequ.video.services.alerts import (
    DEFAULT_CATEGORY,
    blurred_snapshot,
    category_for,
    confirm_alert,
    dismiss_alert,
    raise_alert,
    resolve_category,
)
from shequ.video.services.cameras import (
    Refused,
    check_analytics,
    import_cameras,
    register_camera,
    set_analytics,
    update_camera,
)
from shequ.video.services.health import (
    purge_alert_media,
    record_metrics,
    record_status,
    store_latest_snapshot,
    sweep_offline,
)

__all__ = [
    "DEFAULT_CATEGORY",
    "Refused",
    "blurred_snapshot",
    "category_for",
    "check_analytics",
    "confirm_alert",
    "dismiss_alert",
    "import_cameras",
    "purge_alert_media",
    "raise_alert",
    "record_metrics",
    "record_status",
    "register_camera",
    "resolve_category",
    "set_analytics",
    "store_latest_snapshot",
    "sweep_offline",
    "update_camera",
]
