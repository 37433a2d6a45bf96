"""The drones REST API under /api/drones/ (docs/api.md, "Drones"): the fleet and flights, missions,
photos and findings, each in its own module."""

from __future__ import annotations

from shequ.drones import api_fleet, api_media, api_missions

urlpatterns = [*api_fleet.urlpatterns, *api_missions.urlpatterns, *api_media.urlpatterns]
