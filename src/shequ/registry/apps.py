from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "shequ.registry"
    label = "registry"

    def ready(self) -> None:
        from shequ.registry import handlers  # noqa: F401 - registers event handlers
