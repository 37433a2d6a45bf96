"""REST API of units (docs/api.md), mounted under /api/units/."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
