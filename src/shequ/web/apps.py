from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "shequ.web"
    label = "web"
