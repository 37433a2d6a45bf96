"""Pages of onemap (docs/pages.md); included from shequ.web.urls under /onemap/."""

from django.urls import path

from shequ.onemap import screen, views

app_name = "onemap"
urlpatterns: list = [
    path("", views.onemap, name="map"),
    path("basemap.pmtiles", views.basemap_file, name="basemap"),
    path("screen/", screen.screen, name="screen"),
    path("screen/data/", screen.screen_data, name="screen_data"),
]
