from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VideoConfig(AppConfig):
    name = "shequ.video"
    label = "video"
    verbose_name = _("视频监控")

    def ready(self) -> None:
        # Register the event types, so that a replaying process can load "video.*" rows, and the
        # periodic tasks and the import's job runner, so that a task worker finds them.
        from shequ.video import events, tasks  # noqa: F401
