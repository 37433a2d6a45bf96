"""Pages of command (docs/pages.md); included from shequ.web.urls under /command/."""

from django.urls import path  # noqa: F401

app_name = "command"
urlpatterns: list = []
