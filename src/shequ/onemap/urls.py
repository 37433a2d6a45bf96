"""Pages of onemap (docs/pages.md); included from shequ.web.urls under /onemap/."""

from django.urls import path

from shequ.onemap import screen

app_name = "onemap"
urlpatterns: list = [
    path("screen/", screen.screen, name="screen"),
    path("screen/data/", screen.screen_data, name="screen_data"),
]
