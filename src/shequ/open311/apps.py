from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


class Open311Config(AppConfig):
    name = "shequ.open311"
    label = "open311"
    verbose_name = _("Open311 接口")

    def ready(self) -> None:
        # Fail fast on a misspelt source: a typo would silently publish nothing.
        from django.conf import settings

        from shequ.cases.models import Source

        unknown = sorted(set(settings.OPEN311_PUBLIC_SOURCES) - set(Source.values))
        if unknown:
            raise ImproperlyConfigured(
                f"SHEQU_OPEN311_PUBLIC_SOURCES names unknown sources {', '.join(unknown)}; "
                f"known: {', '.join(Source.values)}"
            )
