"""The REST API, /api/: each app's router mounted under its name."""

from django.urls import path

urlpatterns: list = []
