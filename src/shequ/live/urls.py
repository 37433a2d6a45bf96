"""Pages of live (docs/pages.md); included from shequ.web.urls under /live/."""

from django.urls import path  # noqa: F401

app_name = "live"
urlpatterns: list = []
