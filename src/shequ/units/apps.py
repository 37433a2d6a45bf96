from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UnitsConfig(AppConfig):
    name = "shequ.units"
    label = "units"
    verbose_name = _("力量与位置")
