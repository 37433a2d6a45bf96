"""Pages of units (docs/pages.md); included from shequ.web.urls under /units/."""

from django.urls import path  # noqa: F401

app_name = "units"
urlpatterns: list = []
