"""REST API of onemap (docs/api.md), mounted under /api/onemap/."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
