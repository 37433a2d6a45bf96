"""/open311/: discovery, and GeoReport v2 under /open311/v2/ (docs/open311.md). Each method ends
in .xml or .json; anything else under /open311/ is the spec's 404 error, not an HTML page."""

from django.urls import re_path

from shequ.open311 import api

FMT = r"\.(?P<fmt>xml|json)"

app_name = "open311"
urlpatterns = [
    re_path(rf"^discovery{FMT}$", api.discovery, name="discovery"),
    re_path(rf"^v2/discovery{FMT}$", api.discovery, name="discovery-v2"),
    re_path(rf"^v2/services{FMT}$", api.service_list, name="services"),
    re_path(rf"^v2/services/(?P<code>[^/]+?){FMT}$", api.service_definition, name="service"),
    re_path(rf"^v2/requests{FMT}$", api.requests, name="requests"),
    re_path(rf"^v2/requests/(?P<number>[^/]+?){FMT}$", api.one_request, name="request"),
    re_path(rf"^v2/tokens/(?P<token>[^/]+?){FMT}$", api.token, name="token"),
    re_path(rf"^v2/servicerequestupdates{FMT}$", api.updates, name="updates"),
    re_path(r"^(?P<path>.*?)(?:\.(?P<fmt>xml|json))?$", api.unknown, name="unknown"),
]
