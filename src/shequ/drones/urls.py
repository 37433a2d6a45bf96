"""Pages of the drone side under /drones/ (docs/pages.md, "Drones"); included from shequ.web.urls."""

from __future__ import annotations

from django.urls import path

from shequ.drones import views

app_name = "drones"
urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("missions/new/", views.mission_new, name="mission_new"),
    path("missions/import/", views.mission_import, name="mission_import"),
    path("missions/<int:pk>/", views.mission_detail, name="mission"),
    path("missions/<int:pk>/schedule/", views.mission_schedule, name="mission_schedule"),
    path("missions/<int:pk>/route.plan", views.mission_plan_file, name="mission_plan"),
    path("missions/<int:pk>/route.waypoints", views.mission_waypoints_file, name="mission_waypoints"),
    path("flights/<int:pk>/", views.flight_detail, name="flight"),
    path("flights/<int:pk>/track.json", views.flight_track, name="flight_track"),
    path("findings/", views.finding_queue, name="findings"),
    path("findings/<int:pk>/crop.jpg", views.finding_crop, name="finding_crop"),
    path("findings/<int:pk>/<str:act>/", views.finding_act, name="finding_act"),
    path("photos/upload/", views.photo_upload, name="upload"),
    path("photos/<int:pk>/image.jpg", views.photo_image, name="photo_image"),
]
