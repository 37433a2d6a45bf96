"""Drones API: missions (mounted by shequ.drones.api under /api/drones/; docs/api.md, "Drones")."""

from __future__ import annotations

from typing import Any

urlpatterns: list[Any] = []
