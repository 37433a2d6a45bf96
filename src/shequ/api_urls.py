"""The REST API, /api/: each app's endpoints mounted under its name (docs/api.md)."""

from django.urls import include, path

from shequ.accounts import api as accounts_api
from shequ.core import api_views as core_api
from shequ.grids import api as grids_api
from shequ.registry import api as registry_api

urlpatterns = [
    path("registry/", include(registry_api.urlpatterns)),
    path("grids/", include(grids_api.urlpatterns)),
    path("accounts/", include(accounts_api.urlpatterns)),
    path("jobs/", include(core_api.urlpatterns)),
]
