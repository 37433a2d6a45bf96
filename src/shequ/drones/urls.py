"""Pages of the drone side under /drones/ (docs/pages.md, "Drones"); included from shequ.web.urls."""

from __future__ import annotations

from typing import Any

app_name = "drones"
urlpatterns: list[Any] = []
