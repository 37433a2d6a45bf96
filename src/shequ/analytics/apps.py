from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "shequ.analytics"
    label = "analytics"
    verbose_name = _("统计分析")

    def ready(self) -> None:
        # Imported for what they register: the handler that keeps the rollups fresh, and the task.
        from shequ.analytics import handlers, tasks  # noqa: F401
