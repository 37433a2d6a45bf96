from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnemapConfig(AppConfig):
    name = "shequ.onemap"
    label = "onemap"
    verbose_name = _("一张图")
