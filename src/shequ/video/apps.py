from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VideoConfig(AppConfig):
    name = "shequ.video"
    label = "video"
    verbose_name = _("视频监控")

    def ready(self) -> None:
        # Register the event types, so that a replaying process can load "video.*" rows.
        from shequ.video import events  # noqa: F401
