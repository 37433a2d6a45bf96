from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnemapConfig(AppConfig):
    name = "shequ.onemap"
    label = "onemap"
    verbose_name = _("一张图")

    def ready(self) -> None:
        # Imported for what they register: the cache's event handler, the tile settings' check.
        from shequ.onemap import handlers, tiles  # noqa: F401
