"""The REST API, /api/: each app's endpoints mounted under its name (docs/api.md), and its OpenAPI 3
description with a browsable page served from local files (no CDN)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from shequ.accounts import api as accounts_api
from shequ.analytics import api as analytics_api
from shequ.cases import api as cases_api
from shequ.command import api as command_api
from shequ.core import api_views as core_api
from shequ.drones import api as drones_api
from shequ.grids import api as grids_api
from shequ.live import api as live_api
from shequ.onemap import api as onemap_api
from shequ.registry import api as registry_api
from shequ.units import api as units_api
from shequ.video import api as video_api

urlpatterns = [
    path("registry/", include(registry_api.urlpatterns)),
    path("grids/", include(grids_api.urlpatterns)),
    path("accounts/", include(accounts_api.urlpatterns)),
    path("jobs/", include(core_api.urlpatterns)),
    path("cases/", include(cases_api.urlpatterns)),
    path("measures/", include(analytics_api.urlpatterns)),
    path("command/", include(command_api.urlpatterns)),
    path("units/", include(units_api.urlpatterns)),
    path("live/", include(live_api.urlpatterns)),
    path("onemap/", include(onemap_api.urlpatterns)),
    path("video/", include(video_api.urlpatterns)),
    path("drones/", include(drones_api.urlpatterns)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
