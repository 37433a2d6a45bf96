from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UnitsConfig(AppConfig):
    name = "shequ.units"
    label = "units"
    verbose_name = _("力量与位置")

    def ready(self) -> None:
        # Register the event type, so that a replaying process can load "units.position" rows.
        from shequ.units import events  # noqa: F401
