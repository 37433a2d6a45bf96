from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "shequ.registry"
    label = "registry"

    def ready(self) -> None:
        # Imported for what they register: event handlers, and the import job's runner.
        from shequ.registry import handlers, tasks  # noqa: F401
