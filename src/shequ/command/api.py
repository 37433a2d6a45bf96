"""REST API of command (docs/api.md), mounted under /api/command/."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
