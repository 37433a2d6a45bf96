"""Pages of units (docs/pages.md); included from shequ.web.urls under /units/."""

from django.urls import path

from shequ.units import views

app_name = "units"
urlpatterns = [
    path("duty/", views.duty, name="duty"),
]
