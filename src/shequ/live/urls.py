"""Pages of live (docs/pages.md); included from shequ.web.urls under /live/."""

from django.urls import path

from shequ.live import views

app_name = "live"
urlpatterns = [
    path("feed/", views.feed, name="feed"),
]
