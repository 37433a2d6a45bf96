"""Pages of onemap (docs/pages.md); included from shequ.web.urls under /onemap/."""

from django.urls import path  # noqa: F401

app_name = "onemap"
urlpatterns: list = []
