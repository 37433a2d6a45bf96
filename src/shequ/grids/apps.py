from django.apps import AppConfig


class GridsConfig(AppConfig):
    name = "shequ.grids"
    label = "grids"
