from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DronesConfig(AppConfig):
    name = "shequ.drones"
    label = "drones"
    verbose_name = _("无人机巡查")

    def ready(self) -> None:
        # Register the event types (so a replaying process can load "drones.*" rows) and the
        # periodic tasks and job runners (so a task worker finds them).
        from shequ.drones import events, tasks  # noqa: F401
