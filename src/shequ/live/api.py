"""REST API of live (docs/api.md), mounted under /api/live/."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
